package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/fleet"
	"github.com/cloudphone/media-service/internal/chromium"
	"github.com/cloudphone/media-service/internal/piontest"
	"github.com/cloudphone/media-service/test/fleet/lab"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The fleet's tests: a real API server, instances of the service as
// processes, simulated devices, the kubelet and endpoint stand-ins and the
// proxy of package lab. Times are measured and logged; the bounds the
// tests wait for are generous (a loaded machine is slow), never a
// pass/fail threshold of speed.

// fleetLease is the instances' LEASE_DURATION in these tests.
const fleetLease = 6 * time.Second

// fleetEnv are the instances' settings beyond the lab's: one quality
// rung, so that each device has exactly one capture; no per-user bound
// (every session of the tests is one user's).
var fleetEnv = []string{"VIDEO_RUNGS=1", "MAX_SESSIONS_PER_USER=10000"}

// session is one viewer's session, made through some URL.
type session struct {
	id     string
	owner  string // X-Media-Instance of the answer
	viewer *piontest.Viewer
}

// openSession makes a session of device at base (the proxy or an
// instance) with a Pion viewer; it returns the HTTP status and, on 201,
// the session.
func openSession(t testing.TB, l *lab.Lab, base, device string) (int, *session, string) {
	t.Helper()
	v, offer := piontest.New(t, piontest.Options{})
	body, _ := json.Marshal(map[string]string{"deviceId": device, "userId": "fleet-test", "offer": offer})
	req, _ := http.NewRequest("POST", base+"/api/media/sessions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+l.Token())
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s/api/media/sessions: %v", base, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, nil, string(data)
	}
	var created struct{ SessionID, Answer string }
	if err := json.Unmarshal(data, &created); err != nil {
		t.Fatal(err)
	}
	v.Answer(t, created.Answer)
	return resp.StatusCode, &session{id: created.SessionID, owner: resp.Header.Get("X-Media-Instance"), viewer: v}, ""
}

// mustOpen is openSession that fails the test on anything but 201.
func mustOpen(t testing.TB, l *lab.Lab, base, device string) *session {
	t.Helper()
	status, s, body := openSession(t, l, base, device)
	if s == nil {
		t.Fatalf("session of %s at %s: %d %s", device, base, status, body)
	}
	return s
}

// apiCall sends an authenticated request and returns the status and body.
func apiCall(t testing.TB, l *lab.Lab, method, url string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+l.Token())
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// plays waits until the viewer has frames, more than it had.
func plays(t testing.TB, what string, v *piontest.Viewer) {
	t.Helper()
	from := v.Frames()
	labWaitFor(t, what+" plays", 30*time.Second, func() bool { return v.Frames() > from+5 })
}

