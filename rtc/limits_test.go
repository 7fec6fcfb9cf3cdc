package rtc

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/cloudphone/media-service/config"
)

// limitMsg is any message of the input channel, as the limits' tests
// read them.
type limitMsg struct {
	Type        string `json:"type"`
	Kind        string `json:"kind"`
	Reason      string `json:"reason"`
	State       string `json:"state"`
	Message     string `json:"message"`
	EndsAt      int64  `json:"endsAt"`
	RemainingMs int64  `json:"remainingMs"`
	Warning     bool   `json:"warning"`
	Cleared     bool   `json:"cleared"`
	at          time.Time
}

// next returns the client's next message that is not an input state
// notice, and when it came.
func (c *client) next() limitMsg {
	c.t.Helper()
	for {
		raw := c.reply()
		var m limitMsg
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			c.t.Fatalf("reply %q: %v", raw, err)
		}
		if m.Type != "input" {
			m.at = time.Now()
			return m
		}
	}
}

// quiet fails if the client got a message (other than an input state
// notice) that the test did not read.
func (c *client) quiet(what string) {
	c.t.Helper()
	for {
		select {
		case raw := <-c.replies:
			var m limitMsg
			if json.Unmarshal([]byte(raw), &m) == nil && m.Type == "input" {
				continue
			}
			c.t.Fatalf("%s: unexpected message %s", what, raw)
		default:
			return
		}
	}
}

// tapped waits for the device to get an input.
func tapped(t *testing.T, d *fakeDevice) {
	t.Helper()
	select {
	case <-d.inputs:
	case <-time.After(30 * time.Second):
		t.Fatal("the input did not reach the device")
	}
}

// limitRig is a manager whose config cfg adjusts, with device dev1.
func limitRig(t *testing.T, adjust func(*Config)) *rig {
	cfg := testConfig()
	adjust(&cfg)
	r := newRig(t, cfg, 33*time.Millisecond)
	r.p.add("dev1", syntheticStreamH264())
	return r
}

// connectLimited creates a session for a new client with req (its offer
// filled in), and returns when Create was called.
func connectLimited(t *testing.T, m *Manager, req CreateRequest) (*client, *Session, time.Time) {
	t.Helper()
	c := newClient(t, clientOptions{})
	t.Cleanup(c.close)
	req.Offer = c.offer()
	if req.DeviceID == "" {
		req.DeviceID, req.UserID = "dev1", "alice"
	}
	before := time.Now()
	s, answer, err := m.Create(context.Background(), req)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	c.accept(answer)
	select {
	case <-c.dcOpen:
	case <-time.After(30 * time.Second):
		t.Fatal("input channel did not open")
	}
	return c, s, before
}

// checkEnded checks a session that a limit ended: the end message (after
// at least want since created), its EndReason, and Manager.Ended.
func checkEnded(t *testing.T, m *Manager, c *client, s *Session, created time.Time, want time.Duration, reason string) {
	t.Helper()
	msg := c.next()
	if msg.Type != "end" || msg.Reason != reason || msg.Message == "" {
		t.Fatalf("got %+v, want the end message, reason %s", msg, reason)
	}
	waitDone(t, s)
	if d := msg.at.Sub(created); d < want || d > want+15*time.Second {
		t.Errorf("ended %v after creation, want %v (and not far later)", d, want)
	}
	if got := s.Info().EndReason; got != reason {
		t.Errorf("EndReason %q, want %q", got, reason)
	}
	if _, err := m.Get(s.ID()); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("Get after the end: %v", err)
	}
	info, ok := m.Ended(s.ID())
	if !ok || info.EndReason != reason || info.State != "closed" || info.ID != s.ID() {
		t.Errorf("Ended: %+v, %v", info, ok)
	}
}

