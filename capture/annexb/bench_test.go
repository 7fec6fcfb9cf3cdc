package annexb

import (
	"bytes"
	"io"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

// benchStream is the portrait stream eight times over: 160 access units,
// 144 KB, each copy starting with SPS, PPS and an IDR.
func benchStream(b *testing.B) []byte {
	return bytes.Repeat(readStream(b, "portrait_720x1280.h264"), 8)
}

// benchAUs splits the bench stream into its access units.
func benchAUs(b *testing.B) [][]byte {
	got, errs := frameChunked(benchStream(b), nil, true, Options{})
	if len(errs) != 0 {
		b.Fatal(errs)
	}
	aus := make([][]byte, len(got))
	for i, a := range got {
		aus[i] = a.data
	}
	return aus
}

// BenchmarkFramer frames a real stream fed in chunks of a network packet
// and of a large socket read, and reports throughput and allocations per
// access unit.
func BenchmarkFramer(b *testing.B) {
	stream := benchStream(b)
	for _, size := range []int{1500, 64 << 10} {
		b.Run("chunk="+strconv.Itoa(size), func(b *testing.B) {
			chunks := slices.Collect(slices.Chunk(stream, size))
			f := NewFramer(Options{})
			n := 0
			emit := func(AccessUnit) error { n++; return nil }
			run := func() {
				for _, c := range chunks {
					if err := f.Write(c, time.Time{}, emit); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Flush(time.Time{}, emit); err != nil {
					b.Fatal(err)
				}
			}
			run() // grows the buffer
			n = 0
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for b.Loop() {
				run()
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n), "allocs/AU")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/AU")
		})
	}
}

// BenchmarkDeliveryDelay measures the time from handing the framer the
// chunk that holds an access unit's last byte to the access unit's emit
// (delay-ns, the mean; max-delay-ns). Each op is one access unit, fed in
// 1500-byte chunks.
//
//   - framer-flush: Write then Flush, as Stream does when the input goes
//     quiet: the framer's own cost.
//   - stream-idle-1ms: Stream over a pipe with idle = 1ms; the writer
//     sends the next access unit once the previous one is emitted, as an
//     encoder at any frame rate would after a frame's worth of quiet.
//   - stream-next-start-code: Stream with idle = 0, the naive framing that
//     emits an access unit only when the next one's start code arrives,
//     with access units written every 33 ms (30 fps): the delay is one
//     frame interval.
func BenchmarkDeliveryDelay(b *testing.B) {
	aus := benchAUs(b)
	report := func(b *testing.B, delays []time.Duration) {
		var sum, worst time.Duration
		for _, d := range delays {
			sum += d
			worst = max(worst, d)
		}
		if len(delays) > 0 {
			b.ReportMetric(float64(sum.Nanoseconds())/float64(len(delays)), "delay-ns")
			b.ReportMetric(float64(worst.Nanoseconds()), "max-delay-ns")
		}
	}

	b.Run("framer-flush", func(b *testing.B) {
		f := NewFramer(Options{})
		delays := make([]time.Duration, 0, 1<<16)
		emit := func(a AccessUnit) error {
			if len(delays) < cap(delays) {
				delays = append(delays, time.Since(a.Arrival))
			}
			return nil
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			for c := range slices.Chunk(aus[i%len(aus)], 1500) {
				if err := f.Write(c, time.Now(), emit); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Flush(time.Now(), emit); err != nil {
				b.Fatal(err)
			}
			i++
		}
		report(b, delays)
	})

	streamDelay := func(b *testing.B, idle, interval time.Duration) {
		pr, pw := io.Pipe()
		emitted := make(chan time.Duration, 1)
		done := make(chan error, 1)
		go func() {
			done <- Stream(pr, idle, Options{}, func(a AccessUnit) error {
				d := time.Since(a.Arrival)
				select {
				case emitted <- d:
				default: // the naive variant emits while the writer writes
				}
				return nil
			})
		}()
		var delays []time.Duration
		i := 0
		writeAU := func() {
			for c := range slices.Chunk(aus[i%len(aus)], 1500) {
				if _, err := pw.Write(c); err != nil {
					b.Fatal(err)
				}
			}
			i++
		}
		for b.Loop() {
			writeAU()
			if interval == 0 {
				delays = append(delays, <-emitted)
				continue
			}
			time.Sleep(interval) // the next frame
			select {
			case d := <-emitted:
				delays = append(delays, d)
			default:
			}
		}
		pw.Close()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		report(b, delays)
	}
	b.Run("stream-idle-1ms", func(b *testing.B) { streamDelay(b, time.Millisecond, 0) })
	b.Run("stream-next-start-code", func(b *testing.B) { streamDelay(b, 0, 33*time.Millisecond) })
}
