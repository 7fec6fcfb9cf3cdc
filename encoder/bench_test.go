package encoder

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

// BenchmarkWorkerPool encodes 640x360 streams (libx264, preset faster)
// through a pool of 4 workers with 1, 2, 4 and 8 concurrent streams. Each
// stream submits its next frame when its previous unit came out, so the
// per-stream latency (submit to unit) and the aggregate frame rate are
// both measured.
func BenchmarkWorkerPool(b *testing.B) {
	needFFmpeg(b)
	const w, h = 640, 360
	opts := native.Options{Width: w, Height: h, Preset: "faster"}
	// Eight distinct pictures, copied into pooled frames.
	pics := make([][]byte, 8)
	for i := range pics {
		pics[i] = make([]byte, w*h*3/2)
		for j := range pics[i] {
			pics[i][j] = byte(j*7/w + j%w/3 + i*9)
		}
	}
	fill := func(f *native.Frame, pic []byte) {
		off := 0
		for p, pw := range [3]int{w, w / 2, w / 2} {
			rows := h
			if p > 0 {
				rows = h / 2
			}
			plane, stride := f.Plane(p), f.Stride(p)
			for r := 0; r < rows; r++ {
				copy(plane[r*stride:r*stride+pw], pic[off:off+pw])
				off += pw
			}
		}
	}
	for _, streams := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			pool, err := NewWorkerPool(WorkerPoolOptions{
				Workers: 4, InputBuffer: 2, OutputBuffer: 64,
				EncoderFactory: func(string) Chain { return ChainFor([]string{native.CodecX264}, opts) },
				EncodeTimeout:  time.Second, Log: quiet,
			})
			if err != nil {
				b.Fatal(err)
			}
			route := make(map[string]chan media.Unit, streams)
			for s := range streams {
				route[fmt.Sprint(s)] = make(chan media.Unit, 4)
			}
			var dispatch sync.WaitGroup
			dispatch.Go(func() {
				for o := range pool.Output() {
					route[o.Stream] <- o.Unit
				}
			})
			perStream := max(b.N/streams, 1)
			lat := make([][]time.Duration, streams)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for s := range streams {
				wg.Go(func() {
					name := fmt.Sprint(s)
					fp, err := native.NewFramePool(w, h, native.PixelFormatYUV420P, 4)
					if err != nil {
						b.Error(err)
						return
					}
					defer fp.Close()
					for i := range perStream + 1 { // the first, untimed, opens the encoder
						f, err := fp.Get()
						if err != nil {
							b.Error(err)
							return
						}
						fill(f, pics[(i+s)%len(pics)])
						t0 := time.Now()
						if !pool.Submit(name, f) {
							b.Error("frame dropped")
							return
						}
						<-route[name]
						if i > 0 {
							lat[s] = append(lat[s], time.Since(t0))
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			pool.Close()
			dispatch.Wait()
			all := slices.Concat(lat...)
			slices.Sort(all)
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "fps")
			b.ReportMetric(float64(all[len(all)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(all[min(len(all)-1, len(all)*99/100)])/1e6, "p99-ms")
		})
	}
}
