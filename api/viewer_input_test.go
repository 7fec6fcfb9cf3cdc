package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/chromium"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/rtc"

	"github.com/pion/webrtc/v4"
)

// vp8Picture is a 360x640 VP8 keyframe of one colour (#406080), as
// libvpx makes it: a picture the page can point at.
func vp8Picture() []byte {
	b, err := hex.DecodeString("9033009d012a6801800209c70885858899848835020274f23a3ad46" +
		strings.Repeat("1ec9ce", 130) + "1ec9cb800fed071581780")
	if err != nil {
		panic(err)
	}
	return b
}

// pageCDP sends the page of a chromium.Browser input through the
// DevTools Input domain (chromium.Browser.CallPage), failing the test on
// an error.
type pageCDP struct{ b *chromium.Browser }

func openPageCDP(t testing.TB, b *chromium.Browser) *pageCDP {
	t.Helper()
	return &pageCDP{b: b}
}

// call calls a method of the page and waits for its answer.
func (c *pageCDP) call(t testing.TB, method string, params map[string]any) {
	t.Helper()
	if err := c.b.CallPage(context.Background(), method, params, nil); err != nil {
		t.Fatal(err)
	}
}

// mouse dispatches a mouse event at page coordinates.
func (c *pageCDP) mouse(t testing.TB, typ string, x, y float64, buttons, modifiers int) {
	t.Helper()
	p := map[string]any{"type": typ, "x": x, "y": y, "buttons": buttons, "modifiers": modifiers, "button": "none"}
	if typ == "mousePressed" || typ == "mouseReleased" || buttons != 0 {
		p["button"] = "left"
	}
	if typ == "mousePressed" || typ == "mouseReleased" {
		p["clickCount"] = 1
	}
	c.call(t, "Input.dispatchMouseEvent", p)
}

