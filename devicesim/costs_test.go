package devicesim

import (
	"context"
	"image"
	"image/color"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/agent"
	"github.com/cloudphone/media-service/native"
)

// syncWriter is a buffer for a shell's output.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// runShell runs a command line on the device's shell in this process,
// without adb, and returns its output.
func runShell(d *Device, line string) string {
	var out syncWriter
	sh := &shell{d: d, ctx: context.Background(), out: &out, log: d.log}
	_ = sh.runLine(line)
	return out.b.String()
}

func TestSDKOptions(t *testing.T) {
	for _, tc := range []struct {
		o           Options
		sdk         int
		release, fp string
		wantErr     bool
	}{
		{o: Options{}, sdk: 34, release: "14", fp: "devicesim:14/"},
		{o: Options{SDK: 29}, sdk: 29, release: "10", fp: "devicesim:10/"},
		{o: Options{SDK: 30}, sdk: 30, release: "11", fp: "devicesim:11/"},
		{o: Options{Props: map[string]string{"ro.build.version.sdk": "31"}}, sdk: 31, release: "12"},
		{o: Options{SDK: 20}, wantErr: true},
		{o: Options{SDK: 37}, wantErr: true},
		{o: Options{Agent: "maybe"}, wantErr: true},
	} {
		tc.o.Addr = "127.0.0.1:0"
		d, err := New(tc.o)
		if tc.wantErr {
			if err == nil {
				d.Close()
				t.Errorf("New(%+v) accepted", tc.o)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.opts.SDK != tc.sdk || d.props["ro.build.version.sdk"] != strconv.Itoa(tc.sdk) || d.props["ro.build.version.release"] != tc.release ||
			!strings.Contains(d.props["ro.build.fingerprint"], tc.fp) {
			t.Errorf("%+v: SDK %d, props %q %q %q", tc.o, d.opts.SDK, d.props["ro.build.version.sdk"],
				d.props["ro.build.version.release"], d.props["ro.build.fingerprint"])
		}
		d.Close()
	}
}

func TestCostModel(t *testing.T) {
	a, b := newCostModel("serial"), newCostModel("serial")
	for range 100 {
		x, y := a.uniform(cmdInputMin, cmdInputMax), b.uniform(cmdInputMin, cmdInputMax)
		if x != y {
			t.Fatalf("two models with one seed drew %v and %v", x, y)
		}
		if x < cmdInputMin || x > cmdInputMax {
			t.Fatalf("%v outside %v..%v", x, cmdInputMin, cmdInputMax)
		}
	}
}

// TestInputCosts measures the input command's cost: only lower bounds
// from the model are asserted.
func TestInputCosts(t *testing.T) {
	t.Parallel()
	old := newDevice(t, Options{SDK: 30, Width: 64, Height: 64, Static: true})
	start := time.Now()
	if out := runShell(old, "input tap 10 10"); out != "" {
		t.Fatalf("input tap printed %q", out)
	}
	if took := time.Since(start); took < jvmInputMin {
		t.Fatalf("input tap on API 30 took %v, want at least %v (the Java VM's start)", took, jvmInputMin)
	}
	if ev := old.Events(); len(ev) != 1 || ev[0].Time.Sub(start) < jvmInputMin {
		t.Fatalf("events %+v: injected before the command's start-up", ev)
	}

	d := newDevice(t, Options{Width: 64, Height: 64, Static: true})
	start = time.Now()
	runShell(d, "input tap 1 1; input swipe 1 1 20 20 100; input tap 2 2")
	if took := time.Since(start); took < 3*cmdInputMin+100*time.Millisecond {
		t.Fatalf("three input commands with a 100 ms swipe took %v", took)
	}
	ev := d.Events()
	if len(ev) != 3 || ev[0].X != 1 || ev[1].Kind != InputSwipe || ev[2].X != 2 ||
		ev[2].Time.Sub(ev[1].Time) < 100*time.Millisecond+cmdInputMin {
		t.Fatalf("events %+v, want in order, the last after the swipe's duration", ev)
	}
}

// TestAgentCosts: the agent spends a few milliseconds per event, in order.
func TestAgentCosts(t *testing.T) {
	t.Parallel()
	d := newDevice(t, Options{Width: 64, Height: 64, Static: true})
	var st touchState
	write := func(agent.Message) {}
	start := time.Now()
	const n = 10
	for i := range n {
		a := agent.ActionMove
		if i == 0 {
			a = agent.ActionDown
		}
		if msg := d.handleAgentRequest(context.Background(), agent.Touch{Action: a, X: int32(i), Y: 5}, &st, nil, write); msg != "" {
			t.Fatal(msg)
		}
	}
	if took := time.Since(start); took < n*agentEventMin {
		t.Fatalf("%d events took %v, want at least %v", n, took, n*agentEventMin)
	}
	ev := d.Events()
	for i := 1; i < len(ev); i++ {
		if ev[i].Time.Sub(ev[i-1].Time) < agentEventMin || ev[i].X != i {
			t.Fatalf("events %d and %d: %+v %+v", i-1, i, ev[i-1], ev[i])
		}
	}
}

func TestInputTextKeyMap(t *testing.T) {
	t.Parallel()
	for _, sdk := range []int{34, 30} {
		d := newDevice(t, Options{SDK: sdk, Width: 64, Height: 64, Static: true, NoCosts: true})
		out := runShell(d, "input text 'café' && echo ok || echo fail")
		want := "\nException occurred while executing 'text':\njava.lang.NullPointerException: Attempt to get length of null array\n"
		if sdk == 30 {
			want = "java.lang.NullPointerException: Attempt to get length of null array\n"
		}
		if !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "fail\n") {
			t.Errorf("API %d: input text café printed %q", sdk, out)
		}
		for _, s := range []string{"你", "🙂", "\x01"} {
			if out := runShell(d, "input text '"+s+"' || echo fail"); !strings.HasSuffix(out, "fail\n") {
				t.Errorf("API %d: input text %q printed %q", sdk, s, out)
			}
		}
		if n := len(d.Events()); n != 0 {
			t.Fatalf("API %d: %d events from text the keyboard cannot type", sdk, n)
		}
		if out := runShell(d, "input text 'a%sb\tc~' && echo ok"); out != "ok\n" {
			t.Fatalf("API %d: input text of ASCII printed %q", sdk, out)
		}
		if ev := d.Events(); len(ev) != 1 || ev[0].Text != "a b\tc~" {
			t.Fatalf("API %d: events %+v", sdk, ev)
		}
	}
}

func TestMotionEvent(t *testing.T) {
	t.Parallel()
	d := newDevice(t, Options{Width: 360, Height: 640, Static: true, NoCosts: true})
	out := runShell(d, "input motionevent DOWN 100 200; input motionevent move 110 210; input touchscreen motionevent UP 120 220; input motionevent CANCEL")
	if out != "" {
		t.Fatalf("motionevent printed %q", out)
	}
	ev := d.Events()
	want := []struct {
		action, source string
		x, pointers    int
	}{{ActionDown, "", 100, 1}, {ActionMove, "", 110, 1}, {ActionUp, "touchscreen", 120, 0}, {ActionCancel, "", 120, 0}}
	if len(ev) != len(want) {
		t.Fatalf("events %+v", ev)
	}
	for i, e := range ev {
		if e.Kind != InputTouch || e.Action != want[i].action || e.Source != want[i].source || e.X != want[i].x ||
			e.Pointer != 0 || e.Pointers != want[i].pointers || e.Gesture != ev[0].Gesture || e.Gesture == 0 {
			t.Errorf("event %d = %+v, want %+v", i, e, want[i])
		}
	}
	if got := d.Screen().RGBAAt(120, 220); got != PointerColors[0] {
		t.Errorf("pixel at the finger's last point = %v, want %v", got, PointerColors[0])
	}
	for _, bad := range []string{"motionevent JUMP 1 2", "motionevent DOWN 1", "motionevent", "motionevent UP x 2"} {
		if out := runShell(d, "input "+bad); !strings.HasPrefix(out, inputInvalidArgs+"motionevent\n") {
			t.Errorf("input %s printed %q", bad, out)
		}
	}

	r := newDevice(t, Options{SDK: 30, Width: 64, Height: 64, Static: true, NoCosts: true})
	if out := runShell(r, "input motionevent DOWN 1 2"); out != "" {
		t.Errorf("API 30: motionevent DOWN printed %q", out)
	}
	if out := runShell(r, "input motionevent CANCEL 1 2"); !strings.HasPrefix(out, inputInvalidArgs) {
		t.Errorf("API 30: motionevent CANCEL printed %q", out)
	}
	q := newDevice(t, Options{SDK: 29, Width: 64, Height: 64, Static: true, NoCosts: true})
	if out := runShell(q, "input motionevent DOWN 1 2"); !strings.HasPrefix(out, inputUnknownCmd+"motionevent\n") {
		t.Errorf("API 29: motionevent printed %q", out)
	}
}

func TestShellAssignments(t *testing.T) {
	t.Parallel()
	d := newDevice(t, Options{Width: 64, Height: 64, Static: true, NoCosts: true})
	for line, want := range map[string]string{
		"FOO=bar && echo ok": "ok\n",
		"A=1 B=2 echo hi":    "hi\n",
		"1A=x echo hi":       "/system/bin/sh: 1A=x: inaccessible or not found\n",
		"app_process":        "Usage: app_process [java-options] cmd-dir start-class-name [options]\n",
		"CLASSPATH=/nope app_process / " + agent.MainClass + " s x || echo fail": "Aborted \nfail\n",
		"CLASSPATH=" + agent.DevicePath + " app_process / other.Main s x":        "Aborted \n",
	} {
		if got := runShell(d, line); got != want {
			t.Errorf("%s printed %q, want %q", line, got, want)
		}
	}
	env, rest := splitAssignments([]string{"CLASSPATH=/a:/b", "X_1=", "cmd", "Y=2"})
	if env["CLASSPATH"] != "/a:/b" || env["X_1"] != "" || len(env) != 2 || len(rest) != 2 || rest[0] != "cmd" {
		t.Fatalf("splitAssignments: %v %v", env, rest)
	}
}

// TestPointerMarkVisible: a tap on the moving box's band stays a solid
// disc of pointer 0's colour, of radius at least 2% of the width, under
// every frame of the animation.
func TestPointerMarkVisible(t *testing.T) {
	if colTap != pointerRGB[0] || PointerColors[0] != (color.RGBA{colTap.R, colTap.G, colTap.B, 255}) {
		t.Fatalf("a tap's colour %v is not pointer 0's %v", colTap, PointerColors[0])
	}
	s := newScreen(360, 640, time.Now())
	x, y := 180, (s.band.Y0+s.band.Y1)/2
	r := 360 * 2 / 100
	s.tap(x, y)
	boxSeen := false
	at := func(img *image.RGBA, x, y int) rgb { c := img.RGBAAt(x, y); return rgb{c.R, c.G, c.B} }
	for range 60 { // the box crosses the tap
		s.animate(time.Now())
		img := s.snapshot()
		for _, p := range [][2]int{{x, y}, {x - r, y}, {x + r, y}, {x, y - r}, {x, y + r}} {
			if got := at(img, p[0], p[1]); got != colTap {
				t.Fatalf("frame %d: pixel (%d,%d) = %v, want pointer 0's %v", s.frame, p[0], p[1], got, colTap)
			}
		}
		boxSeen = boxSeen || at(img, x+r+6, y) == colBox
	}
	if !boxSeen {
		t.Fatal("the box never passed the tap: the test proves nothing")
	}
}

func TestScreenPowerAndClipboard(t *testing.T) {
	s := newScreen(360, 640, time.Now())
	s.setPower(false)
	if got := pixel(s, 180, 100); got != colOff {
		t.Fatalf("pixel %v with the screen off", got)
	}
	gen, _ := s.watch()
	s.animate(time.Now())
	if g, _ := s.watch(); g != gen {
		t.Fatal("a dark screen animated")
	}
	if _, ok := ReadStamp(s.snapshot()); !ok {
		t.Fatal("no capture stamp on the dark screen")
	}
	s.tap(50, 60)
	if got := pixel(s, 50, 60); got != colOff {
		t.Fatalf("a tap showed on the dark screen: %v", got)
	}
	s.setPower(true)
	if got := pixel(s, 50, 60); got != colTap {
		t.Fatalf("the tap made while dark = %v after the screen came on", got)
	}
	before := s.snapshot()
	s.setClipboard("clip ✓")
	a := s.clipArea
	if a.empty() || a.Y1 > s.keyArea.Y0 || a.Y0 < s.band.Y1 {
		t.Fatalf("clipboard strip %v misplaced", a)
	}
	after := s.snapshot()
	changed := false
	for y := a.Y0; y < a.Y1 && !changed; y++ {
		for x := a.X0; x < a.X1; x++ {
			if before.RGBAAt(x, y) != after.RGBAAt(x, y) {
				changed = true
				break
			}
		}
	}
	if !changed {
		t.Fatal("the clipboard left no mark")
	}
}

// TestPointerMarkH264: at 360 px wide and a low bit rate, a tap in the
// moving box's band still shows pointer 0's colour at the tap point once
// encoded and decoded, and the patch has none of it before the tap.
func TestPointerMarkH264(t *testing.T) {
	needFFmpeg(t)
	const w, h, tapAt = 360, 640, 10
	enc, err := native.NewEncoder(native.Options{Width: w, Height: h, FrameRate: 30, BitRate: 400_000,
		Preset: "ultrafast", KeyFrameInterval: 60, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	pool, err := native.NewFramePool(w, h, native.PixelFormatYUV420P, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	dec, err := native.NewDecoder(native.DecoderH264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	s := newScreen(w, h, time.Now())
	x, y := w/2, (s.band.Y0+s.band.Y1)/2
	// near reports whether the decoded colour is within a small distance
	// of pointer 0's.
	near := func(img *image.YCbCr, px, py int) bool {
		c := img.YCbCrAt(px, py)
		r, g, b := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
		p := PointerColors[0]
		d := func(a, b uint8) int { return abs(int(a) - int(b)) }
		return d(r, p.R)+d(g, p.G)+d(b, p.B) < 90
	}
	decoded := 0
	onPic := func(p *native.Picture) error {
		img := &image.YCbCr{Y: p.Planes[0], Cb: p.Planes[1], Cr: p.Planes[2], YStride: p.Strides[0],
			CStride: p.Strides[1], SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: image.Rect(0, 0, p.Width, p.Height)}
		hits := 0
		r := w * 2 / 100
		for dy := -r / 2; dy <= r/2; dy++ {
			for dx := -r / 2; dx <= r/2; dx++ {
				if near(img, x+dx, y+dy) {
					hits++
				}
			}
		}
		all := (r/2*2 + 1) * (r/2*2 + 1)
		if decoded < tapAt && hits > 0 {
			t.Errorf("frame %d, before the tap: %d pixels near pointer 0's colour", decoded, hits)
		}
		if decoded >= tapAt && hits < all*9/10 {
			t.Errorf("frame %d, after the tap: %d of %d pixels near pointer 0's colour", decoded, hits, all)
		}
		decoded++
		return nil
	}
	const frames = 30
	for i := range frames {
		s.animate(time.Now())
		if i == tapAt {
			s.tap(x, y)
		}
		f, err := pool.Get()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.read(func(pix []byte, width, height, stride int) error {
			return f.WritePacked(pix, width, height, stride, native.PixelFormatRGBA)
		}); err != nil {
			t.Fatal(err)
		}
		f.PTS = time.Duration(i) * time.Second / 30
		if err := enc.Encode(f, func(p native.Packet) error { return dec.Decode(p.Data, onPic) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := dec.Flush(onPic); err != nil {
		t.Fatal(err)
	}
	if decoded != frames {
		t.Fatalf("%d frames decoded, want %d", decoded, frames)
	}
}
