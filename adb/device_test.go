package adb

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/native"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	native.SetLogger(slog.New(slog.DiscardHandler)) // devicesim's encoders
	goleak.VerifyTestMain(m)
}

// startDevice starts a simulated device behind adbs and returns a client
// of adbs and the device's serial.
func startDevice(t testing.TB, adbs *adbtest.Server, o devicesim.Options) (*Client, *devicesim.Device, string) {
	t.Helper()
	sim := simtest.Device(t, adbs, o)
	c, err := NewClient(adbs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return c, sim, sim.Addr()
}

func TestInputReachesDevice(t *testing.T) {
	adbs := adbtest.Start(t)
	client, sim, serial := startDevice(t, adbs, devicesim.Options{Width: 240, Height: 320, Static: true})
	in, err := NewInput(client, serial, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx := context.Background()
	hostileText := `'; reboot; echo "$(id)" #`
	calls := []struct {
		name string
		do   func() error
		want devicesim.InputEvent
	}{
		{"tap", func() error { return in.Tap(ctx, 10, 20) }, devicesim.InputEvent{Kind: devicesim.InputTap, X: 10, Y: 20, X2: 10, Y2: 20}},
		{"swipe", func() error { return in.Swipe(ctx, 1, 2, 30, 40, 150*time.Millisecond) },
			devicesim.InputEvent{Kind: devicesim.InputSwipe, X: 1, Y: 2, X2: 30, Y2: 40, Duration: 150 * time.Millisecond}},
		{"long press", func() error { return in.LongPress(ctx, 50, 60, 0) },
			devicesim.InputEvent{Kind: devicesim.InputSwipe, X: 50, Y: 60, X2: 50, Y2: 60, Duration: 600 * time.Millisecond}},
		{"key", func() error { return in.Key(ctx, "KEYCODE_HOME") }, devicesim.InputEvent{Kind: devicesim.InputKeyEvent, KeyCode: 3}},
		{"text", func() error { return in.Text(ctx, hostileText) }, devicesim.InputEvent{Kind: devicesim.InputText, Text: hostileText}},
	}
	var latencies []time.Duration
	for i, c := range calls {
		start := time.Now()
		if err := c.do(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var ev devicesim.InputEvent
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
			if evs := sim.Events(); len(evs) > i {
				ev = evs[i]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: never reached the device", c.name)
			}
		}
		latencies = append(latencies, ev.Time.Sub(start))
		ev.Time, ev.Source, ev.Display = time.Time{}, "", devicesim.Display{}
		if ev != c.want {
			t.Fatalf("%s: device got %+v, want %+v", c.name, ev, c.want)
		}
	}
	t.Logf("call-to-injection latencies: %v", latencies)
	// The hostile text ran nothing: every command the device ran is input
	// or the echo that marks a command's end.
	for _, argv := range sim.Commands() {
		mark := argv[0] == "echo" && len(argv) == 2 && inputMark.MatchString(argv[1])
		if argv[0] != "input" && argv[0] != "wm" && argv[0] != "getprop" && !mark {
			t.Fatalf("device ran %q", argv)
		}
	}
}

// TestGeometryFollowsDevice reads the display's size and rotation as they
// change at run time, and maps the viewer's points into the new picture.
func TestGeometryFollowsDevice(t *testing.T) {
	adbs := adbtest.Start(t)
	c, sim, serial := startDevice(t, adbs, devicesim.Options{Width: 240, Height: 320, Static: true})
	ctx := context.Background()
	geometry := func() Geometry {
		t.Helper()
		g, err := c.Geometry(ctx, serial)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if g := geometry(); g != (Geometry{Width: 240, Height: 320}) {
		t.Fatalf("geometry at start %+v", g)
	}
	if err := sim.SetRotation(1); err != nil {
		t.Fatal(err)
	}
	g := geometry()
	if g != (Geometry{Width: 240, Height: 320, Rotation: 1}) || g.Picture() != (Size{Width: 320, Height: 240}) {
		t.Fatalf("geometry after a quarter turn %+v, picture %v", g, g.Picture())
	}
	// The point (0.5, 0.9) of the turned picture is near its bottom edge.
	if x, y, err := MapPoint(0.5, 0.9, g); err != nil || x != 160 || y != 215 {
		t.Fatalf("MapPoint(0.5, 0.9) = %d, %d, %v; want 160, 215", x, y, err)
	}
	if err := sim.SetSize(200, 300); err != nil {
		t.Fatal(err)
	}
	p, err := c.PictureSize(ctx, serial)
	if err != nil || p != (Size{Width: 300, Height: 200}) {
		t.Fatalf("PictureSize after wm size 200x300 = %v, %v; want 300x200", p, err)
	}
	if s, err := c.DeviceSize(ctx, serial); err != nil || s != (Size{Width: 200, Height: 300}) {
		t.Fatalf("DeviceSize = %v, %v; want the override 200x300", s, err)
	}
}

func TestWatchSeesDevicesComeAndGo(t *testing.T) {
	adbs := adbtest.Start(t)
	c, err := NewClient(adbs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lists := make(chan []DeviceInfo, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Watch(ctx, slog.New(slog.DiscardHandler), 200*time.Millisecond, func(l []DeviceInfo) { lists <- l })
	}()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, cond func([]DeviceInfo) bool) {
		t.Helper()
		for {
			select {
			case l := <-lists:
				t.Logf("watch: %+v", l)
				if cond(l) {
					return
				}
			case <-time.After(adbtest.Generous):
				t.Fatalf("watch never reported %s", what)
			}
		}
	}
	waitFor("the first list", func([]DeviceInfo) bool { return true })
	_, sim2, serial := startDevice(t, adbs, devicesim.Options{Width: 64, Height: 64, Static: true})
	state := func(l []DeviceInfo) string {
		for _, x := range l {
			if x.Serial == serial {
				return x.State
			}
		}
		return ""
	}
	waitFor("the device online", func(l []DeviceInfo) bool { return state(l) == "device" })
	sim2.Close()
	waitFor("the device gone", func(l []DeviceInfo) bool { return state(l) != "device" })
}
