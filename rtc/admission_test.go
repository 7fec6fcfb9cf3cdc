package rtc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// admissionCounts returns the manager's admission counters: sessions in
// all, and how many devices, tokens and (token, user) pairs hold some.
func (m *Manager) admissionCounts() (total, devices, tokens, users int) {
	a := &m.admitted
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total, len(a.devices), len(a.tokens), len(a.users)
}

// checkLimitError checks that err refuses a session over limit.
func checkLimitError(t *testing.T, err error, limit string, limitMax, status int) {
	t.Helper()
	le, ok := errors.AsType[*LimitError](err)
	if !ok || le.Limit != limit || le.Max != limitMax {
		t.Fatalf("err %v, want a LimitError %s (%d)", err, limit, limitMax)
	}
	if !errors.Is(err, ErrLimit) || StatusCode(err) != status {
		t.Errorf("err %v: Is(ErrLimit) %v, status %d, want %d", err, errors.Is(err, ErrLimit), StatusCode(err), status)
	}
	if !strings.Contains(err.Error(), limit) {
		t.Errorf("message %q does not name %s", err, limit)
	}
}

func TestAdmissionLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSessions = 4
	cfg.MaxViewersPerDevice = 3
	cfg.MaxSessionsPerToken = 2
	cfg.MaxSessionsPerUser = 1
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	r.p.add("dev2", s264)
	offer := offerOf(t, clientOptions{plid: s264.plid})
	create := func(device, token, user string) (*Session, error) {
		s, _, err := r.m.Create(t.Context(), CreateRequest{DeviceID: device, Token: token, UserID: user, Offer: offer})
		return s, err
	}
	ok := func(device, token, user string) *Session {
		t.Helper()
		s, err := create(device, token, user)
		if err != nil {
			t.Fatalf("%s %s/%s: %v", device, token, user, err)
		}
		if s.Token() != token || s.Info().Token != token {
			t.Errorf("session token %q, want %q", s.Token(), token)
		}
		return s
	}
	refused := func(device, token, user, limit string, limitMax, status int) {
		t.Helper()
		calls := r.p.calls.Load()
		_, err := create(device, token, user)
		checkLimitError(t, err, limit, limitMax, status)
		if r.p.calls.Load() != calls {
			t.Errorf("%s %s/%s: a refused session reached the provider", device, token, user)
		}
	}

	// One session per user within a token: the same user ID under
	// another token, or without one, is another user.
	a1 := ok("dev1", "a", "u")
	refused("dev1", "a", "u", LimitSessionsPerUser, 1, http.StatusTooManyRequests)
	if _, err := create("dev1", "a", "u"); !errors.Is(err, ErrTooManySessions) {
		t.Errorf("per-user refusal %v does not match ErrTooManySessions", err)
	}
	ok("dev1", "b", "u")
	ok("dev1", "", "u")
	// dev1 has 3 viewers.
	refused("dev1", "c", "v", LimitViewersPerDevice, 3, http.StatusServiceUnavailable)
	// Token a has 2 sessions.
	ok("dev2", "a", "w")
	refused("dev2", "a", "x", LimitSessionsPerToken, 2, http.StatusServiceUnavailable)
	// The service has 4.
	refused("dev2", "c", "y", LimitSessions, 4, http.StatusServiceUnavailable)
	refused("dev2", "", "z", LimitSessions, 4, http.StatusServiceUnavailable)
	if total, devices, tokens, users := r.m.admissionCounts(); total != 4 || devices != 2 || tokens != 2 || users != 4 {
		t.Errorf("counts %d %d %d %d, want 4 2 2 4", total, devices, tokens, users)
	}

	// A session that ends gives its place back, on every count.
	if err := r.m.Delete(a1.ID()); err != nil {
		t.Fatal(err)
	}
	ok("dev1", "a", "u")
	for _, s := range r.m.all() {
		if err := r.m.Delete(s.ID()); err != nil {
			t.Fatal(err)
		}
	}
	if total, devices, tokens, users := r.m.admissionCounts(); total+devices+tokens+users != 0 {
		t.Errorf("counts %d %d %d %d after every session ended", total, devices, tokens, users)
	}
	// Without a token, no per-token bound.
	for _, u := range []string{"p1", "p2", "p3"} {
		ok("dev2", "", u)
	}
}

