package rtc

import (
	"encoding/json"
	"errors"
	"github.com/cloudphone/media-service/media"
	"strings"
	"sync"
	"testing"
	"time"
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
	} {
		got, err := ParseInputMessage([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got.Type != tc.want.Type || got.X != tc.want.X || got.Y != tc.want.Y || got.X2 != tc.want.X2 || got.Y2 != tc.want.Y2 ||
			got.Duration != tc.want.Duration || got.Key != tc.want.Key || got.Text != tc.want.Text {
			t.Errorf("%s: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{`{"type":"key","key":"04"}`, `{"type":"key","key":"-1"}`, `{"type":"text","text":"\u0085"}`, `{"type":"tap","x":null,"y":0}`} {
		if _, err := ParseInputMessage([]byte(bad)); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: err %v, want ErrInvalidInput", bad, err)
		}
	}
}
