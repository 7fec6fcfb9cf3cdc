package main

import (
	"context"
	"fmt"
	"image"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/chromium"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/native"
)

const e2eToken = "e2e-token-0123456789"

// startService runs the whole service against a 360x640 simulated device
// behind a private adb server, and returns its base URL, the device and
// the service's logs. extra adds or overrides environment variables.
func startService(t *testing.T, extra map[string]string) (string, *devicesim.Device, *testutil.SyncBuffer) {
	t.Helper()
	return serviceWith(t, devicesim.Options{Width: 360, Height: 640, FPS: 15}, extra)
}

// serviceWith is startService with a device of the caller's choice.
func serviceWith(t testing.TB, simOpts devicesim.Options, extra map[string]string) (string, *devicesim.Device, *testutil.SyncBuffer) {
	t.Helper()
	if !native.Available {
		t.Skip("built without cgo")
	}
	adbs := adbtest.Start(t)
	sim := simtest.Device(t, adbs, simOpts)
	port := freePort(t)
	vars := map[string]string{
		"PORT": strconv.Itoa(port), "ADB_SERVER": adbs.Addr(), "ADB_DEVICES": sim.Addr(),
		"API_TOKENS": e2eToken, "LOG_LEVEL": "debug",
	}
	for k, v := range extra {
		vars[k] = v
	}
	logs := &testutil.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, logs, logs, env(vars)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the service did not stop")
		}
		http.DefaultClient.CloseIdleConnections()
		if t.Failed() {
			t.Logf("service logs:\n%s", logs.String())
		}
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitHealthy(t, base, logs)
	return base, sim, logs
}

// waitHealthy waits until the service at base answers /health.
func waitHealthy(tb testing.TB, base string, logs *testutil.SyncBuffer) {
	tb.Helper()
	for deadline := time.Now().Add(adbtest.Generous); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/health"); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the service did not answer: %s", logs.String())
		}
	}
}

type viewerState struct {
	FramesDecoded int      `json:"framesDecoded"`
	Width         int      `json:"width"`
	Height        int      `json:"height"`
	Connected     bool     `json:"connected"`
	Errors        []string `json:"errors"`
}

// TestViewerInChromium opens the viewer page in headless Chromium against
// the service, with devicesim behind the real adb server: frames decoded
// keep increasing, the video has the device's size, nothing freezes for
// 10 s, and a click in the page arrives through the input agent as a
// finger's down and up and changes the simulated screen where it landed.
func TestViewerInChromium(t *testing.T) {
	base, sim, _ := startService(t, nil)
	b := chromium.Launch(t)
	if err := b.Navigate(fmt.Sprintf("%s/?device=%s&token=%s", base, sim.Addr(), e2eToken)); err != nil {
		t.Fatal(err)
	}
	state := func() (viewerState, error) {
		var s viewerState
		err := b.Eval(`window.viewer ? {framesDecoded: viewer.framesDecoded, width: viewer.width, height: viewer.height, connected: viewer.connected, errors: viewer.errors} : null`, &s)
		return s, err
	}
	var s viewerState
	testutil.EventuallyErr(t, "the page decodes frames", 60*time.Second, func() (bool, error) {
		var err error
		s, err = state()
		return s.FramesDecoded >= 10, err
	})
	if s.Width != 360 || s.Height != 640 {
		t.Fatalf("video %dx%d, want the device's 360x640", s.Width, s.Height)
	}
	// No freeze for 10 s: frames keep coming in every 2-second window.
	prev := s.FramesDecoded
	for i := 0; i < 5; i++ {
		time.Sleep(2 * time.Second)
		cur, err := state()
		if err != nil {
			t.Fatal(err)
		}
		if cur.FramesDecoded <= prev {
			t.Fatalf("video froze: %d frames decoded at %ds, %d two seconds earlier", cur.FramesDecoded, 2*(i+1), prev)
		}
		prev = cur.FramesDecoded
	}
	t.Logf("%d frames decoded; errors on the page: %v", prev, s.Errors)

	// The device is API 34 with the input agent allowed (startService's
	// devicesim defaults): once the agent runs, input goes through it,
	// and a click is a finger's down and up.
	waitInputMethod(t, base, "agent")

	// Click a quarter of the way across, halfway down the picture.
	var rect struct{ X, Y, W, H float64 }
	if err := b.Eval(`(() => { const v = document.getElementById("screen"), r = v.getBoundingClientRect();
		const s = Math.min(r.width / v.videoWidth, r.height / v.videoHeight), w = v.videoWidth * s, h = v.videoHeight * s;
		return {X: r.left + (r.width - w) / 2, Y: r.top + (r.height - h) / 2, W: w, H: h}; })()`, &rect); err != nil {
		t.Fatal(err)
	}
	from := len(sim.Events())
	before := sim.Screen()
	if err := b.Click(rect.X+0.25*rect.W, rect.Y+0.5*rect.H); err != nil {
		t.Fatal(err)
	}
	var evs []devicesim.InputEvent
	testutil.Eventually(t, "the click reaches the device", 30*time.Second, func() bool {
		evs = eventsSince(sim, from, "")
		return len(evs) >= 2
	})
	// Exactly the agent's touch down and up of pointer 0, one gesture;
	// no tap or motionevent of the input command.
	down, up := evs[0], evs[1]
	if len(evs) != 2 || down.Kind != devicesim.InputTouch || up.Kind != devicesim.InputTouch ||
		down.Source != devicesim.SourceAgent || up.Source != devicesim.SourceAgent ||
		down.Action != devicesim.ActionDown || up.Action != devicesim.ActionUp ||
		down.Pointer != 0 || up.Pointer != 0 || down.Pointers != 1 || up.Pointers != 0 ||
		down.Gesture == 0 || up.Gesture != down.Gesture {
		t.Fatalf("the click arrived as:\n%s", describeEvents(evs))
	}
	tap := down
	wantX, wantY := 0.25*359, 0.5*639
	for _, e := range evs {
		if math.Abs(float64(e.X)-wantX) > 6 || math.Abs(float64(e.Y)-wantY) > 6 {
			t.Fatalf("touch %s at %d,%d; the click was at about %.0f,%.0f in device pixels", e.Action, e.X, e.Y, wantX, wantY)
		}
	}
	after := sim.Screen()
	if !differsNear(before, after, tap.X, tap.Y, 12) {
		t.Fatal("the tap did not change the simulated screen where it landed")
	}
}

// differsNear reports whether two screens differ within r pixels of x, y.
func differsNear(a, b *image.RGBA, x, y, r int) bool {
	for yy := max(0, y-r); yy <= min(a.Rect.Dy()-1, y+r); yy++ {
		for xx := max(0, x-r); xx <= min(a.Rect.Dx()-1, x+r); xx++ {
			i := a.PixOffset(xx, yy)
			if a.Pix[i] != b.Pix[i] || a.Pix[i+1] != b.Pix[i+1] || a.Pix[i+2] != b.Pix[i+2] {
				return true
			}
		}
	}
	return false
}
