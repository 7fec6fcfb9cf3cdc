package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// shotCounts records what ScreenshotMetrics is told.
type shotCounts struct {
	mu sync.Mutex
	n  map[string]int // "source/result"
}

func (c *shotCounts) Screenshot(source, result string, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[source+"/"+result]++
}

func (c *shotCounts) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// screencaps counts the screencap commands the device ran.
func screencaps(sim *devicesim.Device) int {
	n := 0
	for _, argv := range sim.Commands() {
		if len(argv) > 0 && argv[0] == "screencap" {
			n++
		}
	}
	return n
}

// decodes returns the groups of pictures decoded for screenshots.
func (r *rig) decodes() int {
	r.reg.shots.mu.Lock()
	defer r.reg.shots.mu.Unlock()
	return r.reg.shots.decodes
}

// shot takes a screenshot and decodes it.
func (r *rig) shot(t *testing.T, req ScreenshotRequest) (Screenshot, image.Image) {
	t.Helper()
	s, err := r.reg.Screenshot(context.Background(), r.serial, req)
	if err != nil {
		t.Fatalf("screenshot %+v: %v", req, err)
	}
	return s, decodeShot(t, s)
}

func decodeShot(t *testing.T, s Screenshot) image.Image {
	t.Helper()
	var img image.Image
	var err error
	switch s.ContentType {
	case "image/png":
		img, err = png.Decode(bytes.NewReader(s.Data))
	case "image/jpeg":
		img, err = jpeg.Decode(bytes.NewReader(s.Data))
	default:
		t.Fatalf("content type %q", s.ContentType)
	}
	if err != nil {
		t.Fatalf("decode the %s screenshot: %v", s.ContentType, err)
	}
	if b := img.Bounds(); b.Dx() != s.Width || b.Dy() != s.Height {
		t.Fatalf("a %v image said to be %dx%d", b, s.Width, s.Height)
	}
	return img
}

// markAt reports whether the picture shows pointer 0's mark
// (devicesim.PointerColors[0]) around (x, y): every pixel within 2 of it
// is that colour, within a tolerance for the stream's compression.
func markAt(img image.Image, x, y int) (bool, string) {
	want := devicesim.PointerColors[0]
	for dy := -2; dy <= 2; dy++ {
		for dx := -2; dx <= 2; dx++ {
			r, g, b, _ := img.At(x+dx, y+dy).RGBA()
			got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
			for i, w := range [3]int{int(want.R), int(want.G), int(want.B)} {
				if d := got[i] - w; d < -48 || d > 48 {
					return false, fmt.Sprintf("(%d,%d) is %v, want about %v", x+dx, y+dy, got, want)
				}
			}
		}
	}
	return true, ""
}

// lastTap returns where the device's last tap (or finger down) landed.
func lastTap(sim *devicesim.Device) (x, y int, ok bool) {
	for _, ev := range sim.Events() {
		if ev.Kind == devicesim.InputTap || ev.Kind == devicesim.InputTouch && ev.Action == devicesim.ActionDown {
			x, y, ok = ev.X, ev.Y, true
		}
	}
	return
}

