package rtc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/media"
)

// inputFrom waits for the device's next input.
func inputFrom(t *testing.T, d *fakeDevice) media.Input {
	t.Helper()
	select {
	case m := <-d.inputs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no input reached the device")
		return media.Input{}
	}
}

// decodeReply parses a server reply.
func decodeReply(t *testing.T, s string) inputReply {
	t.Helper()
	var r inputReply
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("reply %q: %v", s, err)
	}
	return r
}

func TestInputReachesDeviceAndControlIsArbitrated(t *testing.T) {
	var (
		reportsMu sync.Mutex
		reports   []string
	)
	cfg := testConfig()
	cfg.OnClientReport = func(deviceID string, raw json.RawMessage) {
		reportsMu.Lock()
		reports = append(reports, deviceID+" "+string(raw))
		reportsMu.Unlock()
	}
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	a, sa, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	b, sb, _ := connect(t, r.m, "dev1", "bob", clientOptions{plid: s264.plid})

	// A's first input takes control.
	a.send(`{"type":"tap","x":0.5,"y":0.25}`)
	if m := inputFrom(t, dev); m.Type != InputTap || m.X != 0.5 || m.Y != 0.25 {
		t.Errorf("tap arrived as %+v", m)
	}
	if !sa.Info().Controller || sb.Info().Controller {
		t.Error("A should control the device")
	}
	// B's input is refused.
	b.send(`{"type":"tap","x":0.1,"y":0.1}`)
	if rep := decodeReply(t, b.reply()); rep.Type != "error" || rep.Message != msgNotController {
		t.Errorf("B's refused input: reply %+v", rep)
	}
	// B takes control; A hears it lost it, and its input is refused.
	b.send(`{"type":"control"}`)
	if rep := decodeReply(t, b.reply()); rep.Type != "control" || rep.State != "granted" {
		t.Errorf("control reply %+v", rep)
	}
	if rep := decodeReply(t, a.reply()); rep.Type != "control" || rep.State != "revoked" {
		t.Errorf("A's notice %+v", rep)
	}
	a.send(`{"type":"key","key":"KEYCODE_HOME"}`)
	if rep := decodeReply(t, a.reply()); rep.Message != msgNotController {
		t.Errorf("A's refused key: reply %+v", rep)
	}
	b.send(`{"type":"swipe","x":0.1,"y":0.2,"x2":0.9,"y2":0.8,"durationMs":250}`)
	if m := inputFrom(t, dev); m.Type != InputSwipe || m.X != 0.1 || m.Y != 0.2 || m.X2 != 0.9 || m.Y2 != 0.8 || m.Duration != 250*time.Millisecond {
		t.Errorf("swipe arrived as %+v", m)
	}
	b.send(`{"type":"longpress","x":0.3,"y":0.4}`)
	if m := inputFrom(t, dev); m.Type != InputLongPress || m.Duration != DefaultLongPressDuration {
		t.Errorf("long press arrived as %+v", m)
	}
	b.send(`{"type":"key","key":"KEYCODE_BACK"}`)
	if m := inputFrom(t, dev); m.Type != InputKey || m.Key != "KEYCODE_BACK" {
		t.Errorf("key arrived as %+v", m)
	}
	// B gives control up, and takes it again while nobody holds it: A
	// hears nothing of either.
	b.send(`{"type":"release"}`)
	if rep := decodeReply(t, b.reply()); rep.Type != "control" || rep.State != "released" {
		t.Errorf("release reply %+v", rep)
	}
	if sa.Info().Controller || sb.Info().Controller {
		t.Error("nobody should control the device after B's release")
	}
	b.send(`{"type":"control"}`)
	if rep := decodeReply(t, b.reply()); rep.Type != "control" || rep.State != "granted" {
		t.Errorf("control reply %+v", rep)
	}
	if sa.Info().Controller || !sb.Info().Controller {
		t.Error("B should control the device")
	}
	// B leaves: control is free again, and A's text goes through.
	if err := r.m.Delete(sb.ID()); err != nil {
		t.Fatal(err)
	}
	a.send(`{"type":"text","text":"hello world"}`)
	if m := inputFrom(t, dev); m.Type != InputText || m.Text != "hello world" {
		t.Errorf("text arrived as %+v", m)
	}
	if !sa.Info().Controller {
		t.Error("A should control the device after B left")
	}
	// Reports go to the hook; pings are answered.
	a.send(`{"type":"latency","glassToGlassMs":42}`)
	a.send(`{"type":"ping","t":12345}`)
	if rep := decodeReply(t, a.reply()); rep.Type != "pong" || string(rep.T) != "12345" {
		t.Errorf("pong %+v", rep)
	}
	reportsMu.Lock()
	got := strings.Join(reports, "\n")
	reportsMu.Unlock()
	if got != `dev1 {"type":"latency","glassToGlassMs":42}` {
		t.Errorf("reports: %q", got)
	}
	if st := sa.Info().Stats; st.Inputs != 2 || st.InputErrors != 1 || st.Reports != 1 {
		t.Errorf("A's stats %+v", st)
	}
}

