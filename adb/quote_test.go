package adb

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/adbtest"
)

// hostile are strings that must reach a device as one literal word.
var hostile = []string{
	"", "plain", "two words", "it's", `"dq"`, `back\slash`, "$(reboot)", "`reboot`", "a;reboot", "a && reboot",
	"a | reboot", "> /data/x", "$HOME", "*", "~", "a\nreboot", "tab\there", "'; rm -rf / #", `'"'"'`, "%s%s", "ünïcødé",
}

// TestShellQuoteWithRealShell checks ShellQuote against /bin/sh: each
// quoted word must come back as exactly the original string.
func TestShellQuoteWithRealShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range hostile {
		line, err := ShellCommand("printf", "%s", s)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sh, "-c", line).Output()
		if err != nil {
			t.Fatalf("sh -c %q: %v", line, err)
		}
		if string(out) != s {
			t.Errorf("quoted %q came back as %q (line %q)", s, out, line)
		}
	}
	if _, err := ShellCommand("echo", "nul\x00byte"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NUL byte: %v, want ErrInvalidArgument", err)
	}
}

func FuzzShellQuote(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		f.Skip("no sh")
	}
	f.Fuzz(func(t *testing.T, s string) {
		line, err := ShellCommand("printf", "%s", s)
		if strings.IndexByte(s, 0) >= 0 {
			if err == nil {
				t.Fatal("NUL byte accepted")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sh, "-c", line).Output()
		if err != nil {
			t.Fatalf("sh -c %q: %v", line, err)
		}
		if string(out) != s {
			t.Fatalf("quoted %q came back as %q", s, out)
		}
	})
}

func TestValidSerial(t *testing.T) {
	for _, s := range []string{"emulator-5554", "127.0.0.1:5555", "R58M12ABCDE", "redroid_1.local:5555", "localhost:5555"} {
		if err := ValidSerial(s); err != nil {
			t.Errorf("ValidSerial(%q) = %v", s, err)
		}
	}
	for _, s := range append(hostile, strings.Repeat("a", 200), "a/b", "a\x00", "a#b") {
		if s == "plain" {
			continue
		}
		if err := ValidSerial(s); !errors.Is(err, ErrInvalidSerial) {
			t.Errorf("ValidSerial(%q) = %v, want ErrInvalidSerial", s, err)
		}
	}
}

func TestParseWMSizeAndDevices(t *testing.T) {
	s, err := parseWMSize("Physical size: 1080x2400\nOverride size: 720x1600\n")
	if err != nil || s != (Size{Width: 720, Height: 1600}) {
		t.Fatalf("override: %v %v", s, err)
	}
	s, err = parseWMSize("Physical size: 720x1280\r\n")
	if err != nil || s != (Size{Width: 720, Height: 1280}) {
		t.Fatalf("physical: %v %v", s, err)
	}
	if _, err := parseWMSize("/system/bin/sh: wm: not found\n"); err == nil {
		t.Fatal("parsed a size from an error")
	}
	got := parseDevices("127.0.0.1:5555\tdevice product:sim model:DeviceSim device:sim transport_id:3\nemulator-5554 offline\nbad;serial device\n\n")
	want := []DeviceInfo{
		{Serial: "127.0.0.1:5555", State: "device", Model: "DeviceSim", Product: "sim", Device: "sim"},
		{Serial: "emulator-5554", State: "offline"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("parseDevices = %+v, want %+v", got, want)
	}
}

func TestMapPoint(t *testing.T) {
	portrait := Geometry{Width: 720, Height: 1280}
	landscape := Geometry{Width: 720, Height: 1280, Rotation: 1}
	for _, tc := range []struct {
		nx, ny float64
		g      Geometry
		x, y   int
	}{
		{0, 0, portrait, 0, 0},
		{1, 1, portrait, 719, 1279},
		{0.5, 0.5, portrait, 360, 640},
		{1, 0, landscape, 1279, 0},
		{0.5, 1, landscape, 640, 719},
		{1.005, -0.005, portrait, 719, 0}, // rounding slop clamps
		{0.25, 0.75, Geometry{Width: 720, Height: 1280, Rotation: 2}, 180, 959},
	} {
		x, y, err := MapPoint(tc.nx, tc.ny, tc.g)
		if err != nil || x != tc.x || y != tc.y {
			t.Errorf("MapPoint(%g, %g, %+v) = %d, %d, %v; want %d, %d", tc.nx, tc.ny, tc.g, x, y, err, tc.x, tc.y)
		}
	}
	for _, bad := range [][2]float64{{-0.5, 0}, {0, 2}, {nanValue(), 0}} {
		if _, _, err := MapPoint(bad[0], bad[1], portrait); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("MapPoint(%v) = %v, want ErrInvalidArgument", bad, err)
		}
	}
	if _, _, err := MapPoint(0.5, 0.5, Geometry{Width: 720, Height: 1280, Rotation: 4}); err == nil {
		t.Error("rotation 4 accepted")
	}
	x, y, err := MapViewerPoint(180, 320, 360, 640, portrait)
	if err != nil || x != 360 || y != 640 {
		t.Errorf("MapViewerPoint = %d, %d, %v", x, y, err)
	}
	if _, _, err := MapViewerPoint(1, 1, 0, 640, portrait); err == nil {
		t.Error("zero viewer width accepted")
	}
}

