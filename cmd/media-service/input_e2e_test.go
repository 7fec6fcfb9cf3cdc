package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/chromium"
	"github.com/cloudphone/media-service/internal/testutil"
)

// viewerPage is the service's own viewer page in headless Chromium,
// playing one simulated device; input goes to it as a user's would,
// through the DevTools Input domain.
type viewerPage struct {
	tb   testing.TB
	b    *chromium.Browser
	base string
	sim  *devicesim.Device
	// rect is where the picture is in the page (CSS pixels): the video
	// element letterboxes it.
	rect struct{ X, Y, W, H float64 }
}

// openViewer opens the viewer page on sim and waits until it plays the
// device's w×h picture. The browser closes before the service stops.
func openViewer(tb testing.TB, base string, sim *devicesim.Device, w, h int) *viewerPage {
	tb.Helper()
	p := &viewerPage{tb: tb, b: chromium.Launch(tb), base: base, sim: sim}
	if err := p.b.Navigate(fmt.Sprintf("%s/?device=%s&token=%s", base, sim.Addr(), e2eToken)); err != nil {
		tb.Fatal(err)
	}
	p.waitJS("the page to play the device", fmt.Sprintf(`viewer.connected && viewer.framesDecoded > 0 &&
		document.getElementById("screen").videoWidth === %d && document.getElementById("screen").videoHeight === %d`, w, h))
	p.locate()
	return p
}

// eval evaluates a JavaScript expression in the page (awaiting a promise).
func (p *viewerPage) eval(expr string, out any) {
	p.tb.Helper()
	if err := p.b.Eval(expr, out); err != nil {
		p.tb.Fatal(err)
	}
}

// waitJS waits until a JavaScript expression is true in the page.
func (p *viewerPage) waitJS(what, expr string) {
	p.tb.Helper()
	testutil.EventuallyErr(p.tb, what, time.Minute, func() (bool, error) {
		var ok bool
		err := p.b.Eval(`!!(window.viewer && (`+expr+`))`, &ok)
		return ok, err
	})
}

// locate finds the picture in the page again: the lines of text under
// it can move it.
func (p *viewerPage) locate() {
	p.tb.Helper()
	p.eval(`(() => { const v = document.getElementById("screen"), r = v.getBoundingClientRect();
		const s = Math.min(r.width / v.videoWidth, r.height / v.videoHeight), w = v.videoWidth * s, h = v.videoHeight * s;
		return {X: r.left + (r.width - w) / 2, Y: r.top + (r.height - h) / 2, W: w, H: h}; })()`, &p.rect)
}

// mouse dispatches a mouse event at fractions (x, y) of the picture.
// buttons is the buttons held (1: the left one), modifiers the keys (2:
// Ctrl).
func (p *viewerPage) mouse(typ string, x, y float64, buttons, modifiers int) {
	p.tb.Helper()
	params := map[string]any{"type": typ, "x": p.rect.X + x*p.rect.W, "y": p.rect.Y + y*p.rect.H,
		"buttons": buttons, "modifiers": modifiers, "button": "none"}
	if typ == "mousePressed" || typ == "mouseReleased" || buttons != 0 {
		params["button"] = "left"
	}
	if typ == "mousePressed" || typ == "mouseReleased" {
		params["clickCount"] = 1
	}
	if err := p.b.CallPage(context.Background(), "Input.dispatchMouseEvent", params, nil); err != nil {
		p.tb.Fatal(err)
	}
}

// mark is where the device's next input event will be in sim.Events().
func (p *viewerPage) mark() int { return len(p.sim.Events()) }

// eventsSince returns the device's input events from mark on, those of
// kind only unless kind is "".
func eventsSince(sim *devicesim.Device, mark int, kind devicesim.InputKind) []devicesim.InputEvent {
	var out []devicesim.InputEvent
	for _, e := range sim.Events()[mark:] {
		if kind == "" || e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// waitTouchUp waits until the device has a touch up (the gesture's end)
// from mark on, and returns the touches from mark on.
func waitTouchUp(tb testing.TB, sim *devicesim.Device, mark int, what string) []devicesim.InputEvent {
	tb.Helper()
	var touches []devicesim.InputEvent
	testutil.Eventually(tb, what, time.Minute, func() bool {
		touches = eventsSince(sim, mark, devicesim.InputTouch)
		for _, e := range touches {
			if e.Action == devicesim.ActionUp {
				return true
			}
		}
		return false
	})
	return touches
}

func describeEvents(evs []devicesim.InputEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s %s source=%q pointer=%d pointers=%d gesture=%d at %d,%d text=%q t=%s\n",
			e.Kind, e.Action, e.Source, e.Pointer, e.Pointers, e.Gesture, e.X, e.Y, e.Text, e.Time.Format("15:04:05.000"))
	}
	return b.String()
}