// A session ends at its maximum duration, the smaller of the service's
// and its request's: the client learns the deadline when its channel
// opens, is warned LimitWarning before, and gets the end message.
func TestMaxDurationEndsSession(t *testing.T) {
	const limit, warn = 2500 * time.Millisecond, 1200 * time.Millisecond
	r := limitRig(t, func(c *Config) { c.MaxSessionDuration, c.LimitWarning = time.Hour, warn })
	c, s, before := connectLimited(t, r.m, CreateRequest{MaxDuration: limit})

	first := c.next()
	if first.Type != "limit" || first.Kind != "session" || first.Reason != EndMaxDuration {
		t.Fatalf("first message %+v, want the session's limit", first)
	}
	endsAt := time.UnixMilli(first.EndsAt)
	if lo, hi := before.Add(limit), time.Now().Add(limit); endsAt.Before(lo.Add(-time.Millisecond)) || endsAt.After(hi) {
		t.Errorf("endsAt %v, want creation + %v (%v..%v)", endsAt, limit, lo, hi)
	}
	if first.RemainingMs <= 0 || first.RemainingMs > limit.Milliseconds() {
		t.Errorf("remainingMs %d", first.RemainingMs)
	}
	if !first.Warning { // unless the channel opened late, the warning comes apart
		w := c.next()
		if w.Type != "limit" || w.Kind != "session" || !w.Warning || w.Reason != EndMaxDuration || w.EndsAt != first.EndsAt {
			t.Fatalf("got %+v, want the warning", w)
		}
		if d := w.at.Sub(before); d < limit-warn {
			t.Errorf("warned %v after creation, want %v", d, limit-warn)
		}
	}
	checkEnded(t, r.m, c, s, before, limit, EndMaxDuration)
}

// A token's expiry ends its session with TokenExpiryEndsSessions (before
// a later maximum duration), and ends nothing without it.
func TestTokenExpiry(t *testing.T) {
	t.Run("ends the session", func(t *testing.T) {
		r := limitRig(t, func(c *Config) {
			c.TokenExpiryEndsSessions, c.MaxSessionDuration, c.LimitWarning = true, time.Hour, time.Minute
		})
		expires := time.Now().Add(2 * time.Second)
		c, s, before := connectLimited(t, r.m, CreateRequest{Expires: expires})
		first := c.next()
		if first.Type != "limit" || first.Reason != EndTokenExpired || first.EndsAt != expires.UnixMilli() || !first.Warning {
			t.Fatalf("first message %+v, want the token's expiry, a warning already", first)
		}
		checkEnded(t, r.m, c, s, before, expires.Sub(before), EndTokenExpired)
	})
	t.Run("ends nothing when off", func(t *testing.T) {
		r := limitRig(t, func(c *Config) { c.LimitWarning = time.Minute })
		c, s, _ := connectLimited(t, r.m, CreateRequest{Expires: time.Now().Add(500 * time.Millisecond)})
		time.Sleep(1500 * time.Millisecond)
		select {
		case <-s.Done():
			t.Fatal("the session ended")
		default:
		}
		if _, err := r.m.Get(s.ID()); err != nil {
			t.Fatal(err)
		}
		c.quiet("no limit applies")
	})
}