func TestHostileInputGetsErrorReplies(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	dev.inputErr = nil
	c, s, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	hostile := []string{
		``, `{`, `null`, `[]`, `"tap"`, `{"type":1}`, `{"type":"tap"}`,
		`{"type":"tap","x":2,"y":0}`, `{"type":"tap","x":-0.1,"y":0}`, `{"type":"tap","x":1e400,"y":0}`,
		`{"type":"tap","x":"0.5","y":0.5}`, `{"type":"swipe","x":0,"y":0,"x2":1}`,
		`{"type":"swipe","x":0,"y":0,"x2":1,"y2":1,"durationMs":0}`,
		`{"type":"longpress","x":0,"y":0,"durationMs":1e9}`,
		`{"type":"key","key":"$(reboot)"}`, `{"type":"key","key":"KEYCODE_BACK; rm -rf /"}`, `{"type":"key","key":"1001"}`,
		`{"type":"text","text":""}`, `{"type":"text","text":"a\u0000b"}`, `{"type":"text","text":"line\nbreak"}`,
		`{"type":"text","text":"` + strings.Repeat("x", MaxInputText+1) + `"}`,
		`{"type":"reboot"}`, `{"type":"ping","t":"` + strings.Repeat("9", 100) + `"}`,
		"\xff\xfe", `{"type":"tap","x":0.5,"y":0.5}` + strings.Repeat(" ", MaxInputMessage),
		`{"type":"touch","action":"hover","id":0,"x":0,"y":0}`, `{"type":"touch","action":"down","id":10,"x":0,"y":0}`,
		`{"type":"touch","action":"move","id":0,"x":0.5,"y":1.5}`, `{"type":"touch","action":"down","id":0,"x":0,"y":0,"pressure":2}`,
		`{"type":"scroll","x":0.5,"y":0.5,"dy":17}`, `{"type":"scroll","x":0.5,"y":0.5}`,
		`{"type":"key","key":"29","action":"move"}`, `{"type":"key","key":"29","meta":-1}`, `{"type":"key","key":"29","action":"up","repeat":1}`,
		`{"type":"clipboard","text":"` + strings.Repeat("x", MaxClipboardText+1) + `"}`, `{"type":"clipboard","text":"a\u0007"}`,
		`{"type":"rotate","rotation":4}`, `{"type":"rotate"}`, `{"type":"screen"}`, `{"type":"screen","on":"yes"}`,
	}
	for _, h := range hostile {
		if h == "" {
			c.send(`{"type":"ping"}`) // waits for the channel to open
			if rep := decodeReply(t, c.reply()); rep.Type != "pong" {
				t.Fatalf("ping: %+v", rep)
			}
			if err := c.dc.Send([]byte{}); err != nil {
				t.Fatal(err)
			}
		} else {
			c.send(h)
		}
		if rep := decodeReply(t, c.reply()); rep.Type != "error" || rep.Message == "" {
			t.Errorf("message %q: reply %+v", truncate(h, 40), rep)
		}
	}
	select {
	case m := <-dev.inputs:
		t.Errorf("hostile input reached the device: %+v", m)
	default:
	}
	// The session survives and still takes valid input.
	c.send(`{"type":"tap","x":1,"y":0}`)
	if m := inputFrom(t, dev); m.Type != InputTap || m.X != 1 {
		t.Errorf("tap after hostile input arrived as %+v", m)
	}
	eventually(t, "the input to be counted", func() bool { return s.Info().Stats.Inputs == 1 })
	if st := s.Info().Stats; st.InputErrors != uint64(len(hostile)) {
		t.Errorf("stats %+v, want %d errors", st, len(hostile))
	}
}

