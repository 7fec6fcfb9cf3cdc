//go:build cgo

package native

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkTranscode re-encodes one device's stream, as the service does
// for a rung or a codec that the device does not send: one 720p30 H.264
// stream (transcodeFrames frames of the textured moving pattern, made
// first by libx264 at 2 Mb/s, cycled) decoded and encoded again with
// libx264 at the default options (preset faster, 2 Mb/s, as
// BenchmarkX264), one access unit at a time, in lockstep:
//
//   - inprocess: VideoDecoder (software, a slice thread per core) hands
//     each picture to Encoder.Encode without a copy;
//   - subprocess-lockstep: the ffmpeg program (-f h264 -i pipe:0 ... -c:v
//     libx264 ... -f flv pipe:1) fed one access unit and an access unit
//     delimiter through a pipe, its access unit read back before the next
//     goes in. The delimiter ends the access unit for ffmpeg's H.264
//     parser, which would otherwise wait for the next one; -probesize 32
//     and -flags low_delay keep ffmpeg from reading ahead and from frame
//     threading, its decoder's delay (-fflags nobuffer must not be added:
//     it drops the access unit read while probing, the IDR). That is the
//     subprocess's best case.
//
// Both report latency per frame (access unit in to access unit out, p50
// and p99), fps, CPU ms per frame (the whole process's, and ffmpeg's for
// the subprocess) and bytes per frame. The first access unit (the IDR) is
// untimed on both sides.
func BenchmarkTranscode(b *testing.B) {
	const w, h = 1280, 720
	aus := transcodeInput(b, w, h)
	b.Run("720p/inprocess", func(b *testing.B) { benchTranscodeInProcess(b, w, h, aus) })
	b.Run("720p/subprocess-lockstep", func(b *testing.B) { benchTranscodeSubprocess(b, w, h, aus) })
}

const transcodeFrames = 200

var transcodeStream struct {
	once sync.Once
	aus  [][]byte
	err  error
}

// transcodeInput returns the input stream, encoded once per test binary.
func transcodeInput(tb testing.TB, w, h int) [][]byte {
	tb.Helper()
	transcodeStream.once.Do(func() {
		transcodeStream.aus, transcodeStream.err = encodePattern(w, h, transcodeFrames)
	})
	if transcodeStream.err != nil {
		tb.Fatal(transcodeStream.err)
	}
	return transcodeStream.aus
}

// encodePattern encodes n frames of the textured pattern with libx264 at
// the default options (2 Mb/s) and returns the access units.
func encodePattern(w, h, n int) ([][]byte, error) {
	e, err := NewEncoder(benchOptions(w, h))
	if err != nil {
		return nil, err
	}
	defer e.Close()
	pool, err := NewFramePool(w, h, PixelFormatYUV420P, 2)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	pat := newTestPattern(w, h, true)
	var aus [][]byte
	emit := func(p Packet) error { aus = append(aus, bytes.Clone(p.Data)); return nil }
	for i := range n {
		f, err := pool.Get()
		if err != nil {
			return nil, err
		}
		pat.fill(i, f.Plane(0), f.Stride(0), f.Plane(1), f.Stride(1), f.Plane(2), f.Stride(2))
		if err := e.Encode(f, emit); err != nil {
			return nil, err
		}
	}
	if err := e.Flush(emit); err != nil {
		return nil, err
	}
	if len(aus) != n {
		return nil, fmt.Errorf("%d access units for %d frames", len(aus), n)
	}
	return aus, nil
}

func benchTranscodeInProcess(b *testing.B, w, h int, aus [][]byte) {
	// As many slice threads as ffmpeg's "-threads auto" gives its decoder:
	// the stream has a slice per core (libx264's sliced threads, which
	// tune zerolatency selects).
	d, err := NewVideoDecoder(DecoderOptions{Backend: BackendSoftware, Threads: runtime.NumCPU()})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	e, err := NewEncoder(benchOptions(w, h))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	transcode := func(i int, emit func(Packet) error) {
		pts := time.Duration(i) * time.Second / 30
		if err := d.DecodeAt(aus[i%len(aus)], pts, func(f *Frame) error { return e.Encode(f, emit) }); err != nil {
			b.Fatal(err)
		}
	}
	transcode(0, func(Packet) error { return nil })

	lat := make([]time.Duration, b.N)
	var start time.Time
	var total, units int
	emit := func(p Packet) error {
		total += len(p.Data)
		lat[units] = time.Since(start)
		units++
		return nil
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b, 0)
	begin := time.Now()
	for i := 0; i < b.N; i++ {
		start = time.Now()
		transcode(i+1, emit)
	}
	elapsed := time.Since(begin)
	cpu := cpuTime(b, 0) - cpu0
	b.StopTimer()
	if units != b.N {
		b.Fatalf("%d access units out for %d in", units, b.N)
	}
	reportLatency(b, lat, elapsed)
	b.ReportMetric(float64(total)/float64(units), "bytes/frame")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/frame")
}

