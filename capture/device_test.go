package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	native.SetLogger(slog.New(slog.DiscardHandler)) // devicesim's encoders
	goleak.VerifyTestMain(m)
}

// testDeadline bounds each test that waits on a device (testutil.Deadline):
// a hang fails with every goroutine's stack instead of running into go
// test's -timeout. It catches hangs, never slowness.
const testDeadline = 2 * time.Minute

// testDevice is a devicesim device connected to a private adb server.
type testDevice struct {
	sim    *devicesim.Device
	adb    *adbtest.Server
	client *adb.Client
	serial string
}

func startDevice(t *testing.T, adbs *adbtest.Server, o devicesim.Options) *testDevice {
	t.Helper()
	sim := simtest.Device(t, adbs, o)
	c, err := adb.NewClient(adbs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return &testDevice{sim: sim, adb: adbs, client: c, serial: sim.Addr()}
}

// collect runs a screenrecord source until n samples arrived or the
// deadline passed, and returns copies of them.
func collect(t *testing.T, src *ScreenrecordSource, n int, deadline time.Duration) []Sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	var out []Sample
	err := src.Run(ctx, func(s Sample) error {
		out = append(out, s)
		if len(out) == n {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v", err)
	}
	return out
}

// decodeAll decodes samples and returns the pictures' sizes.
func decodeAll(t *testing.T, samples []Sample) []media.Size {
	t.Helper()
	dec, err := native.NewDecoder(native.DecoderH264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var sizes []media.Size
	for i, s := range samples {
		if err := dec.Decode(s.Data, func(p *native.Picture) error {
			sizes = append(sizes, media.Size{Width: p.Width, Height: p.Height})
			return nil
		}); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
	}
	return sizes
}

func TestScreenrecordSourceDecodes(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	adbs := adbtest.Start(t)
	d := startDevice(t, adbs, devicesim.Options{Width: 360, Height: 640, FPS: 15})
	src, err := NewScreenrecordSource(d.client, d.serial, ScreenrecordOptions{Size: media.Size{Width: 240, Height: 432}, BitRate: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	samples := collect(t, src, 20, 30*time.Second)
	if len(samples) < 20 {
		t.Fatalf("got %d samples before the deadline, want 20", len(samples))
	}
	if !samples[0].KeyFrame {
		t.Fatal("the first sample is not a keyframe")
	}
	sizes := decodeAll(t, samples)
	if len(sizes) != len(samples) {
		t.Fatalf("decoded %d pictures from %d access units", len(sizes), len(samples))
	}
	for i, s := range sizes {
		if s != (media.Size{Width: 240, Height: 432}) {
			t.Fatalf("picture %d is %v, want 240x432 (--size)", i, s)
		}
	}
	if info := src.Info(); info.Width != 240 || info.Height != 432 || len(info.ProfileLevelID) != 6 {
		t.Fatalf("stream info %+v", info)
	}
	if key, ok := src.KeyFrame(); !ok || !key.KeyFrame {
		t.Fatal("no cached keyframe")
	}
	if st := src.Stats(); st.Units != int64(len(samples)) || st.Bytes == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestScreenrecordAcrossTimeLimit runs capture across several screenrecord
// expiries: timestamps never go backwards, and no gap reaches a second (a
// lost stream, not scheduling: at 5 fps a frame comes every 200 ms, and a
// loaded 2-core machine has delayed one by more than two of those).
func TestScreenrecordAcrossTimeLimit(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	adbs := adbtest.Start(t)
	d := startDevice(t, adbs, devicesim.Options{Width: 240, Height: 320, FPS: 5})
	var errs []error
	var mu sync.Mutex
	src, err := NewScreenrecordSource(d.client, d.serial, ScreenrecordOptions{
		TimeLimit: 2 * time.Second, Lead: time.Second,
		OnError: func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	samples := collect(t, src, 35, 60*time.Second) // seven seconds of frames
	if len(samples) < 35 {
		t.Fatalf("got %d samples, want 35", len(samples))
	}
	if r := src.Stats().Restarts; r < 2 {
		t.Fatalf("%d restarts in seven seconds with a two-second time limit", r)
	}
	interval := 200 * time.Millisecond
	var worst time.Duration
	for i := 1; i < len(samples); i++ {
		gap := samples[i].PTS - samples[i-1].PTS
		if gap <= 0 {
			t.Fatalf("sample %d: PTS %v after %v", i, samples[i].PTS, samples[i-1].PTS)
		}
		worst = max(worst, gap)
	}
	t.Logf("%d samples, %d restarts, largest gap %v", len(samples), src.Stats().Restarts, worst)
	if worst >= 5*interval {
		t.Errorf("largest gap between samples %v, five frame intervals (%v) or more", worst, 5*interval)
	}
	if sizes := decodeAll(t, samples); len(sizes) != len(samples) {
		t.Fatalf("decoded %d of %d across restarts", len(sizes), len(samples))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 0 {
		t.Fatalf("planned restarts reported errors: %v", errs)
	}
}

func TestStaticScreenKeyFrameRequest(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	adbs := adbtest.Start(t)
	d := startDevice(t, adbs, devicesim.Options{Width: 240, Height: 320, Static: true})
	src, err := NewScreenrecordSource(d.client, d.serial, ScreenrecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan Sample, 16)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func(s Sample) error { got <- s; return nil }) }()
	first := <-got
	if !first.KeyFrame {
		t.Fatal("first sample not a keyframe")
	}
	// A still screen sends nothing more; a keyframe request restarts
	// screenrecord and brings a fresh IDR.
	src.RequestKeyFrame()
	select {
	case s := <-got:
		if !s.KeyFrame {
			t.Fatal("sample after the keyframe request is not a keyframe")
		}
		if s.PTS <= first.PTS {
			t.Fatalf("PTS went from %v to %v", first.PTS, s.PTS)
		}
	case <-ctx.Done():
		t.Fatal("no keyframe after RequestKeyFrame")
	}
	if key, ok := src.KeyFrame(); !ok || !key.KeyFrame {
		t.Fatal("no cached keyframe for a joining consumer")
	}
	cancel()
	<-done
}

func TestDeviceVanishesAndReturns(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	adbs := adbtest.Start(t)
	d := startDevice(t, adbs, devicesim.Options{Width: 240, Height: 320, FPS: 10})
	addr := d.sim.Addr()
	errc := make(chan error, 64)
	src, err := NewScreenrecordSource(d.client, d.serial, ScreenrecordOptions{
		OnError: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// The service keeps TCP devices connected; so does this test.
	wg.Go(func() {
		d.client.KeepConnected(ctx, slog.New(slog.DiscardHandler), []string{addr}, 200*time.Millisecond, nil)
	})
	samples := make(chan Sample, 256)
	wg.Go(func() {
		src.Run(ctx, func(s Sample) error {
			select {
			case samples <- s:
			default:
			}
			return nil
		})
	})
	waitSamples := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			select {
			case <-samples:
			case <-time.After(30 * time.Second):
				t.Fatalf("only %d samples", i)
			}
		}
	}
	waitSamples(5)

	d.sim.Close() // the device vanishes mid-stream
	select {
	case err := <-errc:
		t.Logf("consumer told: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no error reached the consumer after the device vanished")
	}
	for len(samples) > 0 {
		<-samples
	}

	// The device comes back on the same address; capture resumes.
	sim2, err := devicesim.New(devicesim.Options{Addr: addr, Width: 240, Height: 320, FPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	sim2.Start()
	defer sim2.Close()
	waitSamples(5)
	if src.Stats().Restarts == 0 {
		t.Fatal("capture resumed without a restart")
	}
}

func TestTwoDevicesConcurrently(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	adbs := adbtest.Start(t)
	devs := []*testDevice{
		startDevice(t, adbs, devicesim.Options{Width: 240, Height: 320, FPS: 10}),
		startDevice(t, adbs, devicesim.Options{Width: 320, Height: 240, FPS: 10}),
	}
	var wg sync.WaitGroup
	results := make([][]Sample, len(devs))
	for i, d := range devs {
		src, err := NewScreenrecordSource(d.client, d.serial, ScreenrecordOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { results[i] = collect(t, src, 10, 30*time.Second) })
	}
	wg.Wait()
	for i, want := range []media.Size{{Width: 240, Height: 320}, {Width: 320, Height: 240}} {
		sizes := decodeAll(t, results[i])
		if len(sizes) < 10 || slices.IndexFunc(sizes, func(s media.Size) bool { return s != want }) >= 0 {
			t.Fatalf("device %d: %d pictures, sizes %v, want 10 of %v", i, len(sizes), sizes, want)
		}
	}
}

func TestRawFramesSource(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	adbs := adbtest.Start(t)
	d := startDevice(t, adbs, devicesim.Options{Width: 240, Height: 320, FPS: 10})
	src, err := NewRawFramesSource(d.client, d.serial, RawFramesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	var lastPTS time.Duration = -1
	err = src.Run(ctx, func(f *native.Frame) error {
		defer f.Release()
		if f.Width() != 240 || f.Height() != 320 {
			return fmt.Errorf("frame %dx%d", f.Width(), f.Height())
		}
		if f.PTS <= lastPTS {
			return fmt.Errorf("PTS %v after %v", f.PTS, lastPTS)
		}
		lastPTS = f.PTS
		y := f.Plane(0)
		if slices.Min(y[:240]) == slices.Max(y[:240]) && slices.Min(y[160*f.Stride(0):160*f.Stride(0)+240]) == slices.Max(y[160*f.Stride(0):160*f.Stride(0)+240]) {
			return errors.New("frame is blank")
		}
		if n++; n == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n < 5 {
		t.Fatalf("Run: %v after %d frames", err, n)
	}
	if src.Size() != (media.Size{Width: 240, Height: 320}) {
		t.Fatalf("size %v", src.Size())
	}
}

func TestScreencapSource(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	adbs := adbtest.Start(t)
	d := startDevice(t, adbs, devicesim.Options{Width: 240, Height: 320, FPS: 10})
	for _, dec := range []string{PNGDecoderGo, PNGDecoderFFmpeg} {
		t.Run(dec, func(t *testing.T) {
			src, err := NewScreencapSource(d.client, d.serial, ScreencapOptions{Decoder: dec})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n := 0
			err = src.Run(ctx, func(f *native.Frame) error {
				defer f.Release()
				if f.Width() != 240 || f.Height() != 320 {
					return fmt.Errorf("frame %dx%d", f.Width(), f.Height())
				}
				if n++; n == 4 {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) || n < 4 {
				t.Fatalf("Run: %v after %d frames", err, n)
			}
			if src.Size() != (media.Size{Width: 240, Height: 320}) {
				t.Fatalf("size %v", src.Size())
			}
			t.Logf("%s: %d frames", dec, n)
		})
	}
}