func TestDeviceInputErrorIsReplied(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	dev.inputErr = errors.New("adb: device offline")
	c, _, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	c.send(`{"type":"tap","x":0.5,"y":0.5}`)
	if rep := decodeReply(t, c.reply()); rep.Type != "error" || !strings.Contains(rep.Message, "device offline") {
		t.Errorf("reply %+v", rep)
	}
}

// anyReply is any message the server sends on the input channel.
type anyReply struct {
	Type    string          `json:"type"`
	Message string          `json:"message"`
	State   string          `json:"state"`
	T       json.RawMessage `json:"t"`
	Text    *string         `json:"text"`
	Method  string          `json:"method"`
	Slow    *bool           `json:"slow"`
	Reason  string          `json:"reason"`
	SDK     int             `json:"sdk"`
}

// replyOf waits for the next reply of type typ, skipping input state
// notices ("input"), which come when the device's state changes; any
// other reply first is an error.
func replyOf(t *testing.T, c *client, typ string) anyReply {
	t.Helper()
	for {
		raw := c.reply()
		var r anyReply
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			t.Fatalf("reply %q: %v", raw, err)
		}
		if r.Type == typ {
			return r
		}
		if r.Type != "input" {
			t.Fatalf("reply %s while waiting for a %q one", raw, typ)
		}
	}
}

func TestStreamedInputReachesDevice(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	a, sa, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	b, _, _ := connect(t, r.m, "dev1", "bob", clientOptions{plid: s264.plid})
	// A clipboard of 64 KiB that JSON escapes to twice its size: the
	// largest message there is.
	big := strings.Repeat(`"`, MaxClipboardText)
	bigMsg, _ := json.Marshal(map[string]any{"type": "clipboard", "text": big, "paste": true})
	for _, tc := range []struct {
		msg  string
		want media.Input
	}{
		{`{"type":"touch","action":"down","id":0,"x":0.5,"y":0.25}`, media.Input{Type: InputTouch, Action: "down", X: 0.5, Y: 0.25, Pressure: 1}},
		{`{"type":"touch","action":"down","id":1,"x":0.5,"y":0.75,"pressure":0.5}`, media.Input{Type: InputTouch, Action: "down", Pointer: 1, X: 0.5, Y: 0.75, Pressure: 0.5}},
		{`{"type":"touch","action":"move","id":0,"x":0.5,"y":0.2}`, media.Input{Type: InputTouch, Action: "move", X: 0.5, Y: 0.2, Pressure: 1}},
		{`{"type":"touch","action":"cancel","id":1,"x":0.5,"y":0.8}`, media.Input{Type: InputTouch, Action: "cancel", Pointer: 1, X: 0.5, Y: 0.8}},
		{`{"type":"touch","action":"up","id":0,"x":0.5,"y":0.2}`, media.Input{Type: InputTouch, Action: "up", X: 0.5, Y: 0.2}},
		{`{"type":"scroll","x":0.5,"y":0.5,"dy":-2.5}`, media.Input{Type: InputScroll, X: 0.5, Y: 0.5, DY: -2.5}},
		{`{"type":"key","key":"29","action":"down","meta":4096,"repeat":2}`, media.Input{Type: InputKey, Key: "29", Action: "down", Meta: 0x1000, Repeat: 2}},
		{`{"type":"key","key":"KEYCODE_A","action":"up","meta":12288}`, media.Input{Type: InputKey, Key: "KEYCODE_A", Action: "up", Meta: 0x3000}},
		{`{"type":"text","text":"héllo 你好 👋"}`, media.Input{Type: InputText, Text: "héllo 你好 👋"}},
		{`{"type":"clipboard","text":"line 1\nline 2","paste":true}`, media.Input{Type: InputClipboard, Text: "line 1\nline 2", Paste: true}},
		{string(bigMsg), media.Input{Type: InputClipboard, Text: big, Paste: true}},
		{`{"type":"rotate","rotation":3}`, media.Input{Type: InputRotate, Rotation: 3}},
		{`{"type":"rotate","rotation":-1}`, media.Input{Type: InputRotate, Rotation: media.RotationAuto}},
		{`{"type":"screen","on":false}`, media.Input{Type: InputScreen}},
	} {
		a.send(tc.msg)
		if m := inputFrom(t, dev); m != tc.want {
			t.Errorf("%s arrived as %+v", truncate(tc.msg, 80), truncate(fmt.Sprintf("%+v", m), 200))
		}
	}
	if len(bigMsg) <= MaxClipboardText*2 || len(bigMsg) > MaxInputMessage {
		t.Errorf("the big clipboard message has %d bytes", len(bigMsg))
	}
	// Control is arbitrated for the new kinds as for the others.
	b.send(`{"type":"touch","action":"down","id":0,"x":0.1,"y":0.1}`)
	if rep := replyOf(t, b, "error"); rep.Message != msgNotController {
		t.Errorf("B's touch: reply %+v", rep)
	}
	eventually(t, "A's input to be counted", func() bool { return sa.Info().Stats.Inputs == 14 })
}