func TestAdmissionUnderConcurrentCreates(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSessions = 3
	cfg.MaxSessionsPerUser = 100
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	offer := offerOf(t, clientOptions{plid: s264.plid})

	const n = 12
	var (
		wg                     sync.WaitGroup
		mu                     sync.Mutex
		created                []*Session
		limited, unknown, errs int
	)
	for i := range n {
		wg.Go(func() {
			device := "dev1"
			if i%4 == 3 {
				device = "nope" // counted, then given back when Join fails
			}
			s, _, err := r.m.Create(context.Background(), CreateRequest{DeviceID: device, UserID: "u", Token: "t", Offer: offer})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created = append(created, s)
			case errors.Is(err, ErrLimit):
				limited++
			case errors.Is(err, ErrUnknownDevice):
				unknown++
			default:
				errs++
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	if len(created) == 0 || len(created) > cfg.MaxSessions || len(created)+limited+unknown+errs != n {
		t.Errorf("%d created, %d refused, %d unknown device, %d other errors", len(created), limited, unknown, errs)
	}
	if total, _, _, _ := r.m.admissionCounts(); total != len(created) {
		t.Errorf("%d counted, %d sessions", total, len(created))
	}
	for _, s := range created {
		_ = r.m.Delete(s.ID())
	}
	if total, devices, tokens, users := r.m.admissionCounts(); total+devices+tokens+users != 0 {
		t.Errorf("counts %d %d %d %d after every session ended", total, devices, tokens, users)
	}
	for range cfg.MaxSessions {
		if _, _, err := r.m.Create(context.Background(), CreateRequest{DeviceID: "dev1", UserID: "u", Token: "t", Offer: offer}); err != nil {
			t.Fatalf("create after the others ended: %v", err)
		}
	}
}

func TestMalformedOffersNeverReachTheProvider(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	good := offerOf(t, clientOptions{plid: s264.plid})
	fp := regexp.MustCompile(`a=fingerprint:(\S+) (\S+)`).FindStringSubmatch(good)
	if fp == nil {
		t.Fatalf("no fingerprint in the offer:\n%s", good)
	}
	digest := fp[2]
	ufrag := iceUfrag(good)
	pwd := regexp.MustCompile(`a=ice-pwd:(\S+)`).FindStringSubmatch(good)[1]
	noPwd := regexp.MustCompile(`a=ice-pwd:\S+\r\n`).ReplaceAllString(good, "")
	for name, tc := range map[string]struct{ offer, want string }{
		"fingerprint not hex":   {strings.ReplaceAll(good, digest, "ZZ"+digest[2:]), "fingerprint"},
		"fingerprint too short": {strings.ReplaceAll(good, digest, digest[3:]), "fingerprint"},
		"fingerprint no colons": {strings.ReplaceAll(good, digest, strings.ReplaceAll(digest, ":", "")), "fingerprint"},
		"fingerprint md5":       {strings.ReplaceAll(good, "a=fingerprint:"+fp[1]+" ", "a=fingerprint:md5 "), "fingerprint"},
		"fingerprint no digest": {strings.ReplaceAll(good, " "+digest, ""), "fingerprint"},
		"no ice-pwd":            {noPwd, "ice-pwd"},
		"short ice-pwd":         {strings.ReplaceAll(good, "a=ice-pwd:"+pwd, "a=ice-pwd:short"), "ice-pwd"},
		"ufrag with a ;":        {strings.ReplaceAll(good, "a=ice-ufrag:"+ufrag, "a=ice-ufrag:ab;cd"), "ice-ufrag"},
		"ufrag too short":       {strings.ReplaceAll(good, "a=ice-ufrag:"+ufrag, "a=ice-ufrag:abc"), "ice-ufrag"},
	} {
		_, _, err := r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: tc.offer})
		if !errors.Is(err, ErrBadRequest) || !errors.Is(err, ErrBadOffer) || StatusCode(err) != http.StatusBadRequest {
			t.Errorf("%s: err %v, want a bad request (400)", name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: message %q does not name %s", name, err, tc.want)
		}
	}
	// An offer whose video takes neither H.264 (packetization mode 1)
	// nor VP8 is refused before the device is joined too.
	noCodec := strings.Replace(chromeOffer,
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40",
		"m=video 9 UDP/TLS/RTP/SAVPF 104 105", 1)
	if _, _, err := r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: noCodec}); !errors.Is(err, ErrCodecUnsupported) || StatusCode(err) != http.StatusNotAcceptable {
		t.Errorf("offer without a codec: %v", err)
	}
	for _, token := range []string{"a b", "tok\n", strings.Repeat("t", 137)} { // 136: "jwt:" and a 128-character subject
		if _, _, err := r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: "u", Token: token, Offer: good}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("token %q: %v", token, err)
		}
	}
	if n := r.p.calls.Load(); n != 0 {
		t.Errorf("the provider was called %d times", n)
	}
	if total, _, _, _ := r.m.admissionCounts(); total != 0 {
		t.Errorf("%d sessions counted", total)
	}
	// The good offer still works.
	if _, _, err := r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: good}); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer for a logger's writes from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// connectReq creates a session for a new client with req (its offer