// holders returns each device's Lease holder.
func holders(t testing.TB, l *lab.Lab) map[string]string {
	t.Helper()
	list, err := l.Client().CoordinationV1().Leases(l.Namespace()).List(context.Background(), metav1.ListOptions{LabelSelector: fleet.LabelKind + "=device"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, lease := range list.Items {
		if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
			out[lease.Annotations[fleet.AnnotationDevice]] = *h
		}
	}
	return out
}

// captures returns the devices with other than one screenrecord running,
// among those listed.
func captures(l *lab.Lab, ids ...string) map[string]int {
	out := map[string]int{}
	for _, id := range ids {
		if n := l.Device(id).ScreenrecordStreams(); n != 1 {
			out[id] = n
		}
	}
	return out
}

// closeAll ends the sessions through the proxy and waits until no device
// runs anywhere (their Leases released after the linger).
func closeAll(t *testing.T, l *lab.Lab, sessions []*session) {
	t.Helper()
	for _, s := range sessions {
		if status, body := apiCall(t, l, "DELETE", l.ProxyURL()+"/api/media/sessions/"+s.id); status != http.StatusNoContent {
			t.Errorf("DELETE %s through the proxy: %d %s", s.id, status, body)
		}
	}
	labWaitFor(t, "every device released", 60*time.Second, func() bool { return len(holders(t, l)) == 0 })
	for _, d := range l.Devices() {
		labWaitFor(t, d.ID+"'s capture stopped", 30*time.Second, func() bool { return d.ScreenrecordStreams() == 0 })
	}
}

// TestFleet: three instances, six devices. Sessions opened at the proxy
// or at any instance play, on the device's one owner, with one capture per
// device; two instances racing for a device never both capture it; the
// devices list spans the fleet; a SIGTERM hands idle devices over at once
// and keeps the viewers; a fourth instance takes the devices placement
// gives it.
func TestFleet(t *testing.T) {
	l := startLab(t, lab.Config{Instances: 3, Devices: 6, LeaseDuration: fleetLease, DrainTimeout: 20 * time.Second, Env: fleetEnv})
	t.Run("anywhere", func(t *testing.T) { testAnywhere(t, l) })
	if t.Failed() {
		return
	}
	t.Run("race", func(t *testing.T) { testRace50(t, l) })
	if t.Failed() {
		return
	}
	t.Run("drain", func(t *testing.T) { testDrain(t, l) })
	if t.Failed() {
		return
	}
	t.Run("fourth", func(t *testing.T) { testFourth(t, l) })
}

// testAnywhere opens a session of each device, at the proxy or at each
// instance in turn.
func testAnywhere(t *testing.T, l *lab.Lab) {
	ids := l.DeviceIDs()
	bases := []string{l.ProxyURL(), l.Instance(1).URL(), l.Instance(2).URL(), l.Instance(3).URL()}
	var sessions []*session
	for i, id := range ids {
		start := time.Now()
		s := mustOpen(t, l, bases[i%len(bases)], id)
		plays(t, id, s.viewer)
		t.Logf("%s: session made at %s, served by %s, playing %v after the request", id, bases[i%len(bases)], s.owner, time.Since(start).Round(time.Millisecond))
		sessions = append(sessions, s)
	}
	owners := holders(t, l)
	perInstance := map[string]int{}
	for i, id := range ids {
		s := sessions[i]
		if owners[id] == "" || owners[id] != s.owner {
			t.Errorf("%s: Lease held by %q, the session served by %q", id, owners[id], s.owner)
		}
		if !strings.HasPrefix(s.id, fleet.MemberTag(s.owner)+"_") {
			t.Errorf("%s: session %s does not carry its owner %s's tag", id, s.id, s.owner)
		}
		perInstance[s.owner]++
	}
	t.Logf("devices per instance: %v", perInstance)
	// Each instance's load gauge counts the sessions it serves, over
	// MAX_SESSIONS (1000 by default).
	for _, in := range l.Instances() {
		if got := loadSessions(t, in); got < float64(perInstance[in.Name()])-0.01 || got > float64(perInstance[in.Name()])+0.01 {
			t.Errorf("%s: load_ratio_by_resource{sessions} × MAX_SESSIONS = %v, it serves %d sessions", in.Name(), got, perInstance[in.Name()])
		}
	}
	if bad := captures(l, ids...); len(bad) > 0 {
		t.Errorf("devices with other than one capture: %v", bad)
	}
	// A second viewer of a device, at another instance, joins its one
	// capture.
	second := mustOpen(t, l, l.Instance(1).URL(), ids[1])
	plays(t, "second viewer of "+ids[1], second.viewer)
	if second.owner != sessions[1].owner {
		t.Errorf("second viewer of %s served by %s, the first by %s", ids[1], second.owner, sessions[1].owner)
	}
	if bad := captures(l, ids...); len(bad) > 0 {
		t.Errorf("with a second viewer, devices with other than one capture: %v", bad)
	}
	sessions = append(sessions, second)

	// The devices list spans the fleet, with owners, at any instance.
	status, data := apiCall(t, l, "GET", l.Instance(3).URL()+"/api/media/devices")
	var list struct {
		Devices []struct{ Serial, State, Owner string }
	}
	if err := json.Unmarshal(data, &list); status != http.StatusOK || err != nil {
		t.Fatalf("GET /api/media/devices: %d %s", status, data)
	}
	if len(list.Devices) != len(ids) {
		t.Fatalf("GET /api/media/devices lists %d devices, want %d: %s", len(list.Devices), len(ids), data)
	}
	for _, d := range list.Devices {
		if d.Owner != owners[d.Serial] || d.State != "device" {
			t.Errorf("device %s listed with owner %q state %q, its Lease says %q", d.Serial, d.Owner, d.State, owners[d.Serial])
		}
	}
	// Every session, listed and read at one instance.
	status, data = apiCall(t, l, "GET", l.Instance(2).URL()+"/api/media/sessions")
	var sl struct{ Sessions []struct{ ID string } }
	if err := json.Unmarshal(data, &sl); status != http.StatusOK || err != nil || len(sl.Sessions) != len(sessions) {
		t.Errorf("GET /api/media/sessions at media-2: %d, %d sessions, want %d: %s", status, len(sl.Sessions), len(sessions), data)
	}
	for _, s := range sessions {
		if status, body := apiCall(t, l, "GET", l.Instance(2).URL()+"/api/media/sessions/"+s.id); status != http.StatusOK {
			t.Errorf("GET session %s at media-2: %d %s", s.id, status, body)
		}
	}
	closeAll(t, l, sessions)
	for _, in := range l.Instances() {
		labWaitFor(t, in.Name()+"'s load back to 0", 30*time.Second, func() bool { return loadSessions(t, in) == 0 })
	}
}

// loadSessions reads an instance's media_service_load_ratio_by_resource
// for sessions from its /metrics (loopback clients may), times
// MAX_SESSIONS (1000).
func loadSessions(t testing.TB, in *lab.Instance) float64 {
	t.Helper()
	resp, err := http.Get(in.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	const series = `media_service_load_ratio_by_resource{resource="sessions"} `
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("%s: %q: %v", in.Name(), line, err)
			}
			return f * 1000
		}
	}
	t.Fatalf("%s's /metrics has no %s", in.Name(), strings.TrimSpace(series))
	return 0
}