func TestClipboardAndInputNotices(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	dev.clipboard = "on the device ✓"
	dev.notify(media.InputNotice{State: &media.InputState{Method: "shell", Slow: true, Reason: "the agent did not start", SDK: 30}})
	a, sa, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	b, sb, _ := connect(t, r.m, "dev1", "bob", clientOptions{plid: s264.plid})
	v, sv := connectReq(t, r.m, CreateRequest{DeviceID: "dev1", UserID: "v", Token: "wall", ViewOnly: true}, clientOptions{plid: s264.plid})

	// Each session hears the device's input state as its channel opens.
	for _, c := range []*client{a, b, v} {
		c.send(`{"type":"ping","t":1}`) // waits for the channel to open
		got := map[string]anyReply{}
		for range 2 {
			r := decodeAny(t, c.reply())
			got[r.Type] = r
		}
		st, ok := got["input"]
		if !ok || st.Method != "shell" || st.Slow == nil || !*st.Slow || st.Reason != "the agent did not start" || st.SDK != 30 {
			t.Errorf("input state %+v", got)
		}
		if _, ok := got["pong"]; !ok {
			t.Errorf("no pong: %+v", got)
		}
	}
	eventually(t, "three subscriptions", func() bool { return dev.subscribers() == 3 })

	// clipboard-get: any viewer that may send input reads the clipboard,
	// without taking control; a view-only one is refused.
	a.send(`{"type":"tap","x":0.5,"y":0.5}`)
	inputFrom(t, dev)
	b.send(`{"type":"clipboard-get"}`)
	if rep := replyOf(t, b, "clipboard"); rep.Text == nil || *rep.Text != "on the device ✓" {
		t.Errorf("clipboard-get: %+v", rep)
	}
	if sb.Info().Controller || !sa.Info().Controller {
		t.Error("clipboard-get moved control")
	}
	v.send(`{"type":"clipboard-get"}`)
	if rep := replyOf(t, v, "error"); rep.Message != msgViewOnly {
		t.Errorf("a view-only clipboard-get: %+v", rep)
	}
	for _, msg := range []string{
		`{"type":"touch","action":"down","id":0,"x":0.1,"y":0.1}`, `{"type":"scroll","x":0.1,"y":0.1,"dy":1}`,
		`{"type":"key","key":"29","action":"down"}`, `{"type":"clipboard","text":"x","paste":true}`,
		`{"type":"rotate","rotation":1}`, `{"type":"screen","on":true}`,
	} {
		v.send(msg)
		if rep := replyOf(t, v, "error"); rep.Message != msgViewOnly {
			t.Errorf("%s from a view-only session: %+v", msg, rep)
		}
	}

	// The device's clipboard changes: the viewers that may send input
	// hear it, intact; the view-only one does not (its next message is
	// the state change after it).
	copied := `copied <&> on the device` + "\n\t\"line 2\""
	dev.notify(media.InputNotice{Clipboard: &copied})
	dev.notify(media.InputNotice{State: &media.InputState{Method: "agent", SDK: 30}})
	for _, c := range []*client{a, b} {
		if rep := replyOf(t, c, "clipboard"); rep.Text == nil || *rep.Text != copied {
			t.Errorf("clipboard notice %+v", rep)
		}
	}
	if rep := decodeAny(t, v.reply()); rep.Type != "input" || rep.Method != "agent" || rep.Slow == nil || *rep.Slow {
		t.Errorf("the view-only session's next message: %+v", rep)
	}
	// Too large a clipboard is not sent: an error says so.
	huge := strings.Repeat("x", MaxClipboardText+1)
	dev.notify(media.InputNotice{Clipboard: &huge})
	if rep := replyOf(t, a, "error"); !strings.Contains(rep.Message, "clipboard holds") {
		t.Errorf("too large a clipboard: %+v", rep)
	}
	// A device that cannot read its clipboard: an error reply.
	dev.noticeMu.Lock()
	dev.clipErr = fmt.Errorf("device: clipboard through the input command: %w", media.ErrUnsupported)
	dev.noticeMu.Unlock()
	a.send(`{"type":"clipboard-get"}`)
	if rep := replyOf(t, a, "error"); !strings.Contains(rep.Message, "clipboard failed") || !strings.Contains(rep.Message, "not supported") {
		t.Errorf("clipboard-get on a device without: %+v", rep)
	}

	// Sessions that end stop their subscriptions.
	for _, s := range []*Session{sa, sb, sv} {
		if err := r.m.Delete(s.ID()); err != nil {
			t.Fatal(err)
		}
	}
	if n := dev.subscribers(); n != 0 {
		t.Errorf("%d notice subscriptions left after the sessions closed", n)
	}
}