// A controller that sends no input loses control after ControlIdleTimeout,
// warned before; input puts the limit off and clears a warning; the
// session lives on.
func TestControlIdleReleases(t *testing.T) {
	const idle = 3 * time.Second
	r := limitRig(t, func(c *Config) { c.ControlIdleTimeout, c.LimitWarning = idle, time.Minute })
	dev := r.p.devices["dev1"]
	c, s, _ := connectLimited(t, r.m, CreateRequest{})
	c.quiet("no session limit")

	c.send(`{"type":"control"}`)
	if m := c.next(); m.Type != "control" || m.State != "granted" {
		t.Fatalf("got %+v, want control granted", m)
	}
	// Input every 300 ms for longer than the limit keeps control.
	for range 11 {
		time.Sleep(300 * time.Millisecond)
		c.send(`{"type":"tap","x":0.5,"y":0.5}`)
		tapped(t, dev)
	}
	c.quiet("while input comes")
	if !s.Info().Controller {
		t.Fatal("lost control while sending input")
	}
	// Idle: the warning (the lead is at most half the limit), then input
	// clears it.
	w := c.next()
	if w.Type != "limit" || w.Kind != "control" || w.Reason != EndControlIdle || !w.Warning || w.RemainingMs > (idle/2).Milliseconds() {
		t.Fatalf("got %+v, want the control warning", w)
	}
	last := time.Now()
	c.send(`{"type":"tap","x":0.5,"y":0.5}`)
	tapped(t, dev)
	if m := c.next(); m.Type != "limit" || m.Kind != "control" || !m.Cleared {
		t.Fatalf("got %+v, want the warning cleared", m)
	}
	// Idle again: warned, then released as by "release".
	if m := c.next(); m.Type != "limit" || m.Kind != "control" || !m.Warning {
		t.Fatalf("got %+v, want the control warning", m)
	}
	m := c.next()
	if m.Type != "control" || m.State != "released" || m.Reason != EndControlIdle {
		t.Fatalf("got %+v, want control released for idleness", m)
	}
	if d := m.at.Sub(last); d < idle {
		t.Errorf("released %v after the last input, want %v", d, idle)
	}
	if s.Info().Controller || dev.control.Holder() != "" {
		t.Fatalf("still in control after the release (holder %q)", dev.control.Holder())
	}
	select {
	case <-s.Done():
		t.Fatal("the session ended")
	default:
	}
	// The next input takes control again.
	c.send(`{"type":"tap","x":0.5,"y":0.5}`)
	tapped(t, dev)
	if !s.Info().Controller {
		t.Fatal("input did not take control again")
	}
	if _, ok := r.m.Ended(s.ID()); ok {
		t.Error("a running session is described as ended")
	}
}

// With ControlIdleEndsSession, idle control ends the session.
func TestControlIdleEndsSession(t *testing.T) {
	const idle = 1500 * time.Millisecond
	r := limitRig(t, func(c *Config) { c.ControlIdleTimeout, c.ControlIdleEndsSession = idle, true })
	c, s, _ := connectLimited(t, r.m, CreateRequest{})
	sent := time.Now()
	c.send(`{"type":"control"}`)
	if m := c.next(); m.Type != "control" || m.State != "granted" {
		t.Fatalf("got %+v, want control granted", m)
	}
	checkEnded(t, r.m, c, s, sent, idle, EndControlIdle) // no warning: LimitWarning is 0
	if r.p.devices["dev1"].control.Holder() != "" {
		t.Error("control held after the session ended")
	}
}

// SetLive's limits apply to the sessions created from then on.
func TestLimitsLive(t *testing.T) {
	r := limitRig(t, func(*Config) {})
	_, old, _ := connectLimited(t, r.m, CreateRequest{})
	next := testConfig()
	next.MaxSessionDuration, next.ControlIdleTimeout = time.Hour, time.Minute
	if err := r.m.SetLive(next); err != nil {
		t.Fatal(err)
	}
	_, s, _ := connectLimited(t, r.m, CreateRequest{})
	if !old.lim.deadline.IsZero() || old.lim.ctlIdle != 0 {
		t.Errorf("a running session took the new limits")
	}
	if s.lim.deadline.IsZero() || s.lim.reason != EndMaxDuration || s.lim.ctlIdle != time.Minute {
		t.Errorf("a new session's limits: deadline %v, reason %q, control idle %v", s.lim.deadline, s.lim.reason, s.lim.ctlIdle)
	}
	next.MaxSessionDuration = -time.Second
	if err := r.m.SetLive(next); err == nil {
		t.Error("a negative limit was taken")
	}
}