// burst sends n screenshot requests at once and checks every answer.
func (r *rig) burst(t *testing.T, n int, req ScreenshotRequest, check func(Screenshot) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			s, err := r.reg.Screenshot(context.Background(), r.serial, req)
			if err == nil {
				err = check(s)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// tapShows taps the running device through its viewer (at fractions fx,
// fy of the screen) and waits until a screenshot shows the mark.
func tapShows(t *testing.T, r *rig, v *Viewer, fx, fy float64, source string) {
	t.Helper()
	if err := v.Input(context.Background(), media.Input{Type: media.InputTap, X: fx, Y: fy}); err != nil {
		t.Fatal(err)
	}
	var x, y int
	testutil.Eventually(t, "the tap on the device", testutil.Generous, func() bool {
		var ok bool
		x, y, ok = lastTap(r.sim)
		return ok
	})
	testutil.EventuallyErr(t, "the tap's mark in a screenshot", testutil.Generous, func() (bool, error) {
		s, img := r.shot(t, ScreenshotRequest{})
		if s.Source != source {
			t.Fatalf("source %q, want %q", s.Source, source)
		}
		if s.Width != 240 || s.Height != 320 || s.ContentType != "image/png" {
			t.Fatalf("a %dx%d %s screenshot of a 240x320 device", s.Width, s.Height, s.ContentType)
		}
		if ok, why := markAt(img, x, y); !ok {
			return false, errors.New(why)
		}
		return true, nil
	})
}

// TestScreenshotRunning: a screenshot of a running device, in pass-through
// (its H.264 decoded here from the cached keyframe on) and when this
// service encodes (its latest decoded picture), is the device's size and
// shows a tap made just before; 200 requests at once take one picture
// (one decode, no capture) and make thumbnails at most 160 wide; the
// metrics count one taken and the rest shared.
func TestScreenshotRunning(t *testing.T) {
	for _, c := range []struct {
		name   string
		cfg    Config
		source string
	}{
		{"passthrough", Config{Kind: media.KindPassthrough}, SourceDecoded},
		{"encoded", Config{Kind: media.KindH264, Encoder: native.Options{FrameRate: 15, BitRate: 1_000_000, Preset: "ultrafast"}}, SourcePicture},
	} {
		t.Run(c.name, func(t *testing.T) {
			counts := &shotCounts{}
			c.cfg.Screenshots = counts
			r := newRig(t, c.cfg)
			v := r.join(t, context.Background(), "a")
			defer v.Close()
			caps := screencaps(r.sim)
			tapShows(t, r, v, 0.25, 0.45, c.source)

			// A burst after the window: one picture for all.
			time.Sleep(r.reg.window() + 50*time.Millisecond)
			dec, taken, shared := r.decodes(), counts.get(c.source+"/taken"), counts.get(c.source+"/shared")
			r.burst(t, 200, ScreenshotRequest{MaxWidth: 160}, func(s Screenshot) error {
				if s.Width != 160 || s.Height != 213 || s.Source != c.source {
					return fmt.Errorf("thumbnail %dx%d from %s", s.Width, s.Height, s.Source)
				}
				if img, err := png.Decode(bytes.NewReader(s.Data)); err != nil || img.Bounds().Dx() != 160 {
					return fmt.Errorf("thumbnail does not decode to 160 wide: %v", err)
				}
				return nil
			})
			wantDecodes := 0
			if c.source == SourceDecoded {
				wantDecodes = 1
			}
			if n := r.decodes() - dec; n != wantDecodes {
				t.Errorf("200 requests decoded %d groups of pictures, want %d", n, wantDecodes)
			}
			if n := screencaps(r.sim) - caps; n != 0 {
				t.Errorf("%d screencaps of a running device", n)
			}
			if n := counts.get(c.source + "/taken"); n != taken+1 {
				t.Errorf("200 requests took %d pictures", n-taken)
			}
			if n := counts.get(c.source + "/shared"); n != shared+199 {
				t.Errorf("200 requests: %d shared, want 199", n-shared)
			}

			// JPEG, as a thumbnail too.
			s, img := r.shot(t, ScreenshotRequest{Format: FormatJPEG, MaxWidth: 160})
			if s.ContentType != "image/jpeg" || img.Bounds().Dx() != 160 {
				t.Fatalf("JPEG thumbnail %s %v", s.ContentType, img.Bounds())
			}
		})
	}
}

// TestScreenshotNotRunning: a device that does not run here is captured
// once (screencap -p), without starting it: the PNG, as the device wrote
// it, shows a tap made just before; 200 requests at once run one
// screencap; a JPEG thumbnail decodes at most 160 wide; a device that
// adb does not list is media.ErrUnknownDevice.
func TestScreenshotNotRunning(t *testing.T) {
	counts := &shotCounts{}
	r := newRig(t, Config{Screenshots: counts})
	ctx := context.Background()
	s, img := r.shot(t, ScreenshotRequest{})
	if s.Source != SourceCapture || s.Width != 240 || s.Height != 320 {
		t.Fatalf("a %dx%d screenshot from %q", s.Width, s.Height, s.Source)
	}
	if r.reg.Count() != 0 {
		t.Fatal("the screenshot started the device")
	}
	in, err := adb.NewInput(r.reg.cfg.ADB, r.serial, r.reg.log)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	x, y := 60, 140
	if ok, _ := markAt(img, x, y); ok {
		t.Fatal("the mark is there before the tap")
	}
	if err := in.Tap(ctx, x, y); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the tap on the device", testutil.Generous, func() bool {
		tx, ty, ok := lastTap(r.sim)
		return ok && tx == x && ty == y
	})
	time.Sleep(r.reg.window() + 50*time.Millisecond) // the picture before the tap has expired
	s, img = r.shot(t, ScreenshotRequest{Format: FormatPNG})
	if ok, why := markAt(img, x, y); !ok {
		t.Fatalf("no tap mark in the screenshot: %s", why)
	}

	time.Sleep(r.reg.window() + 50*time.Millisecond)
	caps := screencaps(r.sim)
	r.burst(t, 200, ScreenshotRequest{}, func(s Screenshot) error {
		if s.Source != SourceCapture || s.Width != 240 {
			return fmt.Errorf("%dx%d from %s", s.Width, s.Height, s.Source)
		}
		return nil
	})
	if n := screencaps(r.sim) - caps; n != 1 {
		t.Errorf("200 requests ran %d screencaps, want 1", n)
	}
	if taken, shared := counts.get("capture/taken"), counts.get("capture/shared"); taken != 3 || shared != 199 {
		t.Errorf("counted %d taken, %d shared", taken, shared)
	}

	s, img = r.shot(t, ScreenshotRequest{Format: FormatJPEG, MaxWidth: 160})
	if s.ContentType != "image/jpeg" || img.Bounds().Dx() != 160 || img.Bounds().Dy() != 213 {
		t.Fatalf("JPEG thumbnail %s %v", s.ContentType, img.Bounds())
	}
	if n := screencaps(r.sim) - caps; n != 1 {
		t.Errorf("another variant within the window ran a screencap (%d)", n)
	}

	if _, err := r.reg.Screenshot(ctx, "127.0.0.1:1", ScreenshotRequest{}); !errors.Is(err, media.ErrUnknownDevice) {
		t.Errorf("a device adb does not list: %v", err)
	}
	if _, err := r.reg.Screenshot(ctx, "a;reboot", ScreenshotRequest{}); !errors.Is(err, media.ErrInvalidDeviceID) {
		t.Errorf("a hostile device ID: %v", err)
	}
	if _, err := r.reg.Screenshot(ctx, r.serial, ScreenshotRequest{MaxWidth: 8}); !errors.Is(err, media.ErrInvalidArgument) {
		t.Errorf("maxWidth 8: %v", err)
	}
	if counts.get("capture/failed") != 1 {
		t.Errorf("failures counted %d, want 1", counts.get("capture/failed"))
	}
	r.reg.Close()
	if _, err := r.reg.Screenshot(ctx, r.serial, ScreenshotRequest{}); !errors.Is(err, media.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestFitWidthAndScaleDown(t *testing.T) {
	for _, c := range []struct{ w, h, max, ww, wh int }{
		{1080, 2400, 0, 1080, 2400},
		{1080, 2400, 160, 160, 356},
		{240, 320, 160, 160, 213},
		{100, 50, 4096, 100, 50}, // never up
		{4000, 1, 16, 16, 1},
	} {
		if w, h := fitWidth(c.w, c.h, c.max); w != c.ww || h != c.wh {
			t.Errorf("fit %dx%d in %d: %dx%d, want %dx%d", c.w, c.h, c.max, w, h, c.ww, c.wh)
		}
	}
	src := image.NewNRGBA(image.Rect(0, 0, 4, 2))
	for i := range src.Pix {
		src.Pix[i] = 255
	}
	src.Pix[0], src.Pix[4] = 0, 0 // two pixels of the left half have no red
	got := scaleDown(src, 2, 1)
	if r := got.Pix[0]; r != 128 {
		t.Errorf("left half's red %d, want the average 128", r)
	}
	if r := got.Pix[4]; r != 255 {
		t.Errorf("right half's red %d", r)
	}
}