func TestGeometryPicture(t *testing.T) {
	for r, want := range []Size{{Width: 720, Height: 1280}, {Width: 1280, Height: 720}, {Width: 720, Height: 1280}, {Width: 1280, Height: 720}} {
		if got := (Geometry{Width: 720, Height: 1280, Rotation: r}).Picture(); got != want {
			t.Errorf("rotation %d: picture %v, want %v", r, got, want)
		}
	}
}

func nanValue() float64 { var z float64; return z / z }

func TestHostileArgumentsNeverReachADB(t *testing.T) {
	addr, conns := adbtest.Sentinel(t)
	c, err := NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, serial := range []string{"a;reboot", "$(id)", "x y", "", "a/../b", "a\nb"} {
		if _, err := c.Exec(ctx, serial, "echo"); !errors.Is(err, ErrInvalidSerial) {
			t.Errorf("Exec on %q: %v", serial, err)
		}
		if _, err := NewInput(c, serial, nil); !errors.Is(err, ErrInvalidSerial) {
			t.Errorf("input on %q: %v", serial, err)
		}
	}
	in, err := NewInput(c, "emulator-5554", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for name, call := range map[string]func() error{
		"negative tap":   func() error { return in.Tap(ctx, -1, 5) },
		"huge tap":       func() error { return in.Tap(ctx, 5, 1<<20) },
		"key injection":  func() error { return in.Key(ctx, "3; reboot") },
		"key lowercase":  func() error { return in.Key(ctx, "keycode_home") },
		"key number":     func() error { return in.Key(ctx, "99999") },
		"text control":   func() error { return in.Text(ctx, "a\nreboot") },
		"text empty":     func() error { return in.Text(ctx, "") },
		"long swipe":     func() error { return in.Swipe(ctx, 0, 0, 1, 1, time.Hour) },
		"connect inject": func() error { return c.Connect(ctx, "host;reboot:5555") },
		"connect port":   func() error { return c.Connect(ctx, "127.0.0.1:99999") },
	} {
		if err := call(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the adb server's port", n)
	}
}

// TestReadHexMessageLong: a device list longer than 255 bytes (four
// devices or more) is read in full; goadb's reader clipped it.
func TestReadHexMessageLong(t *testing.T) {
	var list strings.Builder
	for i := range 6 {
		fmt.Fprintf(&list, "127.0.0.1:%d          device product:devicesim model:DeviceSim device:devicesim transport_id:%d\n", 40000+i, i+1)
	}
	msg := fmt.Sprintf("%04x%s", list.Len(), list.String())
	got, err := readHexMessage(strings.NewReader(msg))
	if err != nil || string(got) != list.String() {
		t.Fatalf("read %d bytes of %d: %v", len(got), list.Len(), err)
	}
	if devs := parseDevices(string(got)); len(devs) != 6 || devs[5].Device != "devicesim" {
		t.Fatalf("parsed %+v", devs)
	}
	for _, bad := range []string{"00", "zzzz", "0010short", "fffff"} {
		if _, err := readHexMessage(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
