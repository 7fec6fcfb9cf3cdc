//go:build cgo

package native

import (
	"testing"
	"time"
)

// BenchmarkBackends measures each backend's encode rate on the textured
// moving pattern at the default options (2 Mb/s, preset faster), fed
// frames in the encoder's input format (Encoder.InputFormat), so without
// conversion: BenchmarkBackends/<codec>/<size>, with fps, bytes/frame and
// allocations per frame. One frame is encoded per
// iteration, synchronously, as a live stream does; the first (the key
// frame) is untimed. Backends this machine lacks are skipped with the
// prober's reason.
func BenchmarkBackends(b *testing.B) {
	inputs := make(map[string][][]byte)
	for _, sz := range benchSizes {
		inputs[sz.name] = benchInput(sz.w, sz.h)
	}
	for _, codec := range conformanceCodecs() {
		b.Run(codec, func(b *testing.B) {
			requireEncoder(b, codec)
			for _, sz := range benchSizes {
				b.Run(sz.name, func(b *testing.B) { benchBackend(b, codec, sz.w, sz.h, inputs[sz.name]) })
			}
		})
	}
}

func benchBackend(b *testing.B, codec string, w, h int, input [][]byte) {
	e, err := NewEncoder(Options{Codec: codec, Width: w, Height: h})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	format := e.InputFormat()
	pool, err := NewFramePool(w, h, format, 4)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	encode := func(i int, emit func(Packet) error) {
		f, err := pool.Get()
		if err != nil {
			b.Fatal(err)
		}
		if format == PixelFormatNV12 {
			copyNV12(f, input[i%len(input)], w, h)
		} else {
			copyYUV(f, input[i%len(input)], w, h)
		}
		if err := e.Encode(f, emit); err != nil {
			b.Fatal(err)
		}
	}
	encode(0, func(Packet) error { return nil })

	var total, packets int
	emit := func(p Packet) error {
		total += len(p.Data)
		packets++
		return nil
	}
	b.ReportAllocs()
	b.ResetTimer()
	begin := time.Now()
	for i := 0; i < b.N; i++ {
		encode(i+1, emit)
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	if err := e.Flush(emit); err != nil {
		b.Fatal(err)
	}
	if packets < b.N {
		b.Fatalf("%d packets for %d frames", packets, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "fps")
	b.ReportMetric(float64(total)/float64(packets), "bytes/frame")
}

// copyNV12 copies a packed YUV420P picture into a pooled NV12 frame,
// interleaving the chroma planes.
func copyNV12(f *Frame, src []byte, w, h int) {
	y, ys := f.Plane(0), f.Stride(0)
	for r := 0; r < h; r++ {
		copy(y[r*ys:r*ys+w], src[r*w:r*w+w])
	}
	u, v := src[w*h:w*h+w*h/4], src[w*h+w*h/4:]
	uv, s := f.Plane(1), f.Stride(1)
	for r := 0; r < h/2; r++ {
		row := uv[r*s : r*s+w]
		for c := 0; c < w/2; c++ {
			row[2*c] = u[r*w/2+c]
			row[2*c+1] = v[r*w/2+c]
		}
	}
}