// filled in) and accepts the answer.
func connectReq(t *testing.T, m *Manager, req CreateRequest, opts clientOptions) (*client, *Session) {
	t.Helper()
	c := newClient(t, opts)
	t.Cleanup(c.close)
	req.Offer = c.offer()
	s, answer, err := m.Create(t.Context(), req)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	c.accept(answer)
	return c, s
}

func TestViewOnlySessionCannotControl(t *testing.T) {
	var logs syncBuffer
	cfg := testConfig()
	cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	viewer, sv := connectReq(t, r.m, CreateRequest{DeviceID: "dev1", UserID: "v", Token: "wall", ViewOnly: true}, clientOptions{plid: s264.plid})
	owner, so := connectReq(t, r.m, CreateRequest{DeviceID: "dev1", UserID: "o", Token: "ops"}, clientOptions{plid: s264.plid})

	for _, msg := range []string{
		`{"type":"tap","x":0.5,"y":0.5}`,
		`{"type":"control"}`,
		`{"type":"key","key":"KEYCODE_HOME"}`,
	} {
		viewer.send(msg)
		if rep := decodeReply(t, viewer.reply()); rep.Type != "error" || rep.Message != msgViewOnly {
			t.Errorf("%s from a view-only session: reply %+v", msg, rep)
		}
	}
	viewer.send(`{"type":"ping","t":1}`)
	if rep := decodeReply(t, viewer.reply()); rep.Type != "pong" {
		t.Errorf("ping: reply %+v", rep)
	}
	if sv.Info().Controller {
		t.Error("the view-only session took control")
	}
	owner.send(`{"type":"control"}`)
	if rep := decodeReply(t, owner.reply()); rep.Type != "control" || rep.State != "granted" {
		t.Errorf("control: reply %+v", rep)
	}
	owner.send(`{"type":"tap","x":0.25,"y":0.75}`)
	if m := inputFrom(t, dev); m.Type != InputTap || m.X != 0.25 {
		t.Errorf("the owner's tap arrived as %+v", m)
	}
	select {
	case m := <-dev.inputs:
		t.Errorf("more input reached the device: %+v", m)
	default:
	}
	eventually(t, "the owner's input to be counted", func() bool { return so.Info().Stats.Inputs == 1 })
	vi, oi := sv.Info(), so.Info()
	if !vi.ViewOnly || vi.Token != "wall" || vi.Stats.Inputs != 0 || vi.Stats.InputErrors != 3 || vi.Stats.ControlTakeovers != 0 {
		t.Errorf("view-only session %+v", vi)
	}
	if oi.ViewOnly || oi.Token != "ops" || oi.Stats.ControlTakeovers != 1 || !oi.Controller {
		t.Errorf("owner's session %+v", oi)
	}
	if err := r.m.Delete(so.ID()); err != nil {
		t.Fatal(err)
	}
	if err := r.m.Delete(sv.ID()); err != nil {
		t.Fatal(err)
	}
	var closedLines []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, `msg="rtc: session closed"`) {
			closedLines = append(closedLines, line)
		}
	}
	want := []string{
		"token=ops inputs=1 inputErrors=0 controlTakeovers=1",
		"token=wall viewOnly=true inputs=0 inputErrors=3 controlTakeovers=0",
	}
	if len(closedLines) != 2 {
		t.Fatalf("close logs:\n%s", strings.Join(closedLines, ""))
	}
	for i, w := range want {
		if !strings.Contains(closedLines[i], w) {
			t.Errorf("close log %q lacks %q", closedLines[i], w)
		}
	}
	if totals := r.m.Totals(); len(totals) != 1 || totals[0].Stats.ControlTakeovers != 1 || totals[0].Stats.InputErrors != 3 {
		t.Errorf("totals %+v", totals)
	}
}