// transcodeArgs is ffmpeg decoding H.264 from its stdin and encoding it as
// ffmpegArgs does.
func transcodeArgs(w, h int) []string {
	enc := ffmpegArgs(w, h)
	enc = enc[slices.Index(enc, "-c:v"):]
	return append([]string{
		"-hide_banner", "-loglevel", "error", "-nostdin",
		"-probesize", "32", "-flags", "low_delay",
		"-f", "h264", "-framerate", strconv.Itoa(benchOptions(w, h).FrameRate), "-i", "pipe:0",
	}, enc...)
}

// accessUnitDelimiter is an H.264 AUD NAL unit (primary_pic_type 7: any
// slice type), which starts an access unit.
var accessUnitDelimiter = []byte{0, 0, 0, 1, 9, 0xf0}

func benchTranscodeSubprocess(b *testing.B, w, h int, aus [][]byte) {
	fe := startFFmpegArgs(b, transcodeArgs(w, h))
	input := make([][]byte, len(aus))
	for i, au := range aus {
		input[i] = slices.Concat(au, accessUnitDelimiter)
	}
	// A watchdog: should ffmpeg wait for more input than one access unit
	// (it must not), fail rather than hang.
	stuck := time.AfterFunc(time.Minute, func() { fe.cmd.Process.Kill() })
	defer stuck.Stop()
	// Warm up: ffmpeg probes the stream and opens libx264 at the first
	// access unit.
	if _, err := fe.stdin.Write(input[0]); err != nil {
		b.Fatal(err)
	}
	if _, err := fe.out.next(); err != nil {
		b.Fatalf("ffmpeg returned nothing for the first access unit: %v", err)
	}
	lat := make([]time.Duration, b.N)
	var total int
	pid := fe.cmd.Process.Pid
	b.ResetTimer()
	cpu0 := cpuTime(b, pid)
	begin := time.Now()
	for i := 0; i < b.N; i++ {
		sent := time.Now()
		if _, err := fe.stdin.Write(input[(i+1)%len(input)]); err != nil {
			b.Fatal(err)
		}
		au, err := fe.out.next()
		if err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(sent)
		total += len(au.data)
	}
	elapsed := time.Since(begin)
	cpu := cpuTime(b, pid) - cpu0
	b.StopTimer()
	reportLatency(b, lat, elapsed)
	b.ReportMetric(float64(total)/float64(b.N), "bytes/frame")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/frame")
}

// TestFFmpegTranscodeLockstep checks the transcode benchmark's baseline:
// the ffmpeg program returns one access unit for each one written, before
// the next is written, and its output decodes to the pictures that went
// in.
func TestFFmpegTranscodeLockstep(t *testing.T) {
	const w, h, n = 320, 240, 8
	aus := encodeStream(t, w, h, 0, n)
	fe := startFFmpegArgs(t, transcodeArgs(w, h))
	stuck := time.AfterFunc(time.Minute, func() { fe.cmd.Process.Kill() })
	defer stuck.Stop()
	pat := newTestPattern(w, h, true)
	dec, err := NewDecoder(DecoderH264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	decoded := 0
	for i, au := range aus {
		if _, err := fe.stdin.Write(slices.Concat(au, accessUnitDelimiter)); err != nil {
			t.Fatal(err)
		}
		out, err := fe.out.next()
		if err != nil {
			t.Fatalf("access unit %d: %v", i, err)
		}
		if err := dec.Decode(out.data, func(pic *Picture) error {
			if p := psnr(t, pat.reference(decoded), pic); p < 28 {
				t.Errorf("frame %d: PSNR %.1f dB", decoded, p)
			}
			decoded++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if decoded != n {
		t.Fatalf("decoded %d of %d frames, one per access unit written (lockstep)", decoded, n)
	}
}