// The effective deadline: the smaller duration, the earlier of it and
// the token's expiry when that counts.
func TestLimitStateInit(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name       string
		cfg        Config
		req        CreateRequest
		in         time.Duration // 0: no deadline
		reason     string
		ctlWarning time.Duration
	}{
		{name: "none", req: CreateRequest{Expires: now.Add(time.Second)}},
		{name: "config", cfg: Config{MaxSessionDuration: time.Hour}, in: time.Hour, reason: EndMaxDuration},
		{name: "token lowers", cfg: Config{MaxSessionDuration: time.Hour}, req: CreateRequest{MaxDuration: time.Minute}, in: time.Minute, reason: EndMaxDuration},
		{name: "token does not raise", cfg: Config{MaxSessionDuration: time.Minute}, req: CreateRequest{MaxDuration: time.Hour}, in: time.Minute, reason: EndMaxDuration},
		{name: "token only", req: CreateRequest{MaxDuration: time.Minute}, in: time.Minute, reason: EndMaxDuration},
		{name: "expiry first", cfg: Config{MaxSessionDuration: time.Hour, TokenExpiryEndsSessions: true}, req: CreateRequest{Expires: now.Add(time.Minute)}, in: time.Minute, reason: EndTokenExpired},
		{name: "duration first", cfg: Config{MaxSessionDuration: time.Minute, TokenExpiryEndsSessions: true}, req: CreateRequest{Expires: now.Add(time.Hour)}, in: time.Minute, reason: EndMaxDuration},
		{name: "control warning halved", cfg: Config{ControlIdleTimeout: 10 * time.Second, LimitWarning: time.Minute}, ctlWarning: 5 * time.Second},
		{name: "control warning", cfg: Config{ControlIdleTimeout: 10 * time.Minute, LimitWarning: time.Minute}, ctlWarning: time.Minute},
	} {
		var l limitState
		l.init(&tc.cfg, tc.req, now)
		if got := l.deadline; (tc.in == 0) != got.IsZero() || (tc.in != 0 && !got.Equal(now.Add(tc.in))) || l.reason != tc.reason {
			t.Errorf("%s: deadline %v (%q), want in %v (%q)", tc.name, got, l.reason, tc.in, tc.reason)
		}
		if l.ctlWarn != tc.ctlWarning {
			t.Errorf("%s: control warning %v, want %v", tc.name, l.ctlWarn, tc.ctlWarning)
		}
	}
}

// Ended forgets sessions after endedRetention.
func TestEndedRetention(t *testing.T) {
	m := &Manager{}
	old := time.Now().Add(-endedRetention - time.Second)
	m.ended = map[string]endedSession{"a": {info: SessionInfo{ID: "a"}, at: old}, "b": {info: SessionInfo{ID: "b"}, at: time.Now()}}
	m.endedOrder = []string{"a", "b"}
	if _, ok := m.Ended("a"); ok {
		t.Error("an old session is still described")
	}
	if info, ok := m.Ended("b"); !ok || info.ID != "b" {
		t.Error("a recent session is not described")
	}
	if len(m.ended) != 1 || len(m.endedOrder) != 1 {
		t.Errorf("kept %d, %d", len(m.ended), len(m.endedOrder))
	}
}

// ConfigFrom takes the limits from the service's configuration.
func TestConfigFromLimits(t *testing.T) {
	c := config.Default()
	c.MaxSessionDuration, c.TokenExpiryEndsSessions = 20*time.Second, true
	c.ControlIdleTimeout, c.ControlIdleEndsSession, c.SessionWarningBefore = time.Minute, true, 5*time.Second
	got := ConfigFrom(c)
	if got.MaxSessionDuration != 20*time.Second || !got.TokenExpiryEndsSessions || got.ControlIdleTimeout != time.Minute ||
		!got.ControlIdleEndsSession || got.LimitWarning != 5*time.Second {
		t.Errorf("ConfigFrom: %+v", got)
	}
}
