package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/rtc"
)

// drainRig is the service over one device, with a drain channel and one
// viewer.
type drainRig struct {
	svc   *running
	drain chan struct{}
	sim   *devicesim.Device
	v     *viewer
}

func newDrainRig(t *testing.T, timeout string) *drainRig {
	t.Helper()
	testutil.Deadline(t, 3*time.Minute)
	srv := adbtest.Start(t)
	sim := simtest.Device(t, srv, simOptions)
	r := &drainRig{drain: make(chan struct{}), sim: sim}
	r.svc = runService(t, srv.Addr(), map[string]string{"DRAIN_TIMEOUT": timeout}, r.drain)
	if code, body := r.svc.call(t, "GET", "/ready", ""); code != http.StatusOK {
		t.Fatalf("/ready before the drain: %d %s", code, body)
	}
	r.v = watch(t, r.svc, sim.Addr())
	return r
}

// startDrain starts the drain and checks that the service refuses new
// sessions while the running one keeps receiving.
func (r *drainRig) startDrain(t *testing.T) {
	t.Helper()
	close(r.drain)
	testutil.Eventually(t, "/ready to answer 503", testutil.Generous, func() bool {
		code, _ := r.svc.call(t, "GET", "/ready", "")
		return code == http.StatusServiceUnavailable
	})
	_, offer := newPeer(t)
	body, _ := json.Marshal(map[string]string{"deviceId": r.sim.Addr(), "userId": "late", "offer": offer})
	if code, resp := r.svc.call(t, "POST", "/api/media/sessions", string(body)); code != http.StatusServiceUnavailable || !strings.Contains(resp, "draining") {
		t.Fatalf("a new session while draining: %d %s; want 503 saying it drains", code, resp)
	}
	n := r.v.count()
	testutil.Eventually(t, "the running session to keep receiving", testutil.Generous, func() bool { return r.v.count() >= n+20 })
	select {
	case err := <-r.svc.done:
		t.Fatalf("Run returned while a session ran (%v)", err)
	default:
	}
}

// ended waits for Run to return by itself.
func (r *drainRig) ended(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.svc.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		r.svc.done <- nil // for the cleanup's stop
	case <-time.After(2 * testutil.Generous):
		t.Fatal("Run did not return after the drain")
	}
}

// TestDrainEndsWithTheLastSession: once draining, /ready and new sessions
// answer 503, the running session keeps its packets, and Run returns when
// it has been deleted.
func TestDrainEndsWithTheLastSession(t *testing.T) {
	r := newDrainRig(t, "1h")
	r.startDrain(t)
	if code, body := r.svc.call(t, "DELETE", "/api/media/sessions/"+r.v.session, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	r.ended(t)
	logs := r.svc.logs.String()
	for _, want := range []string{"draining:", "drained: no session left"} {
		if strings.Count(logs, want) != 1 {
			t.Errorf("the logs say %q %d times, want once", want, strings.Count(logs, want))
		}
	}
}

// TestDrainTimeoutClosesSessions: a session still running when
// DRAIN_TIMEOUT passes is closed, and Run returns.
func TestDrainTimeoutClosesSessions(t *testing.T) {
	r := newDrainRig(t, "2s")
	r.startDrain(t)
	r.ended(t)
	if !strings.Contains(r.svc.logs.String(), "drain timeout passed") {
		t.Error("the logs do not say the drain timed out")
	}
	testutil.Eventually(t, "the viewer to see its session end", testutil.Generous, func() bool {
		switch r.v.PC.ConnectionState() {
		case webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateDisconnected:
			return true
		}
		return false
	})
	t.Logf("the viewer's connection: %v", r.v.PC.ConnectionState())
}

// TestDrainCutShort: Run's context ending during a drain stops at once
// (a second SIGTERM, or SIGINT).
func TestDrainCutShort(t *testing.T) {
	r := newDrainRig(t, "1h")
	r.startDrain(t)
	if err := r.svc.stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.svc.logs.String(), "drain cut short") {
		t.Error("the logs do not say the drain was cut short")
	}
}

// TestDrainWithoutSessions: a drain with no session running ends at once.
func TestDrainWithoutSessions(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	srv := adbtest.Start(t)
	drain := make(chan struct{})
	svc := runService(t, srv.Addr(), nil, drain)
	close(drain)
	select {
	case err := <-svc.done:
		if err != nil {
			t.Fatal(err)
		}
		svc.done <- nil
	case <-time.After(testutil.Generous):
		t.Fatal("Run did not return")
	}
}

func TestAdmissionAndWithDrain(t *testing.T) {
	var a admission
	if err := a.Ready(); err != nil {
		t.Fatal(err)
	}
	a.draining.Store(true)
	if err := a.Ready(); !errors.Is(err, ErrDraining) || !errors.Is(err, rtc.ErrUnavailable) || rtc.StatusCode(err) != http.StatusServiceUnavailable {
		t.Fatalf("Ready while draining: %v (status %d)", err, rtc.StatusCode(err))
	}
	ch := make(chan struct{})
	if got := drainOf(WithDrain(context.Background(), ch), Options{}); got != (<-chan struct{})(ch) {
		t.Fatal("drainOf does not find WithDrain's channel")
	}
	other := make(chan struct{})
	if got := drainOf(WithDrain(context.Background(), ch), Options{Drain: other}); got != (<-chan struct{})(other) {
		t.Fatal("Options.Drain does not win over WithDrain")
	}
	if drainOf(context.Background(), Options{}) != nil {
		t.Fatal("a drain out of nowhere")
	}
}