// testRace50: for 50 devices' worth of rounds, two instances are asked for
// the same idle device at the same moment: both sessions go to one owner,
// and the device has one capture.
func testRace50(t *testing.T, l *lab.Lab) {
	ids := l.DeviceIDs()
	races := 0
	for round := 0; races < 50; round++ {
		a, b := l.Instance(1+round%3), l.Instance(1+(round+1)%3)
		var mu sync.Mutex
		var sessions []*session
		var wg sync.WaitGroup
		for _, id := range ids {
			for _, in := range []*lab.Instance{a, b} {
				wg.Go(func() {
					status, s, body := openSession(t, l, in.URL(), id)
					if s == nil {
						t.Errorf("round %d: session of %s at %s: %d %s", round, id, in.Name(), status, body)
						return
					}
					mu.Lock()
					sessions = append(sessions, s)
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		for _, s := range sessions {
			plays(t, s.id, s.viewer)
		}
		owners := holders(t, l)
		for _, id := range ids {
			if bad := captures(l, id); len(bad) > 0 {
				t.Errorf("round %d: %s has %d captures (owner %s)", round, id, bad[id], owners[id])
			}
		}
		// Both sessions of a device are on its Lease's holder.
		for _, s := range sessions {
			var info struct{ DeviceID string }
			status, data := apiCall(t, l, "GET", l.ProxyURL()+"/api/media/sessions/"+s.id)
			if err := json.Unmarshal(data, &info); status != http.StatusOK || err != nil {
				t.Fatalf("GET %s: %d %s", s.id, status, data)
			}
			if owners[info.DeviceID] != s.owner {
				t.Errorf("round %d: a session of %s served by %s, its Lease held by %s", round, info.DeviceID, s.owner, owners[info.DeviceID])
			}
		}
		races += len(ids)
		closeAll(t, l, sessions)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d races, each device captured once", races)
}

// testDrain: SIGTERM of an instance that runs a watched device and an
// idle one (lingering): the idle one is released at once, the viewer keeps
// playing until it leaves, and the device then moves on its next session.
func testDrain(t *testing.T, l *lab.Lab) {
	victim := l.Instance(3)
	// Find a watched and an idle device on media-3: open sessions until
	// two devices run there.
	var mine []string
	var sessions []*session
	for _, id := range l.DeviceIDs() {
		s := mustOpen(t, l, l.ProxyURL(), id)
		sessions = append(sessions, s)
		if s.owner == victim.Name() {
			mine = append(mine, id)
		}
	}
	if len(mine) < 2 {
		t.Skipf("placement put %d devices on %s; the drain case needs 2", len(mine), victim.Name())
	}
	watched, idle := mine[0], mine[1]
	var keep *session
	for _, s := range sessions {
		plays(t, s.id, s.viewer)
	}
	for _, s := range sessions {
		var info struct{ DeviceID string }
		_, data := apiCall(t, l, "GET", l.ProxyURL()+"/api/media/sessions/"+s.id)
		_ = json.Unmarshal(data, &info)
		if info.DeviceID == watched {
			keep = s
			continue
		}
		if status, _ := apiCall(t, l, "DELETE", l.ProxyURL()+"/api/media/sessions/"+s.id); status != http.StatusNoContent {
			t.Fatalf("DELETE %s: %d", s.id, status)
		}
	}
	if keep == nil {
		t.Fatal("no session of the watched device")
	}
	// The idle device lingers on media-3 (5 s): SIGTERM now.
	if h := holders(t, l)[idle]; h != victim.Name() {
		t.Fatalf("%s held by %q before the drain, want %s", idle, h, victim.Name())
	}
	term := time.Now()
	done := make(chan error, 1)
	go func() { done <- victim.Term(0) }()
	labWaitFor(t, idle+" released by the draining instance", 30*time.Second, func() bool { return holders(t, l)[idle] != victim.Name() })
	t.Logf("idle device %s released %v after SIGTERM", idle, time.Since(term).Round(time.Millisecond))
	// The watched one stays, and plays.
	plays(t, "the draining instance's viewer", keep.viewer)
	time.Sleep(2 * time.Second)
	plays(t, "the draining instance's viewer, later", keep.viewer)
	if h := holders(t, l)[watched]; h != victim.Name() {
		t.Errorf("%s moved while watched during the drain: held by %q", watched, h)
	}
	// Its idle device opens on another instance at once.
	s := mustOpen(t, l, l.ProxyURL(), idle)
	plays(t, idle+" on its new owner", s.viewer)
	if s.owner == victim.Name() || s.owner == "" {
		t.Errorf("%s served by %q during the drain", idle, s.owner)
	}
	// The viewer leaves: the instance ends its drain and exits.
	if status, _ := apiCall(t, l, "DELETE", l.ProxyURL()+"/api/media/sessions/"+keep.id); status != http.StatusNoContent {
		t.Errorf("DELETE the draining instance's session through the proxy: %d", status)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the draining instance did not exit after its last viewer left")
	}
	t.Logf("%s exited %v after SIGTERM", victim.Name(), time.Since(term).Round(time.Millisecond))
	if h := holders(t, l)[watched]; h == victim.Name() {
		t.Errorf("%s still held by the instance that exited", watched)
	}
	closeAll(t, l, []*session{s})
}

// testFourth: a fourth instance joins and takes the devices rendezvous
// placement gives it among the ready members.
func testFourth(t *testing.T, l *lab.Lab) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in, err := l.AddInstance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitReady(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitPoll(ctx); err != nil {
		t.Fatal(err)
	}
	var members []fleet.Member
	for _, m := range l.Instances() {
		if m.Running() && m.Ready() {
			members = append(members, fleet.Member{Name: m.Name()})
		}
	}
	// The members' Leases must be seen by every instance: a few renewals.
	time.Sleep(fleetLease / 2)
	var sessions []*session
	got := 0
	for _, id := range l.DeviceIDs() {
		want, _ := fleet.Place(id, members, false)
		s := mustOpen(t, l, l.ProxyURL(), id)
		plays(t, id, s.viewer)
		sessions = append(sessions, s)
		if s.owner != want.Name {
			t.Errorf("%s served by %s, placement says %s (members %v)", id, s.owner, want.Name, members)
		}
		if s.owner == in.Name() {
			got++
		}
	}
	t.Logf("%s took %d of %d devices", in.Name(), got, len(sessions))
	closeAll(t, l, sessions)
}

// TestFailover: a Chromium viewer plays a device through the proxy; its
// owner is killed (SIGKILL); the page reconnects by itself and plays
// again, the device now on another instance, once the dead owner's Lease
// has expired.
func TestFailover(t *testing.T) {
	l := startLab(t, lab.Config{Instances: 3, Devices: 2, Env: fleetEnv}) // LEASE_DURATION at its default, 10 s
	gaps := failover(t, l, "phone-1")
	t.Logf("failover: frames again %v after the SIGKILL (LEASE_DURATION 10s)", gaps)
}

// failover runs one kill and returns the gap in frames.
func failover(t *testing.T, l *lab.Lab, device string) time.Duration {
	t.Helper()
	b := chromium.Launch(t)
	if err := b.Navigate(fmt.Sprintf("%s/?device=%s&token=%s", l.ProxyURL(), device, l.Token())); err != nil {
		t.Fatal(err)
	}
	type state struct {
		Frames     int    `json:"frames"`
		Reconnects int    `json:"reconnects"`
		Session    string `json:"session"`
	}
	read := func() state {
		var s state
		if err := b.Eval(`window.viewer ? {frames: viewer.framesDecoded, reconnects: viewer.reconnects, session: viewer.session || ""} : {}`, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	labWaitFor(t, "the page plays", 60*time.Second, func() bool { return read().Frames > 10 })
	owner := holders(t, l)[device]
	victim := l.InstanceNamed(owner)
	if victim == nil {
		t.Fatalf("%s held by %q, no instance of the lab", device, owner)
	}
	before := read()
	killed := time.Now()
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	var back time.Duration
	labWaitFor(t, "the page plays again after the owner's SIGKILL", 90*time.Second, func() bool {
		s := read()
		if s.Reconnects > before.Reconnects && s.Frames > before.Frames+5 && s.Session != before.Session {
			back = time.Since(killed)
			return true
		}
		return false
	})
	now := holders(t, l)[device]
	if now == "" || now == owner {
		t.Errorf("%s held by %q after the failover, want another instance than %s", device, now, owner)
	}
	if n := l.Device(device).ScreenrecordStreams(); n != 1 {
		t.Errorf("%s has %d captures after the failover", device, n)
	}
	return back
}

// TestFleetPerNode: with FLEET_PLACEMENT=node (the per-node shape), a
// device runs on the instance of its pod's node, wherever the request
// arrives; a device on a node with no instance is refused with 503.
func TestFleetPerNode(t *testing.T) {
	l := startLab(t, lab.Config{Instances: 2, Devices: 3, Nodes: 3, LeaseDuration: fleetLease,
		Env: append([]string{"FLEET_PLACEMENT=node"}, fleetEnv...)})
	var sessions []*session
	for i, d := range l.Devices() {
		var want string
		for _, in := range l.Instances() {
			if in.Node() == d.Node {
				want = in.Name()
			}
		}
		base := l.Instance(1 + i%2).URL()
		status, s, body := openSession(t, l, base, d.ID)
		if want == "" {
			if status != http.StatusServiceUnavailable || !strings.Contains(body, "FLEET_PLACEMENT=node") {
				t.Errorf("%s on %s, a node with no instance: %d %s, want 503 naming FLEET_PLACEMENT=node", d.ID, d.Node, status, body)
			}
			continue
		}
		if s == nil {
			t.Fatalf("%s at %s: %d %s", d.ID, base, status, body)
		}
		plays(t, d.ID, s.viewer)
		if s.owner != want {
			t.Errorf("%s on %s served by %s, want %s (its node's)", d.ID, d.Node, s.owner, want)
		}
		sessions = append(sessions, s)
	}
	closeAll(t, l, sessions)
}