// TestSetLive: limits changed while sessions run apply to the next
// admissions; running sessions stay; an invalid change is refused.
func TestSetLive(t *testing.T) {
	cfg := testConfig()
	cfg.MaxViewersPerDevice = 1
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	offer := offerOf(t, clientOptions{plid: s264.plid})
	create := func(user string) error {
		_, _, err := r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: user, Offer: offer})
		return err
	}
	if err := create("u1"); err != nil {
		t.Fatal(err)
	}
	checkLimitError(t, create("u2"), LimitViewersPerDevice, 1, http.StatusServiceUnavailable)
	live := Config{MaxSessions: 10, MaxViewersPerDevice: 2, MaxSessionsPerUser: 5, StartBitRate: 1_000_000, MinBitRate: 200_000, MaxBitRate: 3_000_000}
	if err := r.m.SetLive(live); err != nil {
		t.Fatal(err)
	}
	if err := create("u2"); err != nil {
		t.Fatalf("after raising MAX_VIEWERS_PER_DEVICE: %v", err)
	}
	checkLimitError(t, create("u3"), LimitViewersPerDevice, 2, http.StatusServiceUnavailable)
	// Lowered below the sessions running: they stay, new ones wait.
	live.MaxViewersPerDevice = 1
	if err := r.m.SetLive(live); err != nil {
		t.Fatal(err)
	}
	if n := len(r.m.List()); n != 2 {
		t.Fatalf("%d sessions after lowering the limit, want the 2 running", n)
	}
	checkLimitError(t, create("u3"), LimitViewersPerDevice, 1, http.StatusServiceUnavailable)
	if c := r.m.live.Load(); c.MinBitRate != 200_000 || c.MaxBitRate != 3_000_000 || c.StartBitRate != 1_000_000 {
		t.Fatalf("bit rates %d..%d from %d", c.MinBitRate, c.MaxBitRate, c.StartBitRate)
	}
	bad := live
	bad.MinBitRate = 5_000_000
	if err := r.m.SetLive(bad); err == nil {
		t.Fatal("minimum above maximum accepted")
	}
	if c := r.m.live.Load(); c.MinBitRate != 200_000 {
		t.Fatal("a refused SetLive changed the bounds")
	}
}
