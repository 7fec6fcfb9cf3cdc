package rtc

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// events records the session events.
type events struct {
	mu  sync.Mutex
	all []SessionEvent
}

func (e *events) hook(ev SessionEvent) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

// of returns the events of one session (its own, or a control change it
// made), described as "kind holder<-previous reason".
func (e *events) of(id string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.all {
		if ev.Session.ID != id {
			continue
		}
		switch ev.Kind {
		case ControlChanged:
			out = append(out, fmt.Sprintf("control %s<-%s %s", short(ev.Controller, id), short(ev.PreviousController, id), ev.ControlReason))
		case SessionEnded:
			out = append(out, "ended "+ev.Session.EndReason)
		default:
			out = append(out, string(ev.Kind))
		}
	}
	return out
}

func (e *events) find(id string, kind SessionEventKind) (SessionEvent, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.all {
		if ev.Session.ID == id && ev.Kind == kind {
			return ev, true
		}
	}
	return SessionEvent{}, false
}

// short names a session in of's descriptions: "self", "other" or "-".
func short(holder, self string) string {
	switch holder {
	case "":
		return "-"
	case self:
		return "self"
	}
	return "other"
}

// TestSessionEvents: a session starts once its media flows; control
// changes come from a first input, "control", "release" and the holder's
// end; a session ends after its control went back, with its counters, its
// media's duration and its reason (deleted, shutdown).
func TestSessionEvents(t *testing.T) {
	var ev events
	cfg := testConfig()
	cfg.OnSessionEvent = ev.hook
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	a, sa, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	b, sb, _ := connect(t, r.m, "dev1", "bob", clientOptions{plid: s264.plid})
	eventually(t, "frames at both clients", func() bool { return a.frames.Load() >= 10 && b.frames.Load() >= 10 })
	started, ok := ev.find(sa.ID(), SessionStarted)
	if !ok || started.StartedAt.IsZero() || started.StartedAt.Before(sa.Info().CreatedAt) || started.Session.DeviceID != "dev1" || started.Session.UserID != "alice" {
		t.Fatalf("session.started of A: %+v, %v", started, ok)
	}

	a.send(`{"type":"tap","x":0.5,"y":0.5}`) // takes control: nobody held it
	inputFrom(t, dev)
	b.send(`{"type":"control"}`)
	decodeReply(t, b.reply())
	decodeReply(t, a.reply()) // revoked
	b.send(`{"type":"release"}`)
	decodeReply(t, b.reply())
	b.send(`{"type":"control"}`)
	decodeReply(t, b.reply())
	b.send(`{"type":"control"}`) // already holds it: no change
	decodeReply(t, b.reply())
	if err := r.m.Delete(sb.ID()); err != nil {
		t.Fatal(err)
	}
	// Delete returned: B's events are all in.
	want := []string{"started", "control self<-other take", "control -<-self release", "control self<-- take",
		"control -<-self session-ended", "ended deleted"}
	if got := ev.of(sb.ID()); !slices.Equal(got, want) {
		t.Errorf("B's events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ended, _ := ev.find(sb.ID(), SessionEnded)
	if st := ended.Session.Stats; st.BytesSent == 0 || st.PacketsSent == 0 || st.FramesSent == 0 {
		t.Errorf("session.ended counters %+v", st)
	}
	if d := ended.Duration(); d <= 0 || d > time.Since(ended.StartedAt)+time.Second || ended.Session.State != "closed" {
		t.Errorf("duration %v, state %s", d, ended.Session.State)
	}
	r.close()
	if got, want := ev.of(sa.ID()), []string{"started", "control self<-- take", "ended shutdown"}; !slices.Equal(got, want) {
		t.Errorf("A's events %v, want %v", got, want)
	}
}

// TestSessionEventReasons: the manager's closes give their reasons; a
// session that never connected sends nothing; a viewer that closes its
// connection ends its session as "client".
func TestSessionEventReasons(t *testing.T) {
	var ev events
	cfg := testConfig()
	cfg.OnSessionEvent = ev.hook
	cfg.IdleTimeout = 2 * time.Second
	cfg.ICEDisconnectedTimeout, cfg.ICEFailedTimeout, cfg.ICEKeepalive = time.Second, time.Second, 300*time.Millisecond
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)

	// Never connected: closed by the sweep, no event.
	idle := newClient(t, clientOptions{plid: s264.plid})
	t.Cleanup(idle.close)
	si, _, err := r.m.Create(context.Background(), CreateRequest{DeviceID: "dev1", UserID: "idle", Offer: idle.offer()})
	if err != nil {
		t.Fatal(err)
	}

	c1, s1, _ := connect(t, r.m, "dev1", "u1", clientOptions{plid: s264.plid})
	c2, s2, _ := connect(t, r.m, "dev1", "u2", clientOptions{plid: s264.plid})
	c3, s3, _ := connect(t, r.m, "dev1", "u3", clientOptions{plid: s264.plid})
	eventually(t, "frames", func() bool { return c1.frames.Load() > 0 && c2.frames.Load() > 0 && c3.frames.Load() > 0 })
	if err := r.m.DeleteWithReason(s1.ID(), EndDeviceGone); err != nil {
		t.Fatal(err)
	}
	if got := s1.Info().EndReason; got != EndDeviceGone {
		t.Errorf("EndReason %q", got)
	}
	if _, ok := r.m.Ended(s1.ID()); ok {
		t.Error("a manager's reason is kept for Ended, as CloseWithReason's")
	}
	s3.CloseWithReason(EndMaxDuration) // the limits' own: told to the viewer, kept
	c2.close()                         // the viewer leaves
	waitDone(t, s2)
	waitDone(t, si)
	if got := ev.of(s1.ID()); !slices.Equal(got, []string{"started", "ended device-gone"}) {
		t.Errorf("s1: %v", got)
	}
	if got := ev.of(s2.ID()); !slices.Equal(got, []string{"started", "ended client"}) {
		t.Errorf("s2 (the viewer closed): %v", got)
	}
	if got := ev.of(s3.ID()); !slices.Equal(got, []string{"started", "ended max-duration"}) {
		t.Errorf("s3: %v", got)
	}
	if got := ev.of(si.ID()); len(got) != 0 || si.Info().EndReason != EndNeverConnected {
		t.Errorf("a session that never started: events %v, EndReason %q", got, si.Info().EndReason)
	}
	c4, s4, _ := connect(t, r.m, "dev1", "u4", clientOptions{plid: s264.plid})
	eventually(t, "frames", func() bool { return c4.frames.Load() > 0 })
	if err := r.m.CloseWith(EndDrain); err != nil {
		t.Fatal(err)
	}
	if got := ev.of(s4.ID()); !slices.Equal(got, []string{"started", "ended drain"}) {
		t.Errorf("s4: %v", got)
	}
}
