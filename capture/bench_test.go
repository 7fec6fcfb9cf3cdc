package capture

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"testing"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/native"
)

// BenchmarkPNGDecode compares the two screencap decoders on a 720x1280
// screenshot of the simulated device, each writing into a pooled YUV420P
// frame as the source does.
func BenchmarkPNGDecode(b *testing.B) {
	if !native.Available {
		b.Skip("built without cgo")
	}
	sim, err := devicesim.New(devicesim.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	// Two screens: the simulator's flat test picture, and one textured like
	// a photo or a busy app, whose PNG is about as large as a phone's.
	flat := sim.Screen()
	textured := image.NewRGBA(flat.Bounds())
	for i := range textured.Pix {
		x, y := (i/4)%720, (i/4)/720
		textured.Pix[i] = uint8((x*x+y*3)>>3) ^ uint8((i*2654435761)>>29)
		if i%4 == 3 {
			textured.Pix[i] = 255
		}
	}
	for _, screen := range []struct {
		name string
		img  *image.RGBA
	}{{"flat", flat}, {"textured", textured}} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, screen.img); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		for _, name := range []string{PNGDecoderGo, PNGDecoderFFmpeg} {
			b.Run(screen.name+"/"+name, func(b *testing.B) {
				src := &ScreencapSource{opts: ScreencapOptions{PoolFrames: 2}}
				if src.dec, err = newPNGDecoder(name); err != nil {
					b.Fatal(err)
				}
				defer src.dec.Close()
				var pool *native.FramePool
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					var f *native.Frame
					if f, pool, err = src.decode(data, pool); err != nil {
						b.Fatal(err)
					}
					f.Release()
				}
				b.StopTimer()
				pool.Close()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fps")
				b.ReportMetric(float64(len(data)), "png-bytes")
			})
		}
	}
}

// benchDevice starts a still simulated device behind a private adb server,
// both stopped when the benchmark ends.
func benchDevice(b *testing.B) (*adb.Client, *devicesim.Device) {
	b.Helper()
	adbs := adbtest.Start(b)
	sim := simtest.Device(b, adbs, devicesim.Options{Static: true})
	c, err := adb.NewClient(adbs.Addr())
	if err != nil {
		b.Fatal(err)
	}
	return c, sim
}

// BenchmarkScreencapFPS measures the frame rate of the whole screencap
// path (adb server, device, PNG decode, conversion) with each decoder.
func BenchmarkScreencapFPS(b *testing.B) {
	c, sim := benchDevice(b)
	for _, name := range []string{PNGDecoderGo, PNGDecoderFFmpeg} {
		b.Run(name, func(b *testing.B) {
			src, err := NewScreencapSource(c, sim.Addr(), ScreencapOptions{Decoder: name})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := 0
			start := time.Now()
			src.Run(ctx, func(f *native.Frame) error {
				f.Release()
				if n++; n == b.N {
					cancel()
				}
				return nil
			})
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "fps")
		})
	}
}

// BenchmarkRawFramesRate reports the rate raw-frames delivers from a
// device animating at 60 fps, unpaced and capped by FrameRate at 30 and
// 15 (fps), with the share of the frames the cap dropped (paced/frame).
// It measures; it asserts nothing about the rate.
func BenchmarkRawFramesRate(b *testing.B) {
	adbs := adbtest.Start(b)
	sim := simtest.Device(b, adbs, devicesim.Options{Width: 360, Height: 640, FPS: 60})
	c, err := adb.NewClient(adbs.Addr())
	if err != nil {
		b.Fatal(err)
	}
	for _, rate := range []int{0, 30, 15} {
		name := "unpaced"
		if rate > 0 {
			name = fmt.Sprintf("cap%d", rate)
		}
		b.Run(name, func(b *testing.B) {
			src, err := NewRawFramesSource(c, sim.Addr(), RawFramesOptions{FrameRate: rate})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := 0
			var start time.Time
			src.Run(ctx, func(f *native.Frame) error {
				f.Release()
				if n == 0 {
					start = time.Now() // from the first frame: not screenrecord's start-up
					b.ResetTimer()
				}
				if n++; n == b.N+1 {
					cancel()
				}
				return nil
			})
			st := src.Stats()
			b.ReportMetric(float64(n-1)/time.Since(start).Seconds(), "fps")
			b.ReportMetric(float64(st.Paced)/float64(max(n, 1)), "paced/frame")
		})
	}
}
