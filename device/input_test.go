package device

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
)

// notices collects a viewer's input notices.
type notices struct {
	mu     sync.Mutex
	states []media.InputState
	clips  []string
}

func (n *notices) add(x media.InputNotice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if x.State != nil {
		n.states = append(n.states, *x.State)
	}
	if x.Clipboard != nil {
		n.clips = append(n.clips, *x.Clipboard)
	}
}

func (n *notices) last() (media.InputState, []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var s media.InputState
	if len(n.states) > 0 {
		s = n.states[len(n.states)-1]
	}
	return s, slices.Clone(n.clips)
}

// tapAt reports whether ev starts a tap at (x, y): the input command's
// tap, or a finger's down through the agent or motionevent.
func tapAt(ev devicesim.InputEvent, x, y int) bool {
	tap := ev.Kind == devicesim.InputTap || ev.Kind == devicesim.InputTouch && ev.Action == devicesim.ActionDown
	return tap && ev.X == x && ev.Y == y
}

// events returns the device's events of one kind.
func events(sim *devicesim.Device, kind devicesim.InputKind) []devicesim.InputEvent {
	var out []devicesim.InputEvent
	for _, e := range sim.Events() {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// TestInputThroughAgent: the device starts the input agent beside its
// capture; once it runs, a two-finger pinch arrives as one gesture with
// two pointers, text beyond ASCII arrives whole, keys keep their meta
// state, the clipboard goes both ways, the display turns, and viewers
// are told how input goes.
func TestInputThroughAgent(t *testing.T) {
	r := newRigWith(t, Config{}, devicesim.Options{Width: 240, Height: 320, FPS: 15, NoCosts: true})
	f := r.join(t, context.Background(), "a")
	defer f.Close()
	var n notices
	stop := f.Notices(n.add)
	defer stop()
	d, _ := r.reg.Device(r.serial)
	testutil.Eventually(t, "the agent runs", testutil.Generous, func() bool { return d.InputStats().Method == "agent" })
	if s, _ := n.last(); s.Method != "agent" || s.SDK != devicesim.DefaultSDK || s.Slow {
		t.Fatalf("last notice %+v, want the agent on API %d", s, devicesim.DefaultSDK)
	}
	ctx := context.Background()
	in := func(m media.Input) {
		t.Helper()
		if err := f.Input(ctx, m); err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
	}
	touch := func(action string, p int, x, y float64) media.Input {
		return media.Input{Type: media.InputTouch, Action: action, Pointer: p, X: x, Y: y, Pressure: 1}
	}
	in(touch(media.ActionDown, 0, 0.4, 0.5))
	in(touch(media.ActionDown, 1, 0.6, 0.5))
	for i := range 5 {
		in(touch(media.ActionMove, 0, 0.4-float64(i)*0.05, 0.5))
		in(touch(media.ActionMove, 1, 0.6+float64(i)*0.05, 0.5))
	}
	in(touch(media.ActionUp, 1, 0.8, 0.5))
	in(touch(media.ActionUp, 0, 0.2, 0.5))
	testutil.Eventually(t, "the pinch's last up", testutil.Generous, func() bool {
		ts := events(r.sim, devicesim.InputTouch)
		return len(ts) > 0 && ts[len(ts)-1].Action == devicesim.ActionUp && ts[len(ts)-1].Pointers == 0
	})
	ts := events(r.sim, devicesim.InputTouch)
	gestures := map[uint64]bool{}
	most := 0
	for _, e := range ts {
		gestures[e.Gesture] = true
		most = max(most, e.Pointers)
	}
	if len(ts) != 14 || len(gestures) != 1 || most != 2 {
		t.Fatalf("%d touch events in %d gestures, at most %d pointers; want 14 in 1 with 2: %+v", len(ts), len(gestures), most, ts)
	}
	if e := ts[0]; e.X != 96 || e.Y != 160 {
		t.Fatalf("first down at (%d, %d), want (96, 160) on 240x320", e.X, e.Y)
	}

	const text = "héllo 你好 👋 %s"
	in(media.Input{Type: media.InputText, Text: text})
	in(media.Input{Type: media.InputKey, Key: "KEYCODE_A", Meta: 0x1001})
	in(media.Input{Type: media.InputScroll, X: 0.5, Y: 0.5, DY: 2})
	testutil.Eventually(t, "text, key and scroll", testutil.Generous, func() bool {
		return len(events(r.sim, devicesim.InputText)) == 1 && len(events(r.sim, devicesim.InputKey)) == 2 &&
			len(events(r.sim, devicesim.InputScroll)) == 1
	})
	if got := events(r.sim, devicesim.InputText)[0].Text; got != text {
		t.Fatalf("text %q arrived as %q", text, got)
	}
	if k := events(r.sim, devicesim.InputKey); k[0].KeyCode != 29 || k[0].Meta != 0x1001 || k[0].Action != devicesim.ActionDown || k[1].Action != devicesim.ActionUp {
		t.Fatalf("key events %+v, want A down and up with meta 0x1001", k)
	}
	if s := events(r.sim, devicesim.InputScroll)[0]; s.ScrollV != -2 {
		t.Fatalf("scroll %+v, want 2 notches down (AXIS_VSCROLL -2)", s)
	}

	in(media.Input{Type: media.InputClipboard, Text: "from the viewer ✓", Paste: true})
	testutil.Eventually(t, "the viewer's clipboard on the device", testutil.Generous, func() bool {
		return r.sim.Clipboard() == "from the viewer ✓"
	})
	r.sim.SetClipboard("from the phone ✓")
	testutil.Eventually(t, "the phone's clipboard noticed", testutil.Generous, func() bool {
		_, clips := n.last()
		return slices.Contains(clips, "from the phone ✓")
	})
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if got, err := f.Clipboard(cctx); err != nil || got != "from the phone ✓" {
		t.Fatalf("Clipboard() = %q, %v", got, err)
	}
	in(media.Input{Type: media.InputRotate, Rotation: 1})
	testutil.Eventually(t, "the display turned", testutil.Generous, func() bool { return r.sim.Rotation() == 1 })
}

// TestInputFallsBackToShell: a device that forbids the agent, on Android
// 11 with a phone's costs, takes input through the shell's input command:
// viewers are told it is slow and why, a burst of moves leaves at most
// one command queued, and the gesture still arrives.
func TestInputFallsBackToShell(t *testing.T) {
	r := newRigWith(t, Config{}, devicesim.Options{Width: 240, Height: 320, FPS: 15, SDK: 30, Agent: devicesim.AgentRefuse})
	f := r.join(t, context.Background(), "a")
	defer f.Close()
	d, _ := r.reg.Device(r.serial)
	testutil.Eventually(t, "the agent refused", testutil.Generous, func() bool {
		s := d.InputStats()
		return s.AgentRestarts > 0 && strings.Contains(s.Reason, "SecurityException")
	})
	s := d.InputStats()
	if s.Method != "shell" || !s.Slow || s.SDK != 30 {
		t.Fatalf("input %+v, want the shell, slow, on API 30", s)
	}
	var n notices
	stop := f.Notices(n.add)
	defer stop()
	if got, _ := n.last(); got != s.InputState {
		t.Fatalf("a new subscriber got %+v, want the state now %+v", got, s.InputState)
	}
	ctx := context.Background()
	if err := f.Input(ctx, media.Input{Type: media.InputTouch, Action: media.ActionDown, X: 0.5, Y: 0.5}); err != nil {
		t.Fatal(err)
	}
	// The down runs (an input command on Android 11 takes 0.3 s or more)
	// while 200 moves come.
	testutil.Eventually(t, "the down in flight", testutil.Generous, func() bool {
		s := d.InputStats()
		return s.InFlight && s.Queued == 0
	})
	for i := range 200 {
		err := f.Input(ctx, media.Input{Type: media.InputTouch, Action: media.ActionMove, X: 0.5, Y: 0.5 - float64(i)/500})
		if err != nil {
			t.Fatalf("move %d: %v", i, err)
		}
		if q := d.InputStats().Queued; q > 1 {
			t.Fatalf("after move %d: %d commands queued, want at most 1", i, q)
		}
	}
	if err := f.Input(ctx, media.Input{Type: media.InputTouch, Action: media.ActionUp, X: 0.5, Y: 0.1}); err != nil {
		t.Fatal(err)
	}
	if q := d.InputStats().Queued; q > 2 {
		t.Fatalf("%d commands queued after the up, want at most 2 (a move and the up)", q)
	}
	testutil.Eventually(t, "the up on the device", testutil.Generous, func() bool {
		ts := events(r.sim, devicesim.InputTouch)
		return len(ts) > 0 && ts[len(ts)-1].Action == devicesim.ActionUp
	})
	ts := events(r.sim, devicesim.InputTouch)
	if len(ts) > 4 || ts[0].Action != devicesim.ActionDown {
		t.Fatalf("the device ran %d touch commands, want down, at most two moves, up: %+v", len(ts), ts)
	}
	if st := d.InputStats(); st.Superseded < 190 {
		t.Fatalf("%d moves superseded, want nearly all 200", st.Superseded)
	}
	// Without the agent: no second finger, no clipboard, and text the
	// input command cannot type is refused at once.
	for _, m := range []media.Input{
		{Type: media.InputTouch, Action: media.ActionDown, Pointer: 1, X: 0.5, Y: 0.5},
		{Type: media.InputClipboard, Text: "x"},
		{Type: media.InputText, Text: "héllo"},
	} {
		if err := f.Input(ctx, m); !errors.Is(err, media.ErrUnsupported) {
			t.Fatalf("%+v: %v, want ErrUnsupported", m, err)
		}
	}
	if _, err := f.Clipboard(ctx); !errors.Is(err, media.ErrUnsupported) {
		t.Fatalf("Clipboard: %v, want ErrUnsupported", err)
	}
}

// TestInputAgentOff: INPUT_AGENT=off never starts the agent.
func TestInputAgentOff(t *testing.T) {
	r := newRigWith(t, Config{InputAgent: InputAgentOff}, devicesim.Options{Width: 240, Height: 320, FPS: 15, NoCosts: true})
	f := r.join(t, context.Background(), "a")
	defer f.Close()
	d, _ := r.reg.Device(r.serial)
	testutil.Eventually(t, "the reason", testutil.Generous, func() bool { return strings.Contains(d.InputStats().Reason, "INPUT_AGENT=off") })
	if err := f.Input(context.Background(), media.Input{Type: media.InputTap, X: 0.5, Y: 0.5}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the tap", testutil.Generous, func() bool { return len(events(r.sim, devicesim.InputTap)) == 1 })
	if n := r.sim.Agents(); n != 0 {
		t.Fatalf("%d agents listen on the device", n)
	}
}

// TestInputAgentRestarts: an agent that dies is started again, and
// input goes through the shell meanwhile.
func TestInputAgentRestarts(t *testing.T) {
	r := newRigWith(t, Config{}, devicesim.Options{Width: 240, Height: 320, FPS: 15, NoCosts: true})
	f := r.join(t, context.Background(), "a")
	defer f.Close()
	d, _ := r.reg.Device(r.serial)
	testutil.Eventually(t, "the agent runs", testutil.Generous, func() bool { return d.InputStats().Method == "agent" })
	r.sim.KillAgents()
	testutil.Eventually(t, "the agent restarted", testutil.Generous, func() bool {
		s := d.InputStats()
		return s.AgentRestarts == 1 && s.Method == "agent"
	})
	if err := f.Input(context.Background(), media.Input{Type: media.InputTap, X: 0.5, Y: 0.5}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the tap", testutil.Generous, func() bool { return len(events(r.sim, devicesim.InputTouch)) == 2 })
}

// TestCheckInput: the self-check starts the agent, pings it and stops
// it; on a device that forbids it, it says why.
func TestCheckInput(t *testing.T) {
	for _, agentMode := range []string{devicesim.AgentRun, devicesim.AgentRefuse} {
		t.Run(agentMode, func(t *testing.T) {
			r := newRigWith(t, Config{}, devicesim.Options{Width: 240, Height: 320, Static: true, Agent: agentMode, NoCosts: true})
			client := r.reg.cfg.ADB
			ch, err := CheckInput(context.Background(), client, r.serial, 5)
			if err != nil {
				t.Fatal(err)
			}
			if ch.SDK != devicesim.DefaultSDK || ch.Release != "14" {
				t.Fatalf("check %+v, want API %d, Android 14", ch, devicesim.DefaultSDK)
			}
			if agentMode == devicesim.AgentRun {
				if ch.Method != "agent" || len(ch.RTTs) != 5 {
					t.Fatalf("check %+v, want the agent and 5 pings", ch)
				}
			} else if ch.Method != "shell" || !strings.Contains(ch.Reason, "SecurityException") {
				t.Fatalf("check %+v, want the shell and the device's SecurityException", ch)
			}
			if len(r.sim.Events()) != 0 {
				t.Fatalf("the check injected %+v", r.sim.Events())
			}
			testutil.Eventually(t, "the agent stopped", testutil.Generous, func() bool { return r.sim.Agents() == 0 })
			if _, err := CheckInput(context.Background(), client, "bad serial!", 1); !errors.Is(err, adb.ErrInvalidArgument) && err == nil {
				t.Fatal("a bad serial was accepted")
			}
		})
	}
}
