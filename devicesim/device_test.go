package devicesim

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/png"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
)

// quote is the POSIX single-quote quoting a correct caller applies to each
// argument (written out here, independent of the package's shellQuote).
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func decodePNG(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG (%d bytes, starts %q): %v", len(b), b[:min(len(b), 40)], err)
	}
	return img
}

// rgbAt returns the colour of img at (x, y).
func rgbAt(img image.Image, x, y int) rgb {
	r, g, b, _ := img.At(x, y).RGBA()
	return rgb{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

// sameStaticRegion compares the colour-bar rows of two pictures of the
// screen: the part of the test picture that never moves.
func sameStaticRegion(t testing.TB, got, want image.Image) {
	t.Helper()
	b := want.Bounds()
	if got.Bounds() != b {
		t.Fatalf("picture is %v, want %v", got.Bounds(), b)
	}
	for y := b.Dy() * 63 / 100; y < b.Dy()*69/100; y += 7 {
		for x := 0; x < b.Dx(); x += 5 {
			if g, w := rgbAt(got, x, y), rgbAt(want, x, y); g != w {
				t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, g, w)
			}
		}
	}
}

// TestADB drives one animated device through a real adb server.
func TestADB(t *testing.T) {
	t.Parallel()
	testutil.Deadline(t, testDeadline)
	adb := startADB(t)
	d := newDevice(t, Options{Serial: "sim-main", Model: "Sim Model"})
	serial := adb.Connect(t, d.Addr())

	t.Run("devices", func(t *testing.T) {
		out := string(adb.Run(t, "devices", "-l"))
		if !strings.Contains(out, serial) || !strings.Contains(out, "model:Sim_Model") || !strings.Contains(out, "device:devicesim") {
			t.Fatalf("adb devices -l:\n%s", out)
		}
	})

	t.Run("wm size", func(t *testing.T) {
		if got := adb.Shell(t, serial, "wm", "size"); got != "Physical size: 720x1280\n" {
			t.Fatalf("wm size = %q", got)
		}
	})

	t.Run("getprop", func(t *testing.T) {
		if got := adb.Shell(t, serial, "getprop", "ro.product.model"); got != "Sim Model\n" {
			t.Fatalf("getprop ro.product.model = %q", got)
		}
		if got := adb.Shell(t, serial, "getprop", "ro.serialno"); got != "sim-main\n" {
			t.Fatalf("getprop ro.serialno = %q", got)
		}
		if got := adb.Shell(t, serial, "getprop", "no.such.prop"); got != "\n" {
			t.Fatalf("getprop no.such.prop = %q", got)
		}
		all := adb.Shell(t, serial, "getprop")
		for _, want := range []string{"[ro.product.model]: [Sim Model]\n", "[ro.build.version.sdk]: [34]\n", "[ro.build.version.release]: [14]\n", "[sys.boot_completed]: [1]\n"} {
			if !strings.Contains(all, want) {
				t.Errorf("getprop lacks %q", want)
			}
		}
	})

	t.Run("shell syntax", func(t *testing.T) {
		got := adb.Shell(t, serial, "echo a; echo b && false || echo c; false && echo no; nosuchcmd x")
		want := "a\nb\nc\n/system/bin/sh: nosuchcmd: inaccessible or not found\n"
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})

	t.Run("screenrecord h264", func(t *testing.T) {
		needFFmpeg(t)
		out := adb.ExecOut(t, serial, "screenrecord", "--output-format=h264", "--time-limit", "2", "-")
		units := nalUnits(out)
		var first []byte
		for _, u := range units {
			first = append(first, u.typ())
			if isSlice(u.typ()) {
				break
			}
		}
		if !bytes.Contains(first, []byte{7}) || !bytes.Contains(first, []byte{8}) || first[len(first)-1] != 5 {
			t.Fatalf("first access unit has NAL types %v, want SPS (7), PPS (8) and an IDR slice (5)", first)
		}
		frames, w, h := decodeH264(t, out)
		if w != 720 || h != 1280 {
			t.Fatalf("decoded %dx%d, want 720x1280", w, h)
		}
		// 30 fps for 2 s is 60 frames; a loaded machine makes fewer, so
		// only a stream (more than its first picture) is asserted, and the
		// rate is logged: rates are benchmark figures, not test outcomes.
		if frames < 2 {
			t.Fatalf("%d frames in 2 s at 30 fps, want a stream", frames)
		}
		t.Logf("%d frames in 2 s (60 at full rate), %d bytes", frames, len(out))
	})

	t.Run("screenrecord size and bit rate", func(t *testing.T) {
		needFFmpeg(t)
		out := adb.ExecOut(t, serial, "screenrecord", "--output-format=h264", "--size", "360x640", "--bit-rate", "1M", "--time-limit", "1", "-")
		frames, w, h := decodeH264(t, out)
		if w != 360 || h != 640 || frames < 1 {
			t.Fatalf("decoded %d frames of %dx%d, want 360x640", frames, w, h)
		}
	})

	t.Run("screenrecord bad args", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--bit-rate", "5", "-"}, "Bit rate 5bps outside acceptable range [100000,200000000]\n"},
			{[]string{"--bit-rate", "201M", "-"}, "Bit rate 201000000bps outside acceptable range"},
			{[]string{"--time-limit", "0", "-"}, "Time limit 0s outside acceptable range [1,180]\n"},
			{[]string{"--time-limit", "500", "-"}, "Time limit 500s outside acceptable range [1,180]\n"},
			{[]string{"--size", "big", "-"}, "Invalid size 'big', must be width x height\n"},
			{[]string{"--output-format=h264", "--size", "361x640", "-"}, "even size"},
			{[]string{"--wat", "-"}, "unrecognized option '--wat'"},
			{[]string{"--output-format=h264"}, "Must specify output file"},
		} {
			got := string(adb.ExecOut(t, serial, append([]string{"screenrecord"}, tc.args...)...))
			if !strings.Contains(got, tc.want) {
				t.Errorf("screenrecord %v = %q, want %q", tc.args, got, tc.want)
			}
		}
	})

	t.Run("screenrecord raw-frames", func(t *testing.T) {
		const w, h = 720, 1280
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cmd := adb.Command(ctx, "-s", serial, "exec-out", "screenrecord", "--output-format=raw-frames", "-")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		frame := make([]byte, w*h*3)
		for i := range 2 {
			if _, err := io.ReadFull(stdout, frame); err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
		}
		// Stop reading: the adb client dies and the server closes the
		// stream, which ends screenrecord on the device.
		cancel()
		_ = cmd.Wait()
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range w * h {
			copy(img.Pix[4*i:4*i+3], frame[3*i:3*i+3])
			img.Pix[4*i+3] = 0xff
		}
		sameStaticRegion(t, img, d.Screen())

		out := adb.ExecOut(t, serial, "screenrecord", "--output-format=raw-frames", "--size", "90x160", "--time-limit", "1", "-")
		if len(out) == 0 || len(out)%(90*160*3) != 0 {
			t.Fatalf("raw 90x160 output is %d bytes, not a whole number of %d-byte frames", len(out), 90*160*3)
		}
	})

	t.Run("screencap", func(t *testing.T) {
		img := decodePNG(t, adb.ExecOut(t, serial, "screencap", "-p"))
		if b := img.Bounds(); b.Dx() != 720 || b.Dy() != 1280 {
			t.Fatalf("PNG is %v, want 720x1280", b)
		}
		sameStaticRegion(t, img, d.Screen())

		raw := adb.ExecOut(t, serial, "screencap")
		if len(raw) != 12+720*1280*4 {
			t.Fatalf("raw screencap is %d bytes", len(raw))
		}
		if w, h, f := binary.LittleEndian.Uint32(raw), binary.LittleEndian.Uint32(raw[4:]), binary.LittleEndian.Uint32(raw[8:]); w != 720 || h != 1280 || f != 1 {
			t.Fatalf("raw header %d x %d format %d", w, h, f)
		}
	})

	t.Run("input tap", func(t *testing.T) {
		before := decodePNG(t, adb.ExecOut(t, serial, "screencap", "-p"))
		if rgbAt(before, 100, 200) == colTap {
			t.Fatal("tap colour at (100,200) before the tap")
		}
		sent := time.Now()
		if out := adb.Shell(t, serial, "input", "tap", "100", "200"); out != "" {
			t.Fatalf("input tap printed %q", out)
		}
		after := decodePNG(t, adb.ExecOut(t, serial, "screencap", "-p"))
		for _, p := range [][2]int{{100, 200}, {95, 195}, {105, 205}} {
			if got := rgbAt(after, p[0], p[1]); got != colTap {
				t.Fatalf("pixel (%d,%d) after the tap = %v, want %v", p[0], p[1], got, colTap)
			}
		}
		ev := d.Events()
		last := ev[len(ev)-1]
		if last.Kind != InputTap || last.X != 100 || last.Y != 200 {
			t.Fatalf("last event %+v, want a tap at (100,200)", last)
		}
		if last.Time.Before(sent.Add(-time.Second)) || last.Time.After(time.Now()) {
			t.Fatalf("event time %v outside the call (%v..now)", last.Time, sent)
		}
	})

	t.Run("input others", func(t *testing.T) {
		n := len(d.Events())
		adb.Shell(t, serial, "input", "swipe", "10", "300", "600", "900", "150")
		adb.Shell(t, serial, "input", "touchscreen", "swipe", "500", "300", "500", "300", "800")
		adb.Shell(t, serial, "input", "keyevent", "KEYCODE_HOME", "4")
		adb.Shell(t, serial, "input", "text", "hello%sworld")
		ev := d.Events()[n:]
		want := []InputEvent{
			{Kind: InputSwipe, X: 10, Y: 300, X2: 600, Y2: 900, Duration: 150 * time.Millisecond},
			{Kind: InputSwipe, Source: "touchscreen", X: 500, Y: 300, X2: 500, Y2: 300, Duration: 800 * time.Millisecond},
			{Kind: InputKeyEvent, KeyCode: 3},
			{Kind: InputKeyEvent, KeyCode: 4},
			{Kind: InputText, Text: "hello world"},
		}
		if len(ev) != len(want) {
			t.Fatalf("events %+v, want %+v", ev, want)
		}
		for i := range ev {
			if g := ev[i].Display; g != (Display{720, 1280, 720, 1280, 0}) {
				t.Errorf("event %d arrived under display %+v", i, g)
			}
			ev[i].Time, ev[i].Display = time.Time{}, Display{}
			if ev[i] != want[i] {
				t.Errorf("event %d = %+v, want %+v", i, ev[i], want[i])
			}
		}
		if !ev[1].LongPress() || ev[0].LongPress() {
			t.Error("LongPress wrong")
		}
		for _, args := range [][]string{
			{"tap", "x", "1"}, {"tap", "1"}, {"swipe", "1", "2", "3"}, {"swipe", "1", "2", "3", "4", "-5"},
			{"keyevent"}, {"keyevent", "KEYCODE_NOPE"}, {"text"}, {"text", "a", "b"},
		} {
			out := adb.Shell(t, serial, append([]string{"input"}, args...)...)
			if !strings.HasPrefix(out, "Error: Invalid arguments for command: "+args[0]+"\n") {
				t.Errorf("input %v printed %q", args, out)
			}
		}
		if out := adb.Shell(t, serial, "input", "fly"); !strings.HasPrefix(out, "Error: Unknown command: fly\n") {
			t.Errorf("input fly printed %q", out)
		}
		if got := len(d.Events()) - n; got != len(want) {
			t.Fatalf("bad input commands recorded %d events", got-len(want))
		}
	})

	t.Run("hostile strings", func(t *testing.T) {
		for _, s := range []string{
			"'; rm -rf / #",
			"$(reboot)",
			"`reboot`",
			"a && reboot || reboot; reboot",
			"x | reboot > /sdcard/owned < /dev/zero &",
			`"; reboot; echo "`,
			`\`,
			"it's a \"test\"",
			"tab\tand\nnewline",
			"héllo ☃ $HOME ~ * ?",
			"-n",
		} {
			n, events := len(d.Commands()), len(d.Events())
			out := adb.Shell(t, serial, "input", "text", quote(s))
			got := d.Commands()[n:]
			if want := [][]string{{"input", "text", s}}; !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("for %q the device ran %q, want %q", s, got, want)
			}
			if !virtualKeyboardTypes(s) {
				// The virtual keyboard cannot type é or ☃: Android's
				// input command fails, and types nothing.
				if !strings.Contains(out, "java.lang.NullPointerException") || len(d.Events()) != events {
					t.Errorf("input text %q printed %q and recorded %d events", s, out, len(d.Events())-events)
				}
				continue
			}
			if out != "" {
				t.Errorf("input text %q printed %q", s, out)
			}
			if ev := d.Events(); ev[len(ev)-1].Text != s {
				t.Errorf("text event %q, want %q", ev[len(ev)-1].Text, s)
			}
		}
		// The same string unquoted shows what a quoting bug would do.
		n := len(d.Commands())
		adb.Shell(t, serial, "input", "text", "x; reboot")
		want := [][]string{{"input", "text", "x"}, {"reboot"}}
		if got := d.Commands()[n:]; !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("unquoted: the device ran %q, want %q", got, want)
		}
	})

	t.Run("interactive shell", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), generous)
		defer cancel()
		cmd := adb.Command(ctx, "-s", serial, "shell")
		cmd.Stdin = strings.NewReader("echo hi\necho 'two\nlines'\ninput keyevent 66\nexit\necho never\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != "hi\ntwo\nlines\n" {
			t.Fatalf("output %q", out)
		}
		ev := d.Events()
		if last := ev[len(ev)-1]; last.Kind != InputKeyEvent || last.KeyCode != 66 {
			t.Fatalf("last event %+v, want key 66", last)
		}
	})

	t.Run("refused service", func(t *testing.T) {
		if _, err := adb.TryRun("-s", serial, "pull", "/sdcard/x", t.TempDir()); err == nil {
			t.Fatal("adb pull succeeded on a device without sync")
		}
		// The connection survives a refused stream.
		if got := adb.Shell(t, serial, "echo", "ok"); got != "ok\n" {
			t.Fatalf("after a refused service: %q", got)
		}
	})
}

// TestStaticScreen checks that a static screen yields one frame, and the
// next only when input changes it.
func TestStaticScreen(t *testing.T) {
	t.Parallel()
	testutil.Deadline(t, testDeadline)
	needFFmpeg(t)
	adb := startADB(t)
	d := newDevice(t, Options{Static: true, Width: 360, Height: 640})
	serial := adb.Connect(t, d.Addr())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := adb.Command(ctx, "-s", serial, "exec-out", "screenrecord", "--output-format=h264", "-")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rc := readAll(stdout)
	testutil.Eventually(t, "first frame", generous, func() bool { return sliceCount(rc.bytes()) >= 1 })
	// A still screen sends nothing more: give it ample time to misbehave.
	time.Sleep(time.Second)
	if n := sliceCount(rc.bytes()); n != 1 {
		t.Fatalf("%d frames from a static screen without input, want 1", n)
	}
	adb.Shell(t, serial, "input", "tap", "50", "60")
	testutil.Eventually(t, "a frame after the tap", generous, func() bool { return sliceCount(rc.bytes()) >= 2 })
	time.Sleep(500 * time.Millisecond)
	if n := sliceCount(rc.bytes()); n != 2 {
		t.Fatalf("%d frames after one tap, want 2", n)
	}
	cancel()
	_ = cmd.Wait()
	<-rc.done
	frames, w, h := decodeH264(t, rc.bytes())
	if frames < 2 || w != 360 || h != 640 {
		t.Fatalf("decoded %d frames of %dx%d", frames, w, h)
	}
}

// TestTwoDevices runs two devices on one adb server at once.
func TestTwoDevices(t *testing.T) {
	t.Parallel()
	testutil.Deadline(t, testDeadline)
	adb := startADB(t)
	a := newDevice(t, Options{Serial: "sim-a", Width: 480, Height: 800, Static: true})
	b := newDevice(t, Options{Serial: "sim-b", Width: 320, Height: 640})
	sa, sb := adb.Connect(t, a.Addr()), adb.Connect(t, b.Addr())

	// Two clients per device at once: concurrent streams on each
	// connection, and both connections busy.
	var wg sync.WaitGroup
	for _, c := range []struct {
		serial, name string
		w, h         int
	}{{sa, "sim-a", 480, 800}, {sb, "sim-b", 320, 640}, {sa, "sim-a", 480, 800}, {sb, "sim-b", 320, 640}} {
		wg.Go(func() {
			for range 3 {
				if got := adb.Shell(t, c.serial, "getprop", "ro.serialno"); got != c.name+"\n" {
					t.Errorf("%s: serial %q", c.serial, got)
				}
				img := decodePNG(t, adb.ExecOut(t, c.serial, "screencap", "-p"))
				if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
					t.Errorf("%s: screencap %v, want %dx%d", c.serial, b, c.w, c.h)
				}
			}
		})
	}
	wg.Wait()
	adb.Shell(t, sa, "input", "tap", "1", "2")
	if len(a.Events()) != 1 || len(b.Events()) != 0 {
		t.Fatalf("events: a %d, b %d; want 1 and 0", len(a.Events()), len(b.Events()))
	}
}

// TestAuth connects a device that requires authentication: the first time
// the server offers its public key, which the device accepts; the next
// time the server's signature verifies against the remembered key.
func TestAuth(t *testing.T) {
	t.Parallel()
	testutil.Deadline(t, testDeadline)
	adb := startADB(t)
	var logs logBuffer
	d := newDevice(t, Options{Auth: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	serial := d.Addr()

	// adb connect reports "failed to authenticate" while the key is
	// pending, as with a phone showing its dialog; the server then sees
	// the device come online.
	adb.Run(t, "connect", serial)
	adb.WaitState(t, serial, "device")
	if got := adb.Shell(t, serial, "getprop", "ro.adb.secure"); got != "1\n" {
		t.Fatalf("ro.adb.secure = %q", got)
	}
	if logs.Count("auth: public key accepted") != 1 || logs.Count("auth: signature verified") != 0 {
		t.Fatalf("first connection: logs:\n%s", logs.String())
	}

	adb.Run(t, "disconnect", serial)
	adb.Run(t, "connect", serial)
	adb.WaitState(t, serial, "device")
	if got := adb.Shell(t, serial, "echo", "authorized"); got != "authorized\n" {
		t.Fatalf("echo = %q", got)
	}
	if logs.Count("auth: public key accepted") != 1 || logs.Count("auth: signature verified") != 1 {
		t.Fatalf("second connection: logs:\n%s", logs.String())
	}
}

// TestCloseWhileStreaming closes the device under a running screenrecord:
// the adb client must see its stream end.
func TestCloseWhileStreaming(t *testing.T) {
	t.Parallel()
	testutil.Deadline(t, testDeadline)
	adb := startADB(t)
	d := newDevice(t, Options{Width: 320, Height: 480})
	serial := adb.Connect(t, d.Addr())

	ctx, cancel := context.WithTimeout(context.Background(), 2*generous)
	defer cancel()
	cmd := adb.Command(ctx, "-s", serial, "exec-out", "screenrecord", "--output-format=raw-frames", "-")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rc := readAll(stdout)
	testutil.Eventually(t, "some frames", generous, func() bool { return len(rc.bytes()) >= 2*320*480*3 })
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rc.done:
	case <-time.After(generous):
		t.Fatal("the adb client's stream did not end after the device closed")
	}
	_ = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatal("the adb client had to be killed")
	}
	_ = d.Close() // idempotent
}

// TestSizeAndRotationOverADB changes the display through the shell, as an
// operator (or a test of the service) does with a phone.
func TestSizeAndRotationOverADB(t *testing.T) {
	t.Parallel()
	testutil.Deadline(t, testDeadline)
	adb := startADB(t)
	d := newDevice(t, Options{Width: 240, Height: 320, Static: true})
	serial := adb.Connect(t, d.Addr())
	shell := func(args ...string) string { t.Helper(); return adb.Shell(t, serial, args...) }
	pngSize := func() (int, int) {
		t.Helper()
		b := decodePNG(t, adb.ExecOut(t, serial, "screencap", "-p")).Bounds()
		return b.Dx(), b.Dy()
	}
	orientation := func() string {
		t.Helper()
		for line := range strings.Lines(shell("dumpsys", "input")) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "SurfaceOrientation:"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatal("dumpsys input has no SurfaceOrientation")
		return ""
	}

	if got := shell("wm", "size"); got != "Physical size: 240x320\n" {
		t.Fatalf("wm size = %q", got)
	}
	if got := shell("wm", "size", "200x300"); got != "" {
		t.Fatalf("wm size 200x300 printed %q", got)
	}
	if got := shell("wm", "size"); got != "Physical size: 240x320\nOverride size: 200x300\n" {
		t.Fatalf("wm size with an override = %q", got)
	}
	if w, h := pngSize(); w != 200 || h != 300 {
		t.Fatalf("screencap %dx%d, want the override 200x300", w, h)
	}
	for _, bad := range []string{"201x300", "big", "0x0"} {
		if got := shell("wm", "size", bad); !strings.HasPrefix(got, "Error:") {
			t.Errorf("wm size %s printed %q", bad, got)
		}
	}
	shell("wm", "size", "reset")
	if got := shell("wm", "size"); got != "Physical size: 240x320\n" {
		t.Fatalf("wm size after reset = %q", got)
	}

	if got := orientation(); got != "0" {
		t.Fatalf("SurfaceOrientation %s at start", got)
	}
	if got := shell("settings", "get", "system", "user_rotation"); got != "0\n" {
		t.Fatalf("user_rotation = %q", got)
	}
	shell("settings", "put", "system", "accelerometer_rotation", "0")
	shell("settings", "put", "system", "user_rotation", "1")
	if got := shell("settings", "get", "system", "user_rotation"); got != "1\n" {
		t.Fatalf("user_rotation after put = %q", got)
	}
	if got := orientation(); got != "1" {
		t.Fatalf("SurfaceOrientation %s after user_rotation 1", got)
	}
	if w, h := pngSize(); w != 320 || h != 240 {
		t.Fatalf("screencap after a quarter turn %dx%d, want 320x240", w, h)
	}
	raw := adb.ExecOut(t, serial, "screencap")
	if w, h := binary.LittleEndian.Uint32(raw), binary.LittleEndian.Uint32(raw[4:]); w != 320 || h != 240 || len(raw) != 12+320*240*4 {
		t.Fatalf("raw screencap %dx%d, %d bytes", w, h, len(raw))
	}
	if got := shell("wm", "size"); got != "Physical size: 240x320\n" {
		t.Fatalf("wm size when turned = %q (it reports the natural orientation)", got)
	}

	// Input is taken in the turned picture's coordinates.
	shell("input", "tap", "300", "200")
	shell("input", "tap", "200", "300")
	ev := d.Events()
	if len(ev) != 2 || !ev[0].OnScreen() || ev[1].OnScreen() || ev[0].Display.Rotation != 1 {
		t.Fatalf("events %+v; want the first on the 320x240 picture, the second off it", ev)
	}
	if got := rgbAt(decodePNG(t, adb.ExecOut(t, serial, "screencap", "-p")), 300, 200); got != colTap {
		t.Fatalf("pixel at the tap (300,200) = %v, want %v", got, colTap)
	}

	// Out-of-range rotations are stored, not applied, as Android does.
	shell("settings", "put", "system", "user_rotation", "7")
	if got := orientation(); got != "1" {
		t.Fatalf("SurfaceOrientation %s after user_rotation 7", got)
	}
	// The Go API and the shell see the same state.
	if err := d.SetRotation(2); err != nil {
		t.Fatal(err)
	}
	if got := shell("settings", "get", "system", "user_rotation"); got != "2\n" {
		t.Fatalf("user_rotation after SetRotation(2) = %q", got)
	}
	if got := orientation(); got != "2" {
		t.Fatalf("SurfaceOrientation %s after SetRotation(2)", got)
	}
	if w, h := pngSize(); w != 240 || h != 320 {
		t.Fatalf("screencap after a half turn %dx%d", w, h)
	}

	// The rest of the settings command.
	if got := shell("settings", "get", "global", "nosuch"); got != "null\n" {
		t.Fatalf("settings get of a missing key = %q", got)
	}
	shell("settings", "put", "secure", "k", "v")
	if got := shell("settings", "list", "secure"); !strings.Contains(got, "k=v\n") {
		t.Fatalf("settings list secure = %q", got)
	}
	if got := shell("settings", "delete", "secure", "k"); got != "Deleted 1 rows\n" {
		t.Fatalf("settings delete = %q", got)
	}
	if got := shell("settings", "get", "bogus", "k"); !strings.HasPrefix(got, "Invalid namespace 'bogus'") {
		t.Fatalf("settings get bogus = %q", got)
	}
	if got := shell("dumpsys", "window"); got != "Can't find service: window\n" {
		t.Fatalf("dumpsys window = %q", got)
	}
}

// TestScreenrecordKeepsItsSize turns the display under running
// screenrecords: they keep the size they started with, and show the
// turned picture scaled to fit between black bars.
func TestScreenrecordKeepsItsSize(t *testing.T) {
	t.Parallel()
	testutil.Deadline(t, testDeadline)
	needFFmpeg(t)
	adb := startADB(t)
	d := newDevice(t, Options{Width: 240, Height: 320, Static: true})
	serial := adb.Connect(t, d.Addr())

	t.Run("raw-frames", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cmd := adb.Command(ctx, "-s", serial, "exec-out", "screenrecord", "--output-format=raw-frames", "-")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		frame := make([]byte, 240*320*3)
		if _, err := io.ReadFull(stdout, frame); err != nil {
			t.Fatal(err)
		}
		if isBlack(frame[:240*3]) {
			t.Fatal("the top row is black before the turn")
		}
		if err := d.SetRotation(1); err != nil {
			t.Fatal(err)
		}
		// A still screen sends a frame for the turn itself. The 320x240
		// picture fits 240x180 at y=70.
		if _, err := io.ReadFull(stdout, frame); err != nil {
			t.Fatal(err)
		}
		row := func(y int) []byte { return frame[y*240*3 : (y+1)*240*3] }
		if !isBlack(row(0)) || !isBlack(row(69)) || !isBlack(row(250)) || !isBlack(row(319)) {
			t.Fatal("no black bars above and below the turned picture")
		}
		if isBlack(row(160)) {
			t.Fatal("the middle of the letterboxed frame is black")
		}
		if err := d.SetRotation(0); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("h264", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cmd := adb.Command(ctx, "-s", serial, "exec-out", "screenrecord", "--output-format=h264", "-")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		rc := readAll(stdout)
		testutil.Eventually(t, "the first picture", generous, func() bool { return sliceCount(rc.bytes()) >= 1 })
		if err := d.SetRotation(3); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "a picture after the turn", generous, func() bool { return sliceCount(rc.bytes()) >= 2 })
		cancel()
		_ = cmd.Wait()
		<-rc.done
		frames, w, h := decodeH264(t, rc.bytes())
		if frames < 2 || w != 240 || h != 320 {
			t.Fatalf("decoded %d pictures of %dx%d, want at least 2 of 240x320", frames, w, h)
		}
		// A new screenrecord starts at the turned size.
		out := adb.ExecOut(t, serial, "screenrecord", "--output-format=h264", "--time-limit", "1", "-")
		if frames, w, h := decodeH264(t, out); frames < 1 || w != 320 || h != 240 {
			t.Fatalf("a new screenrecord decoded %d pictures of %dx%d, want 320x240", frames, w, h)
		}
	})
}

func isBlack(b []byte) bool {
	for _, v := range b {
		if v != 0 {
			return false
		}
	}
	return true
}
