package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// sizeLog records the sizes a source's OnSize was told.
type sizeLog struct {
	mu    sync.Mutex
	sizes []media.Size
}

func (l *sizeLog) add(s media.Size) { l.mu.Lock(); l.sizes = append(l.sizes, s); l.mu.Unlock() }

func (l *sizeLog) get() []media.Size {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sizes)
}

var (
	portrait  = media.Size{Width: 240, Height: 320}
	landscape = media.Size{Width: 320, Height: 240}
)

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestScreencapPacing runs the screencap loop on a fake clock and a fake
// device: FrameRate spaces the starts of the captures, and OnSize hears
// of the first size and of a turn.
func TestScreencapPacing(t *testing.T) {
	if !native.Available {
		t.Skip("decoding needs FFmpeg, linked only with cgo")
	}
	testutil.Deadline(t, testDeadline)
	if src, err := NewScreencapSource(nil, "emulator-5554", ScreencapOptions{Decoder: PNGDecoderGo, FrameRate: 10, Interval: 300 * time.Millisecond}); err != nil || src.opts.Interval != 300*time.Millisecond {
		t.Fatalf("a longer Interval than 1/FrameRate: %v, %v", err, src.opts.Interval)
	}
	var sizes sizeLog
	src, err := NewScreencapSource(nil, "emulator-5554", ScreencapOptions{Decoder: PNGDecoderGo, FrameRate: 10, OnSize: sizes.add})
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	src.clk = clk
	start := clk.Now()
	tall, wide := pngOf(t, 48, 64), pngOf(t, 64, 48)
	shots := make(chan time.Duration, 16)
	n := 0
	src.shoot = func(context.Context) ([]byte, error) {
		shots <- clk.Now().Sub(start)
		n++
		if n > 3 {
			return wide, nil
		}
		return tall, nil
	}
	frames := make(chan media.Size, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(f *native.Frame) error {
			frames <- media.Size{Width: f.Width(), Height: f.Height()}
			f.Release()
			return nil
		})
	}()
	for i := range 6 {
		select {
		case at := <-shots:
			if want := time.Duration(i) * 100 * time.Millisecond; at != want {
				t.Fatalf("capture %d started at %v, want %v", i, at, want)
			}
		case <-time.After(testutil.Generous):
			t.Fatalf("capture %d never started", i)
		}
		want := media.Size{Width: 48, Height: 64}
		if i >= 3 {
			want = media.Size{Width: 64, Height: 48}
		}
		if got := <-frames; got != want {
			t.Fatalf("frame %d is %v, want %v", i, got, want)
		}
		clk.waitArmed(t, 1) // waiting for the next capture's turn
		clk.Advance(60 * time.Millisecond)
		if clk.armed() != 1 || len(shots) != 0 {
			t.Fatal("a capture started before 1/FrameRate had passed")
		}
		clk.Advance(40 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if got, want := sizes.get(), []media.Size{{Width: 48, Height: 64}, {Width: 64, Height: 48}}; !slices.Equal(got, want) {
		t.Fatalf("OnSize heard %v, want %v", got, want)
	}
}

// runFrames runs a frame source in the background, sending the size of
// each frame (released at once) to the channel it returns; stop ends it.
func runFrames(t *testing.T, run func(context.Context, func(*native.Frame) error) error) (<-chan media.Size, func()) {
	t.Helper()
	sizes := make(chan media.Size, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(f *native.Frame) error {
			s := media.Size{Width: f.Width(), Height: f.Height()}
			f.Release()
			select {
			case sizes <- s:
			default:
			}
			return nil
		})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return sizes, stop
}

// waitSize reads frame sizes until one is want; it returns how many came
// before it.
func waitSize(t *testing.T, sizes <-chan media.Size, want media.Size) int {
	t.Helper()
	n := 0
	for {
		select {
		case s := <-sizes:
			if s == want {
				return n
			}
			n++
		case <-time.After(testutil.Generous):
			t.Fatalf("no %v frame after %d others", want, n)
		}
	}
}

// TestRawFramesFollowsRotation turns the device mid-stream: the source's
// size check (on a fake clock) sees the new size, restarts screenrecord at
// it, and the frames after the switch have it.
func TestRawFramesFollowsRotation(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := startDevice(t, adbtest.Start(t), devicesim.Options{Width: 240, Height: 320, FPS: 10})
	var told sizeLog
	src, err := NewRawFramesSource(d.client, d.serial, RawFramesOptions{OnSize: told.add})
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	src.clk = clk
	sizes, stop := runFrames(t, src.Run)
	waitSize(t, sizes, portrait)
	clk.waitArmed(t, 1) // the size check of the running screenrecord
	if err := d.sim.SetRotation(1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultSizeCheckInterval)
	waitSize(t, sizes, landscape)
	for i := range 3 {
		if s := waitSize(t, sizes, landscape); s != 0 {
			t.Fatalf("frame %d after the switch: %d frames of another size first", i, s)
		}
	}
	stop()
	if got, want := told.get(), []media.Size{portrait, landscape}; !slices.Equal(got, want) {
		t.Fatalf("OnSize heard %v, want %v", got, want)
	}
	if src.Size() != landscape {
		t.Fatalf("Size() = %v after the turn", src.Size())
	}
	if st := src.Stats(); st.Restarts < 1 {
		t.Fatalf("stats %+v: no restart for the turn", st)
	}
	// Every screenrecord after the turn asked for the new size.
	var last []string
	for _, argv := range d.sim.Commands() {
		if argv[0] == "screenrecord" {
			last = argv
		}
	}
	if !slices.Contains(last, "320x240") {
		t.Fatalf("the last screenrecord ran as %q", last)
	}
}

// TestRawFramesPaced caps a 30 fps device at 5 fps on a fake clock: while
// the clock stands still, one frame goes out and the newer ones replace
// each other; each step of the clock lets the newest out.
func TestRawFramesPaced(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := startDevice(t, adbtest.Start(t), devicesim.Options{Width: 240, Height: 320, FPS: 30})
	src, err := NewRawFramesSource(d.client, d.serial, RawFramesOptions{FrameRate: 5, SizeCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	src.clk = clk
	sizes, stop := runFrames(t, src.Run)
	waitSize(t, sizes, portrait)
	testutil.Eventually(t, "frames paced out", testutil.Generous, func() bool { return src.Stats().Paced >= 3 })
	if len(sizes) != 0 || src.Stats().Units != 1 {
		t.Fatalf("%d frames went out before the clock moved, want 1", src.Stats().Units)
	}
	clk.waitArmed(t, 1)
	clk.Advance(200 * time.Millisecond)
	waitSize(t, sizes, portrait)
	stop()
	st := src.Stats()
	if st.Units != 2 || st.Paced < 3 {
		t.Fatalf("stats %+v; want 2 frames delivered, the rest paced", st)
	}
}

// TestScreencapFollowsRotation: screenshots after a turn have the turned
// size, and OnSize hears of it.
func TestScreencapFollowsRotation(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := startDevice(t, adbtest.Start(t), devicesim.Options{Width: 240, Height: 320, Static: true})
	var told sizeLog
	src, err := NewScreencapSource(d.client, d.serial, ScreencapOptions{OnSize: told.add})
	if err != nil {
		t.Fatal(err)
	}
	sizes, stop := runFrames(t, src.Run)
	waitSize(t, sizes, portrait)
	if err := d.sim.SetRotation(3); err != nil {
		t.Fatal(err)
	}
	waitSize(t, sizes, landscape)
	stop()
	if got, want := told.get(), []media.Size{portrait, landscape}; !slices.Equal(got, want) {
		t.Fatalf("OnSize heard %v, want %v", got, want)
	}
	if src.Size() != landscape {
		t.Fatalf("Size() = %v", src.Size())
	}
}

// TestScreenrecordFollowsRotation: the H.264 pass-through restarts
// screenrecord after a turn, so that the stream switches, at a keyframe,
// to pictures of the new size, and its SPS says so.
func TestScreenrecordFollowsRotation(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := startDevice(t, adbtest.Start(t), devicesim.Options{Width: 240, Height: 320, FPS: 10})
	var told sizeLog
	src, err := NewScreenrecordSource(d.client, d.serial, ScreenrecordOptions{BitRate: 1_000_000, OnSize: told.add})
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	src.clk = clk
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var samples []Sample
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(samples) }
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(s Sample) error { mu.Lock(); samples = append(samples, s); mu.Unlock(); return nil })
	}()
	testutil.Eventually(t, "samples", testutil.Generous, func() bool { return count() >= 3 })
	clk.waitArmed(t, 1)
	if err := d.sim.SetRotation(1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultSizeCheckInterval)
	testutil.Eventually(t, "the stream at the turned size", testutil.Generous, func() bool {
		i := src.Info()
		return i.Width == 320 && i.Height == 240
	})
	n := count()
	testutil.Eventually(t, "samples after the switch", testutil.Generous, func() bool { return count() >= n+3 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if got, want := told.get(), []media.Size{portrait, landscape}; !slices.Equal(got, want) {
		t.Fatalf("OnSize heard %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	got := decodeAll(t, samples)
	if len(got) != len(samples) {
		t.Fatalf("decoded %d pictures from %d access units", len(got), len(samples))
	}
	turn := slices.Index(got, landscape)
	if turn < 1 || got[0] != portrait || !samples[turn].KeyFrame {
		t.Fatalf("sizes %v: want portrait, then landscape from a keyframe on", got)
	}
	for i, s := range got[turn:] {
		if s != landscape {
			t.Fatalf("picture %d after the switch is %v", i, s)
		}
	}
	if st := src.Stats(); st.Restarts < 1 || st.KeyFrameRequests != 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%s", fmt.Sprint(len(samples), " samples, switch at ", turn))
}