// decodeAny parses any server message.
func decodeAny(t *testing.T, s string) anyReply {
	t.Helper()
	var r anyReply
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("reply %q: %v", s, err)
	}
	return r
}

func TestParseInputMessage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want InputMessage
	}{
		{`{"type":"tap","x":0,"y":1}`, InputMessage{Input: media.Input{Type: InputTap, X: 0, Y: 1}}},
		{` {"type":"swipe","x":0.1,"y":0.2,"x2":0.3,"y2":0.4} `, InputMessage{Input: media.Input{Type: InputSwipe, X: 0.1, Y: 0.2, X2: 0.3, Y2: 0.4, Duration: DefaultSwipeDuration}}},
		{`{"type":"swipe","x":0,"y":0,"x2":1,"y2":1,"durationMs":60000}`, InputMessage{Input: media.Input{Type: InputSwipe, X2: 1, Y2: 1, Duration: time.Minute}}},
		{`{"type":"longpress","x":0.5,"y":0.5,"durationMs":1.5}`, InputMessage{Input: media.Input{Type: InputLongPress, X: 0.5, Y: 0.5, Duration: 1500 * time.Microsecond}}},
		{`{"type":"key","key":"4"}`, InputMessage{Input: media.Input{Type: InputKey, Key: "4"}}},
		{`{"type":"key","key":"KEYCODE_VOLUME_UP"}`, InputMessage{Input: media.Input{Type: InputKey, Key: "KEYCODE_VOLUME_UP"}}},
		{`{"type":"text","text":"héllo wörld 😀"}`, InputMessage{Input: media.Input{Type: InputText, Text: "héllo wörld 😀"}}},
		{`{"type":"control","extra":true}`, InputMessage{Input: media.Input{Type: InputControl}}},
		{`{"type":"release"}`, InputMessage{Input: media.Input{Type: InputRelease}}},
		// Touch: pressure 1 while down by default, 0 when lifted.
		{`{"type":"touch","action":"down","id":0,"x":0.5,"y":0.5}`, InputMessage{Input: media.Input{Type: InputTouch, Action: "down", X: 0.5, Y: 0.5, Pressure: 1}}},
		{`{"type":"touch","action":"move","id":9,"x":1,"y":0,"pressure":0.25}`, InputMessage{Input: media.Input{Type: InputTouch, Action: "move", Pointer: 9, X: 1, Pressure: 0.25}}},
		{`{"type":"touch","action":"up","id":3,"x":0,"y":1}`, InputMessage{Input: media.Input{Type: InputTouch, Action: "up", Pointer: 3, Y: 1}}},
		{`{"type":"touch","action":"cancel","id":1e0,"x":0,"y":1}`, InputMessage{Input: media.Input{Type: InputTouch, Action: "cancel", Pointer: 1, Y: 1}}},
		{`{"type":"touch","action":"up","id":0,"x":0,"y":1,"pressure":0.5}`, InputMessage{Input: media.Input{Type: InputTouch, Action: "up", Y: 1, Pressure: 0.5}}},
		// Scroll: notches, either may be absent.
		{`{"type":"scroll","x":0.5,"y":0.5,"dy":16}`, InputMessage{Input: media.Input{Type: InputScroll, X: 0.5, Y: 0.5, DY: 16}}},
		{`{"type":"scroll","x":0,"y":0,"dx":-16,"dy":0.25}`, InputMessage{Input: media.Input{Type: InputScroll, DX: -16, DY: 0.25}}},
		// Key: a press as before, or down and up with meta state.
		{`{"type":"key","key":"29","action":"down","meta":2147483647,"repeat":1000}`, InputMessage{Input: media.Input{Type: InputKey, Key: "29", Action: "down", Meta: 0x7fffffff, Repeat: 1000}}},
		{`{"type":"key","key":"KEYCODE_DEL","action":"up","meta":0,"repeat":0}`, InputMessage{Input: media.Input{Type: InputKey, Key: "KEYCODE_DEL", Action: "up"}}},
		{`{"type":"key","key":"66","meta":65537}`, InputMessage{Input: media.Input{Type: InputKey, Key: "66", Meta: 0x10001}}},
		// Clipboard: lines and tabs are fine; paste is optional.
		{`{"type":"clipboard","text":"a\tb\r\nc 你好"}`, InputMessage{Input: media.Input{Type: InputClipboard, Text: "a\tb\r\nc 你好"}}},
		{`{"type":"clipboard","text":"x","paste":true}`, InputMessage{Input: media.Input{Type: InputClipboard, Text: "x", Paste: true}}},
		{`{"type":"clipboard","text":"` + strings.Repeat("é", MaxClipboardText/2) + `"}`, InputMessage{Input: media.Input{Type: InputClipboard, Text: strings.Repeat("é", MaxClipboardText/2)}}},
		{`{"type":"clipboard-get"}`, InputMessage{Input: media.Input{Type: InputClipboardGet}}},
		{`{"type":"rotate","rotation":0}`, InputMessage{Input: media.Input{Type: InputRotate}}},
		{`{"type":"rotate","rotation":-1}`, InputMessage{Input: media.Input{Type: InputRotate, Rotation: -1}}},
		{`{"type":"screen","on":true}`, InputMessage{Input: media.Input{Type: InputScreen, On: true}}},
		{`{"type":"screen","on":false}`, InputMessage{Input: media.Input{Type: InputScreen}}},
	} {
		got, err := ParseInputMessage([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", truncate(tc.in, 80), err)
			continue
		}
		if got.Input != tc.want.Input {
			t.Errorf("%s: got %+v, want %+v", truncate(tc.in, 80), truncate(fmt.Sprintf("%+v", got.Input), 200), truncate(fmt.Sprintf("%+v", tc.want.Input), 200))
		}
	}
	for _, bad := range []string{
		`{"type":"key","key":"04"}`, `{"type":"key","key":"-1"}`, `{"type":"text","text":"\u0085"}`, `{"type":"tap","x":null,"y":0}`,
		// touch
		`{"type":"touch","id":0,"x":0,"y":0}`,                                   // no action
		`{"type":"touch","action":"DOWN","id":0,"x":0,"y":0}`,                   // not an action
		`{"type":"touch","action":"down","x":0,"y":0}`,                          // no id
		`{"type":"touch","action":"down","id":-1,"x":0,"y":0}`,                  // id out of range
		`{"type":"touch","action":"down","id":10,"x":0,"y":0}`,                  // id out of range
		`{"type":"touch","action":"down","id":0.5,"x":0,"y":0}`,                 // id not whole
		`{"type":"touch","action":"down","id":"0","x":0,"y":0}`,                 // id not a number
		`{"type":"touch","action":"up","id":0}`,                                 // no point
		`{"type":"touch","action":"move","id":0,"x":1.01,"y":0}`,                // x out of range
		`{"type":"touch","action":"move","id":0,"x":0,"y":-1e-9}`,               // y out of range
		`{"type":"touch","action":"down","id":0,"x":0,"y":0,"pressure":-0.1}`,   // pressure out of range
		`{"type":"touch","action":"down","id":0,"x":0,"y":0,"pressure":1.5}`,    // pressure out of range
		`{"type":"touch","action":"down","id":0,"x":0,"y":0,"pressure":1e999}`,  // not finite
		`{"type":"touch","action":"down","id":1e999,"x":0,"y":0}`,               // not finite
		`{"type":"touch","action":"down","id":0,"x":0,"y":0,"pressure":"high"}`, // not a number
		// scroll
		`{"type":"scroll","x":0.5,"y":0.5}`,               // no notches
		`{"type":"scroll","x":0.5,"y":0.5,"dx":0,"dy":0}`, // no notches
		`{"type":"scroll","dy":1}`,                        // no point
		`{"type":"scroll","x":0.5,"y":0.5,"dy":16.5}`,     // too far
		`{"type":"scroll","x":0.5,"y":0.5,"dx":-17}`,      // too far
		`{"type":"scroll","x":0.5,"y":0.5,"dx":1e999}`,    // not finite
		`{"type":"scroll","x":0.5,"y":2,"dy":1}`,          // point out of range
		`{"type":"scroll","x":0.5,"y":0.5,"dy":[1]}`,      // not a number
		// key
		`{"type":"key","action":"down"}`,                      // no key
		`{"type":"key","key":"29","action":"press"}`,          // not an action
		`{"type":"key","key":"29","action":"cancel"}`,         // not a key action
		`{"type":"key","key":"29","action":"down","meta":-1}`, // meta out of range
		`{"type":"key","key":"29","action":"down","meta":2147483648}`,
		`{"type":"key","key":"29","action":"down","meta":1.5}`, // not whole
		`{"type":"key","key":"29","action":"down","repeat":1001}`,
		`{"type":"key","key":"29","action":"down","repeat":-1}`,
		`{"type":"key","key":"29","repeat":1}`,               // repeat without down
		`{"type":"key","key":"29","action":"up","repeat":1}`, // repeat without down
		`{"type":"key","key":"29","action":1}`,               // not a string
		// clipboard
		`{"type":"clipboard"}`, `{"type":"clipboard","text":""}`,
		`{"type":"clipboard","text":"a\u0000b"}`, `{"type":"clipboard","text":"a\u001bb"}`, `{"type":"clipboard","text":"\u0085"}`,
		`{"type":"clipboard","text":"` + strings.Repeat("x", MaxClipboardText+1) + `"}`,
		`{"type":"clipboard","text":"x","paste":"yes"}`,
		`{"type":"clipboard","text":"` + strings.Repeat(`\"`, MaxClipboardText/2) + `"}` + strings.Repeat(" ", MaxInputMessage), // too long a message
		// rotate and screen
		`{"type":"rotate"}`, `{"type":"rotate","rotation":4}`, `{"type":"rotate","rotation":-2}`, `{"type":"rotate","rotation":1.5}`,
		`{"type":"rotate","rotation":"auto"}`,
		`{"type":"screen"}`, `{"type":"screen","on":1}`, `{"type":"screen","on":null}`,
		`{"type":"clipboard_get"}`,
	} {
		if _, err := ParseInputMessage([]byte(bad)); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: err %v, want ErrInvalidInput", truncate(bad, 80), err)
		}
	}
}

func TestIsGesture(t *testing.T) {
	for typ, want := range map[string]bool{
		InputTap: true, InputSwipe: true, InputLongPress: true, InputKey: true, InputText: true,
		InputTouch: true, InputScroll: true, InputClipboard: true, InputRotate: true, InputScreen: true,
		InputClipboardGet: false, InputControl: false, InputRelease: false, InputLatency: false, InputReport: false, InputPing: false,
	} {
		if got := (InputMessage{Input: media.Input{Type: typ}}).IsGesture(); got != want {
			t.Errorf("IsGesture(%s) = %v", typ, got)
		}
	}
}