// inputStats reads how the service's (only) device takes input: GET
// /api/media/stats, devices[0].input.
func inputStats(base string) (api.InputView, error) {
	req, err := http.NewRequest("GET", base+"/api/media/stats", nil)
	if err != nil {
		return api.InputView{}, err
	}
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return api.InputView{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return api.InputView{}, fmt.Errorf("GET /api/media/stats: %s", resp.Status)
	}
	var st struct {
		Devices []struct {
			Input api.InputView `json:"input"`
		} `json:"devices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return api.InputView{}, err
	}
	if len(st.Devices) != 1 {
		return api.InputView{}, fmt.Errorf("%d devices in the stats, want 1", len(st.Devices))
	}
	return st.Devices[0].Input, nil
}

// waitInputMethod waits until the device's input goes by method ("agent"
// or "shell"), and returns the stats that said so.
func waitInputMethod(tb testing.TB, base, method string) api.InputView {
	tb.Helper()
	var in api.InputView
	testutil.EventuallyErr(tb, "input through the "+method, time.Minute, func() (bool, error) {
		var err error
		in, err = inputStats(base)
		return err == nil && in.Method == method, err
	})
	return in
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// nearPixel reports whether device pixel v is within 6 pixels of fraction f of
// a side of n pixels.
func nearPixel(v int, f float64, n int) bool { return math.Abs(float64(v)-f*float64(n-1)) <= 6 }

// TestInputE2EAgent drives the viewer page in headless Chromium against
// the service and a simulated Android 14 phone (API 34) whose input agent
// runs, with the phone's costs on, and checks what reaches the phone: a
// drag shows while the mouse moves, a Ctrl-drag is one two-finger
// gesture, typed Unicode text arrives intact, and the clipboard goes both
// ways.
func TestInputE2EAgent(t *testing.T) {
	testutil.Deadline(t, 5*time.Minute)
	const w, h = 360, 640
	base, sim, _ := serviceWith(t, devicesim.Options{Width: w, Height: h, FPS: 15, SDK: 34, Agent: devicesim.AgentRun}, nil)
	p := openViewer(t, base, sim, w, h)
	in := waitInputMethod(t, base, "agent")
	if in.Slow || in.SDK != 34 {
		t.Errorf("input stats %+v, want the agent on API 34, not slow", in)
	}
	p.waitJS("the page to show the agent", `viewer.input && viewer.input.method === "agent" && !viewer.input.slow &&
		document.getElementById("input-status").textContent.includes("input agent")`)

	t.Run("a drag shows on the device while the mouse moves", func(t *testing.T) {
		p.locate()
		from := p.mark()
		const steps = 30 // mouse moves over one second
		x0, y0 := 0.2, 0.15
		p.mouse("mouseMoved", x0, y0, 0, 0)
		p.mouse("mousePressed", x0, y0, 1, 0)
		start := time.Now()
		for i := 1; i <= steps; i++ {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / steps)))
			p.mouse("mouseMoved", x0+0.02*float64(i), y0+0.01*float64(i), 1, 0)
		}
		released := time.Now()
		p.mouse("mouseReleased", x0+0.02*steps, y0+0.01*steps, 0, 0)
		touches := waitTouchUp(t, sim, from, "the drag's up on the device")
		first, last := touches[0], touches[len(touches)-1]
		if first.Action != devicesim.ActionDown || last.Action != devicesim.ActionUp || first.Gesture == 0 {
			t.Fatalf("the drag arrived as:\n%s", describeEvents(touches))
		}
		if !nearPixel(first.X, x0, w) || !nearPixel(first.Y, y0, h) || !nearPixel(last.X, x0+0.02*steps, w) || !nearPixel(last.Y, y0+0.01*steps, h) {
			t.Errorf("the drag went from %d,%d to %d,%d", first.X, first.Y, last.X, last.Y)
		}
		moves, early, prevX := 0, 0, first.X
		for _, e := range touches {
			if e.Source != devicesim.SourceAgent || e.Pointer != 0 || e.Gesture != first.Gesture {
				t.Errorf("in the drag: %+v", e)
			}
			if e.Action != devicesim.ActionMove {
				continue
			}
			if e.X < prevX {
				t.Errorf("the drag went back: %+v", e)
			}
			prevX = e.X
			moves++
			if e.Time.Before(released) {
				early++
			}
		}
		t.Logf("%d mouse moves arrived as %d touch moves on the device, %d of them before the mouse-up was sent", steps, moves, early)
		// Moves are coalesced to the page's frames, never multiplied; and
		// the device has them while the mouse is still moving, not at
		// its release: a third of them at least.
		if moves > steps || early < steps/3 {
			t.Errorf("%d moves, %d of them before the mouse-up (%d mouse moves):\n%s", moves, early, steps, describeEvents(touches))
		}
	})

	t.Run("a ctrl drag is one gesture of two fingers", func(t *testing.T) {
		p.locate()
		from := p.mark()
		const ctrl = 2
		p.mouse("mouseMoved", 0.4, 0.4, 0, ctrl)
		p.mouse("mousePressed", 0.4, 0.4, 1, ctrl)
		for i := 1; i <= 5; i++ {
			time.Sleep(40 * time.Millisecond)
			p.mouse("mouseMoved", 0.4-0.04*float64(i), 0.4-0.04*float64(i), 1, ctrl)
		}
		p.mouse("mouseReleased", 0.2, 0.2, 0, ctrl)
		touches := waitTouchUp(t, sim, from, "the pinch's last finger up on the device")
		gestures, maxPointers, moves := map[uint64]bool{}, 0, map[int]int{}
		var second *devicesim.InputEvent
		for i, e := range touches {
			gestures[e.Gesture] = true
			maxPointers = max(maxPointers, e.Pointers)
			if e.Source != devicesim.SourceAgent {
				t.Errorf("in the pinch: %+v", e)
			}
			if e.Action == devicesim.ActionMove {
				moves[e.Pointer]++
			}
			if e.Pointer == 1 && e.Action == devicesim.ActionPointerDown && second == nil {
				second = &touches[i]
			}
		}
		first, last := touches[0], touches[len(touches)-1]
		if len(gestures) != 1 || gestures[0] || maxPointers != 2 || second == nil || second.Pointers != 2 ||
			first.Action != devicesim.ActionDown || first.Pointer != 0 ||
			last.Action != devicesim.ActionUp || last.Pointers != 0 || moves[0] == 0 || moves[1] == 0 {
			t.Fatalf("the pinch arrived as:\n%s", describeEvents(touches))
		}
		// The second finger is the first mirrored around the centre.
		if !nearPixel(second.X, 0.6, w) || !nearPixel(second.Y, 0.6, h) {
			t.Errorf("the second finger went down at %d,%d; want about %.0f,%.0f", second.X, second.Y, 0.6*(w-1), 0.6*(h-1))
		}
	})

	t.Run("typed text arrives intact", func(t *testing.T) {
		const typed = "héllo 你好 👋"
		p.eval(`document.getElementById("keys").focus(), document.activeElement.id`, nil)
		from := p.mark()
		if err := p.b.CallPage(context.Background(), "Input.insertText", map[string]any{"text": typed}, nil); err != nil {
			t.Fatal(err)
		}
		var text string
		var texts []devicesim.InputEvent
		testutil.Eventually(t, "the text on the device", time.Minute, func() bool {
			texts = eventsSince(sim, from, devicesim.InputText)
			text = ""
			for _, e := range texts {
				text += e.Text
			}
			return text == typed || !strings.HasPrefix(typed, text)
		})
		if text != typed {
			t.Fatalf("typed %q; the device got:\n%s", typed, describeEvents(texts))
		}
		for _, e := range texts {
			if e.Source != devicesim.SourceAgent {
				t.Errorf("text not through the agent: %+v", e)
			}
		}
	})

	t.Run("the clipboard goes both ways", func(t *testing.T) {
		const onPhone = "copied on the phone ✓ 你好 <&>"
		sim.SetClipboard(onPhone)
		p.waitJS("the phone's clipboard in the page's field",
			`document.getElementById("clip").value === `+jsString(onPhone)+` && viewer.clipboard === `+jsString(onPhone))

		const fromPage = "pasted from the page 👋\nline 2"
		from := p.mark()
		p.eval(`document.getElementById("clip").value = `+jsString(fromPage)+`; document.getElementById("paste").click()`, nil)
		// devicesim sets the clipboard, then records the event: wait for
		// both.
		pasted := func() bool {
			for _, e := range eventsSince(sim, from, devicesim.InputClipboard) {
				if e.Source == devicesim.SourceAgent && e.Paste && e.Text == fromPage {
					return true
				}
			}
			return false
		}
		testutil.Eventually(t, "the page's text on the phone's clipboard, pasted", time.Minute, func() bool {
			return sim.Clipboard() == fromPage && pasted()
		})
		if evs := eventsSince(sim, from, ""); len(evs) != 1 {
			t.Errorf("Paste to device made %d events on the phone, want the clipboard's paste alone:\n%s", len(evs), describeEvents(evs))
		}
	})
}

// TestInputE2EShellSlow: an Android 11 phone (API 30) that refuses the
// input agent, with its costs on (the input command starts a Java VM per
// call: 0.3 to 1.2 s). The page says input is slow and why; a burst of
// 200 mouse moves during a drag leaves at most one command queued behind
// the one in flight (the service replaces a queued move with the next);
// and the drag's up still reaches the phone.
func TestInputE2EShellSlow(t *testing.T) {
	testutil.Deadline(t, 5*time.Minute)
	const w, h = 360, 640
	// The test polls the stats every few milliseconds: past the API's
	// default rate limit (20 a second per address).
	base, sim, _ := serviceWith(t, devicesim.Options{Width: w, Height: h, FPS: 15, SDK: 30, Agent: devicesim.AgentRefuse},
		map[string]string{"RATE_LIMIT": "10000"})
	p := openViewer(t, base, sim, w, h)
	p.waitJS("the page to say input is slow, and why", `viewer.input && viewer.input.method === "shell" && viewer.input.slow &&
		viewer.input.reason.includes("INJECT_EVENTS") &&
		document.getElementById("input-status").textContent.startsWith("Input is slow on this device (") &&
		document.getElementById("input-status").classList.contains("slow")`)
	if in, err := inputStats(base); err != nil || in.Method != "shell" || !in.Slow || in.SDK != 30 {
		t.Fatalf("input stats %+v (%v), want the shell, slow, on API 30", in, err)
	}

	p.locate()
	from := p.mark()
	x0, y0, x1, y1 := 0.3, 0.2, 0.7, 0.4
	p.mouse("mouseMoved", x0, y0, 0, 0)
	p.mouse("mousePressed", x0, y0, 1, 0)

	// Poll the queue during the burst and after it, until it drains.
	type poll struct {
		queued   int
		inFlight bool
	}
	var (
		mu    sync.Mutex
		polls []poll
		errs  int
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			in, err := inputStats(base)
			mu.Lock()
			if err != nil {
				errs++
			} else {
				polls = append(polls, poll{in.Queued, in.InFlight})
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	const burst = 200
	for i := 1; i <= burst; i++ {
		f := float64(i) / burst
		p.mouse("mouseMoved", x0+f*(x1-x0), y0+f*(y1-y0), 1, 0)
	}
	burstEnd := p.mark()
	testutil.EventuallyErr(t, "the shell's queue to drain", 2*time.Minute, func() (bool, error) {
		in, err := inputStats(base)
		return err == nil && in.Queued == 0 && !in.InFlight, err
	})
	close(stop)
	<-done
	mu.Lock()
	maxQueued, inFlight := 0, 0
	for _, q := range polls {
		maxQueued = max(maxQueued, q.queued)
		if q.inFlight {
			inFlight++
		}
	}
	t.Logf("%d polls of the queue (%d failed): at most %d command queued; one in flight in %d of them", len(polls), errs, maxQueued, inFlight)
	if maxQueued > 1 || inFlight == 0 {
		t.Errorf("%d commands queued at most during and after the burst (one in flight in %d of %d polls); want at most one behind the one in flight",
			maxQueued, inFlight, len(polls))
	}
	mu.Unlock()
	in, err := inputStats(base)
	if err != nil {
		t.Fatal(err)
	}
	if in.Superseded == 0 || in.Refused != 0 {
		t.Errorf("input stats %+v: want moves superseded, none refused", in)
	}

	released := p.mark()
	p.mouse("mouseReleased", x1, y1, 0, 0)
	touches := waitTouchUp(t, sim, from, "the drag's up on the device")
	first, last := touches[0], touches[len(touches)-1]
	moves := 0
	for _, e := range touches {
		if e.Source != "" || e.Pointer != 0 || e.Gesture != first.Gesture {
			t.Errorf("in the drag: %+v", e)
		}
		if e.Action == devicesim.ActionMove {
			moves++
		}
	}
	t.Logf("%d mouse moves arrived as %d motionevent MOVEs (%d superseded in the service); %d events before the burst ended, %d before the up",
		burst, moves, in.Superseded, burstEnd-from, released-from)
	if first.Action != devicesim.ActionDown || first.Gesture == 0 || last.Action != devicesim.ActionUp ||
		!nearPixel(last.X, x1, w) || !nearPixel(last.Y, y1, h) || moves == 0 || moves >= burst {
		t.Errorf("the drag arrived as:\n%s", describeEvents(touches))
	}
	// The up is the last command: nothing follows it.
	if n := len(eventsSince(sim, released, "")); n != 1 {
		t.Errorf("%d events after the mouse-up, want the up alone:\n%s", n, describeEvents(eventsSince(sim, released, "")))
	}
}