// key dispatches a key's down and up.
func (c *pageCDP) key(t testing.TB, key, code string, vk, modifiers int, text string) {
	t.Helper()
	down := map[string]any{"type": "rawKeyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk, "modifiers": modifiers}
	if text != "" {
		down["type"], down["text"], down["unmodifiedText"] = "keyDown", text, text
	}
	c.call(t, "Input.dispatchKeyEvent", down)
	c.call(t, "Input.dispatchKeyEvent", map[string]any{"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk, "modifiers": modifiers})
}

// inputRecorder keeps what the pages send on their input channels, as
// the service would parse it, and answers clipboard-get with clipboard.
type inputRecorder struct {
	mu        sync.Mutex
	msgs      []recorded
	dcs       map[string]*webrtc.DataChannel
	clipboard string
}

type recorded struct {
	session string
	at      time.Time
	raw     string
	m       rtc.InputMessage
	err     error
}

func (r *inputRecorder) record(session string, dc *webrtc.DataChannel, data []byte) {
	m, err := rtc.ParseInputMessage(data)
	r.mu.Lock()
	r.msgs = append(r.msgs, recorded{session: session, at: time.Now(), raw: string(data), m: m, err: err})
	if r.dcs == nil {
		r.dcs = map[string]*webrtc.DataChannel{}
	}
	r.dcs[session] = dc
	clip := r.clipboard
	r.mu.Unlock()
	if err == nil && m.Type == rtc.InputClipboardGet {
		b, _ := json.Marshal(map[string]string{"type": "clipboard", "text": clip})
		_ = dc.SendText(string(b))
	}
}

// mark is where the next message will be.
func (r *inputRecorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// since returns the device input (gestures) received from message from
// on, and fails the test on a message the service would refuse.
func (r *inputRecorder) since(t testing.TB, from int) []recorded {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, m := range r.msgs[from:] {
		if m.err != nil {
			t.Fatalf("the page sent %s, which the service refuses: %v", m.raw, m.err)
		}
		if m.m.IsGesture() || m.m.Type == rtc.InputClipboardGet {
			out = append(out, m)
		}
	}
	return out
}

// waitFor waits until the input since from satisfies done.
func (r *inputRecorder) waitFor(t testing.TB, what string, from int, done func([]recorded) bool) []recorded {
	t.Helper()
	var got []recorded
	testutil.Eventually(t, what, time.Minute, func() bool {
		got = r.since(t, from)
		return done(got)
	})
	return got
}

// send sends a message to the page of a session.
func (r *inputRecorder) send(t testing.TB, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	r.mu.Lock()
	var dc *webrtc.DataChannel
	for _, d := range r.dcs {
		dc = d
	}
	r.mu.Unlock()
	if dc == nil {
		t.Fatal("no input channel to send on")
	}
	if err := dc.SendText(string(b)); err != nil {
		t.Fatal(err)
	}
}

func describe(rs []recorded) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.raw + "\n")
	}
	return b.String()
}

// lastIs reports whether the last input is of type typ (and, for touch,
// action).
func lastIs(typ, action string) func([]recorded) bool {
	return func(rs []recorded) bool {
		return len(rs) > 0 && rs[len(rs)-1].m.Type == typ && rs[len(rs)-1].m.Action == action
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.02 }

// TestViewerPageStreamsInput drives the viewer page in headless Chromium
// with the DevTools Input domain and checks what reaches the service's
// side of the input channel: a mouse drag streams its moves while the
// button is down, Ctrl+drag is two fingers, touch is a finger per touch
// point, the wheel scrolls, typed and pasted text arrives intact, keys go
// as key events with their meta state, the buttons and the clipboard
// work both ways, the input state shows, and a view-only token's page
// sends nothing.
func TestViewerPageStreamsInput(t *testing.T) {
	testutil.Deadline(t, 4*time.Minute)
	const secret, wallSecret = "input-secret-0123456789", "wall-secret-0123456789"
	rec := &inputRecorder{}
	sessions := newPionSessions()
	sessions.video = vp8Picture()
	sessions.onInput = rec.record
	t.Cleanup(sessions.closeAll) // after the browser and the server are gone
	s := New(Options{Tokens: []Token{{Name: "page", Secret: secret}, {Name: "wall", Secret: wallSecret, ViewOnly: true}},
		Log: slog.New(slog.DiscardHandler)}, Deps{
		Sessions:    sessions,
		ErrorStatus: func(error) int { return 404 },
		Devices: func(_ context.Context) ([]DeviceView, error) {
			return []DeviceView{{Serial: "dev1", State: "device", Model: "sim"}}, nil
		},
	})
	base := serve(t, s)
	b := chromium.Launch(t)
	defer b.Close()
	open := func(token string) {
		t.Helper()
		if err := b.Navigate(fmt.Sprintf("%s/?device=dev1&token=%s", base, token)); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyErr(t, "the page plays the picture", time.Minute, func() (bool, error) {
			var ok bool
			err := b.Eval(`!!(window.viewer && viewer.connected && document.getElementById("screen").videoWidth === 360)`, &ok)
			return ok, err
		})
	}
	open(secret)
	cdp := openPageCDP(t, b)
	var rect struct{ X, Y, W, H float64 }
	if err := b.Eval(`(() => { const v = document.getElementById("screen"), r = v.getBoundingClientRect();
		const s = Math.min(r.width / v.videoWidth, r.height / v.videoHeight), w = v.videoWidth * s, h = v.videoHeight * s;
		return {X: r.left + (r.width - w) / 2, Y: r.top + (r.height - h) / 2, W: w, H: h}; })()`, &rect); err != nil {
		t.Fatal(err)
	}
	at := func(x, y float64) (float64, float64) { return rect.X + x*rect.W, rect.Y + y*rect.H }
	eval := func(expr string, out any) {
		t.Helper()
		if err := b.Eval(expr, out); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("drag streams moves while the button is down", func(t *testing.T) {
		from := rec.mark()
		x, y := at(0.2, 0.3)
		cdp.mouse(t, "mouseMoved", x, y, 0, 0)
		cdp.mouse(t, "mousePressed", x, y, 1, 0)
		const steps = 10
		for i := 1; i <= steps; i++ {
			time.Sleep(100 * time.Millisecond)
			x, y = at(0.2+0.05*float64(i), 0.3+0.04*float64(i))
			cdp.mouse(t, "mouseMoved", x, y, 1, 0)
		}
		released := time.Now()
		cdp.mouse(t, "mouseReleased", x, y, 0, 0)
		got := rec.waitFor(t, "the touch up", from, lastIs(rtc.InputTouch, "up"))
		if len(got) < 5 {
			t.Fatalf("the drag arrived as:\n%s", describe(got))
		}
		first, last := got[0].m, got[len(got)-1].m
		if first.Action != "down" || first.Pointer != 0 || !near(first.X, 0.2) || !near(first.Y, 0.3) || first.Pressure != 1 {
			t.Errorf("the drag began with %s", got[0].raw)
		}
		if last.Pointer != 0 || !near(last.X, 0.7) || !near(last.Y, 0.7) {
			t.Errorf("the drag ended with %s", got[len(got)-1].raw)
		}
		moves, early, prevX := 0, 0, 0.0
		for _, r := range got[1 : len(got)-1] {
			if r.m.Type != rtc.InputTouch || r.m.Action != "move" || r.m.Pointer != 0 || r.m.X < prevX {
				t.Errorf("in the drag: %s", r.raw)
			}
			prevX = r.m.X
			moves++
			if r.at.Before(released) {
				early++
			}
		}
		t.Logf("%d mouse moves arrived as %d touch moves, %d of them before the button was released", steps, moves, early)
		// Moves are coalesced to the display's frames, not multiplied;
		// and they arrive as the mouse moves, not at its release.
		if moves > steps || early < steps/2 {
			t.Errorf("%d moves, %d of them before the button was released (%d mouse moves):\n%s", moves, early, steps, describe(got))
		}
	})

	t.Run("ctrl drag is two fingers mirrored around the centre", func(t *testing.T) {
		from := rec.mark()
		const ctrl = 2
		x, y := at(0.4, 0.4)
		cdp.mouse(t, "mouseMoved", x, y, 0, ctrl)
		cdp.mouse(t, "mousePressed", x, y, 1, ctrl)
		for i := 1; i <= 5; i++ {
			time.Sleep(50 * time.Millisecond)
			x, y = at(0.4-0.04*float64(i), 0.4-0.04*float64(i))
			cdp.mouse(t, "mouseMoved", x, y, 1, ctrl)
		}
		cdp.mouse(t, "mouseReleased", x, y, 0, ctrl)
		got := rec.waitFor(t, "both fingers up", from, func(rs []recorded) bool {
			ups := 0
			for _, r := range rs {
				if r.m.Action == "up" {
					ups++
				}
			}
			return ups == 2
		})
		downs, moves, ups := map[int]media.Input{}, map[int]int{}, map[int]media.Input{}
		for _, r := range got {
			m := r.m.Input
			if m.Type != rtc.InputTouch {
				t.Fatalf("in the pinch: %s", r.raw)
			}
			switch m.Action {
			case "down":
				if len(ups) > 0 {
					t.Errorf("a finger down after an up: %s", describe(got))
				}
				downs[m.Pointer] = m
			case "move":
				moves[m.Pointer]++
			case "up":
				ups[m.Pointer] = m
			}
		}
		if len(downs) != 2 || len(ups) != 2 || moves[0] == 0 || moves[0] != moves[1] {
			t.Fatalf("the pinch arrived as:\n%s", describe(got))
		}
		if d0, d1 := downs[0], downs[1]; !near(d0.X, 0.4) || !near(d1.X, 0.6) || !near(d1.Y, 0.6) {
			t.Errorf("fingers down at %.3f,%.3f and %.3f,%.3f; want the second mirrored around the centre", d0.X, d0.Y, d1.X, d1.Y)
		}
		if u0, u1 := ups[0], ups[1]; !near(u0.X, 0.2) || !near(u1.X, 0.8) || !near(u1.Y, 0.8) {
			t.Errorf("fingers up at %.3f,%.3f and %.3f,%.3f", u0.X, u0.Y, u1.X, u1.Y)
		}
	})

	t.Run("touch points are fingers", func(t *testing.T) {
		from := rec.mark()
		x0, y0 := at(0.3, 0.5)
		x1, y1 := at(0.7, 0.5)
		cdp.call(t, "Input.dispatchTouchEvent", map[string]any{"type": "touchStart", "touchPoints": []map[string]any{{"x": x0, "y": y0, "id": 7}, {"x": x1, "y": y1, "id": 8}}})
		x0, _ = at(0.2, 0)
		x1, _ = at(0.8, 0)
		cdp.call(t, "Input.dispatchTouchEvent", map[string]any{"type": "touchMove", "touchPoints": []map[string]any{{"x": x0, "y": y0, "id": 7}, {"x": x1, "y": y1, "id": 8}}})
		cdp.call(t, "Input.dispatchTouchEvent", map[string]any{"type": "touchEnd", "touchPoints": []map[string]any{}})
		got := rec.waitFor(t, "both touches up", from, func(rs []recorded) bool {
			n := 0
			for _, r := range rs {
				if r.m.Action == "up" {
					n++
				}
			}
			return n == 2
		})
		fingers := map[int]string{}
		for _, r := range got {
			fingers[r.m.Pointer] += r.m.Action + " "
		}
		if len(fingers) != 2 || !strings.HasPrefix(fingers[0], "down ") || !strings.HasPrefix(fingers[1], "down ") ||
			!strings.HasSuffix(fingers[0], "up ") || !strings.HasSuffix(fingers[1], "up ") {
			t.Errorf("the touches arrived as:\n%s", describe(got))
		}
	})

	t.Run("wheel scrolls", func(t *testing.T) {
		from := rec.mark()
		x, y := at(0.5, 0.6)
		cdp.call(t, "Input.dispatchMouseEvent", map[string]any{"type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": 250})
		cdp.call(t, "Input.dispatchMouseEvent", map[string]any{"type": "mouseWheel", "x": x, "y": y, "deltaX": -100, "deltaY": 0})
		var dx, dy float64
		got := rec.waitFor(t, "the scroll", from, func(rs []recorded) bool {
			dx, dy = 0, 0
			for _, r := range rs {
				dx += r.m.DX
				dy += r.m.DY
			}
			return near(dx, -1) && near(dy, 2.5)
		})
		for _, r := range got {
			if r.m.Type != rtc.InputScroll || !near(r.m.X, 0.5) || !near(r.m.Y, 0.6) {
				t.Errorf("in the scroll: %s", r.raw)
			}
		}
	})

	t.Run("text arrives intact", func(t *testing.T) {
		const typed = "héllo 你好 👋"
		eval(`document.getElementById("keys").focus(), document.activeElement.id`, nil)
		from := rec.mark()
		cdp.call(t, "Input.insertText", map[string]any{"text": typed})
		cdp.key(t, "é", "KeyE", 0, 0, "é")
		cdp.key(t, "👋", "", 0, 0, "👋")
		cdp.key(t, "A", "KeyA", 65, 8, "A") // Shift+A is a capital A
		want := typed + "é👋A"
		var text string
		got := rec.waitFor(t, "the text", from, func(rs []recorded) bool {
			text = ""
			for _, r := range rs {
				text += r.m.Text
			}
			return text == want
		})
		for _, r := range got {
			if r.m.Type != rtc.InputText {
				t.Errorf("in the text: %s", r.raw)
			}
		}
		// A paste goes as text too, its line breaks as Enter.
		from = rec.mark()
		eval(`(() => { const dt = new DataTransfer(); dt.setData("text/plain", "pasted 👋\nline two");
			document.getElementById("keys").dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true})); })()`, nil)
		got = rec.waitFor(t, "the paste", from, func(rs []recorded) bool { return len(rs) == 3 })
		if got[0].m.Text != "pasted 👋" || got[1].m.Type != rtc.InputKey || got[1].m.Key != "66" || got[2].m.Text != "line two" {
			t.Errorf("the paste arrived as:\n%s", describe(got))
		}
	})

	t.Run("keys go as key events with their meta state", func(t *testing.T) {
		from := rec.mark()
		cdp.key(t, "Enter", "Enter", 13, 0, "")
		cdp.key(t, "a", "KeyA", 65, 2, "")              // Ctrl+A
		cdp.key(t, "ArrowLeft", "ArrowLeft", 37, 8, "") // Shift+Left
		cdp.key(t, "Escape", "Escape", 27, 0, "")
		want := []media.Input{
			{Type: rtc.InputKey, Key: "66", Action: "down"}, {Type: rtc.InputKey, Key: "66", Action: "up"},
			{Type: rtc.InputKey, Key: "29", Action: "down", Meta: 0x3000}, {Type: rtc.InputKey, Key: "29", Action: "up", Meta: 0x3000},
			{Type: rtc.InputKey, Key: "21", Action: "down", Meta: 0x41}, {Type: rtc.InputKey, Key: "21", Action: "up", Meta: 0x41},
			{Type: rtc.InputKey, Key: "4", Action: "down"}, {Type: rtc.InputKey, Key: "4", Action: "up"},
		}
		got := rec.waitFor(t, "the keys", from, func(rs []recorded) bool { return len(rs) >= len(want) })
		if len(got) != len(want) {
			t.Fatalf("the keys arrived as:\n%s", describe(got))
		}
		for i, w := range want {
			if got[i].m.Input != w {
				t.Errorf("key event %d: %s, want %+v", i, got[i].raw, w)
			}
		}
	})

	t.Run("buttons", func(t *testing.T) {
		from := rec.mark()
		eval(`["KEYCODE_BACK", "26", "24", "25"].forEach((k) => document.querySelector('button[data-key="' + k + '"]').click());
			document.getElementById("rotate").click(); document.getElementById("rotate").click(); document.getElementById("rotate-auto").click();`, nil)
		want := []media.Input{
			{Type: rtc.InputKey, Key: "KEYCODE_BACK"}, {Type: rtc.InputKey, Key: "26"}, {Type: rtc.InputKey, Key: "24"}, {Type: rtc.InputKey, Key: "25"},
			{Type: rtc.InputRotate, Rotation: 1}, {Type: rtc.InputRotate, Rotation: 2}, {Type: rtc.InputRotate, Rotation: -1},
		}
		got := rec.waitFor(t, "the buttons", from, func(rs []recorded) bool { return len(rs) >= len(want) })
		for i, w := range want {
			if i >= len(got) || got[i].m.Input != w {
				t.Fatalf("the buttons sent:\n%s", describe(got))
			}
		}
	})

	t.Run("clipboard both ways", func(t *testing.T) {
		rec.mu.Lock()
		rec.clipboard = "from the device ✓ <&>\n\tline 2"
		rec.mu.Unlock()
		from := rec.mark()
		eval(`document.getElementById("copy").click()`, nil)
		rec.waitFor(t, "clipboard-get", from, func(rs []recorded) bool { return len(rs) == 1 && rs[0].m.Type == rtc.InputClipboardGet })
		waitEval(t, b, "the device's clipboard in the field",
			`document.getElementById("clip").value === "from the device ✓ <&>\n\tline 2" && viewer.clipboard === document.getElementById("clip").value`)
		// The device's clipboard changes: the field follows.
		rec.send(t, map[string]string{"type": "clipboard", "text": "changed on the device 你好"})
		waitEval(t, b, "the changed clipboard in the field", `document.getElementById("clip").value === "changed on the device 你好"`)
		// Paste to device: the field's text, intact.
		from = rec.mark()
		eval(`document.getElementById("clip").value = "to the device 👋\nline 2\ttab"; document.getElementById("paste").click()`, nil)
		got := rec.waitFor(t, "the clipboard", from, func(rs []recorded) bool { return len(rs) == 1 })
		if m := got[0].m.Input; m.Type != rtc.InputClipboard || m.Text != "to the device 👋\nline 2\ttab" || !m.Paste {
			t.Errorf("paste to device: %s", got[0].raw)
		}
	})

	t.Run("input state", func(t *testing.T) {
		rec.send(t, map[string]any{"type": "input", "method": "shell", "slow": true, "reason": "the agent did not start", "sdk": 30})
		waitEval(t, b, "the slow input shown", `document.getElementById("input-status").textContent.includes("Input is slow on this device (the agent did not start)")
			&& viewer.input.method === "shell" && document.getElementById("s-input").textContent.includes("shell")`)
		rec.send(t, map[string]any{"type": "input", "method": "agent", "slow": false, "sdk": 34})
		waitEval(t, b, "the agent shown", `!document.getElementById("input-status").textContent.includes("slow") && viewer.input.method === "agent"`)
	})

	t.Run("a view-only page sends no input", func(t *testing.T) {
		open(wallSecret)
		waitEval(t, b, "the page knows it is view-only", `viewer.viewOnly === true && document.getElementById("rotate").disabled`)
		from := rec.mark()
		x, y := at(0.5, 0.5)
		cdp.mouse(t, "mouseMoved", x, y, 0, 0)
		cdp.mouse(t, "mousePressed", x, y, 1, 0)
		cdp.mouse(t, "mouseMoved", x+20, y+20, 1, 0)
		cdp.mouse(t, "mouseReleased", x+20, y+20, 0, 0)
		cdp.call(t, "Input.dispatchMouseEvent", map[string]any{"type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": 100})
		cdp.key(t, "Enter", "Enter", 13, 0, "")
		cdp.key(t, "x", "KeyX", 88, 0, "x")
		time.Sleep(time.Second)
		rec.mu.Lock()
		msgs := rec.msgs[from:]
		rec.mu.Unlock()
		for _, m := range msgs {
			if m.m.Type != rtc.InputLatency && m.m.Type != rtc.InputReport && m.m.Type != rtc.InputPing {
				t.Errorf("a view-only page sent %s", m.raw)
			}
		}
	})
	b.Close()
}

// waitEval waits until a JavaScript expression is true in the page.
func waitEval(t *testing.T, b *chromium.Browser, what, expr string) {
	t.Helper()
	testutil.EventuallyErr(t, what, time.Minute, func() (bool, error) {
		var ok bool
		err := b.Eval(`!!(`+expr+`)`, &ok)
		return ok, err
	})
}
