//go:build cgo

package native

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The benchmarks compare the in-process encoder with the design it
// replaces: the ffmpeg program as a subprocess (Debian's ffmpeg, linked to
// the same libx264), raw frames piped in, H.264 read back. ffmpeg writes FLV
// so that each access unit arrives in a length-prefixed tag and is seen the
// moment its last byte is read; that gives the subprocess its best case.
// Both sides use the same preset, tune, profile, GOP and rate control.

var benchSizes = []struct {
	name string
	w, h int
}{
	{"720p", 1280, 720},
	{"1080p", 1920, 1080},
}

const benchFrames = 30 // distinct input pictures, cycled

// benchInput returns benchFrames tightly packed YUV420P pictures.
func benchInput(w, h int) [][]byte {
	pat := newTestPattern(w, h, true)
	out := make([][]byte, benchFrames)
	for i := range out {
		r := pat.reference(i)
		out[i] = slices.Concat(r.y, r.u, r.v)
	}
	return out
}

func benchOptions(w, h int) Options {
	return Options{Width: w, Height: h}.WithDefaults()
}

func BenchmarkX264(b *testing.B) {
	for _, sz := range benchSizes {
		input := benchInput(sz.w, sz.h)
		b.Run(sz.name+"/inprocess", func(b *testing.B) { benchInProcess(b, sz.w, sz.h, input) })
		b.Run(sz.name+"/subprocess-lockstep", func(b *testing.B) { benchSubprocess(b, sz.w, sz.h, input, true) })
		b.Run(sz.name+"/subprocess-pipelined", func(b *testing.B) { benchSubprocess(b, sz.w, sz.h, input, false) })
	}
}

// copyYUV copies a packed YUV420P picture into a pooled frame's planes.
func copyYUV(f *Frame, src []byte, w, h int) {
	off := 0
	for i, pw := range [3]int{w, w / 2, w / 2} {
		rows := h
		if i > 0 {
			rows = h / 2
		}
		plane, stride := f.Plane(i), f.Stride(i)
		for r := 0; r < rows; r++ {
			copy(plane[r*stride:r*stride+pw], src[off:off+pw])
			off += pw
		}
	}
}

// cpuTime returns the CPU time, user and system, that this process and the
// process pid (when not 0) have used so far. The child's comes from
// /proc/PID/stat in clock ticks (USER_HZ, 100 on Linux).
func cpuTime(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	t := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if pid != 0 {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			tb.Fatal(err)
		}
		// Fields after the command name, which ends at the last ')'.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		t += time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return t
}

// reportLatency adds per-frame latency percentiles and the frame rate.
func reportLatency(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "fps")
}

func benchInProcess(b *testing.B, w, h int, input [][]byte) {
	e, err := NewEncoder(benchOptions(w, h))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	pool, err := NewFramePool(w, h, PixelFormatYUV420P, 4)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()

	// Warm up as the subprocess does: its first frame, the IDR, is untimed.
	f, err := pool.Get()
	if err != nil {
		b.Fatal(err)
	}
	copyYUV(f, input[0], w, h)
	if err := e.Encode(f, func(Packet) error { return nil }); err != nil {
		b.Fatal(err)
	}

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
		f, err := pool.Get()
		if err != nil {
			b.Fatal(err)
		}
		copyYUV(f, input[(i+1)%len(input)], w, h)
		if err := e.Encode(f, emit); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(begin)
	cpu := cpuTime(b, 0) - cpu0
	b.StopTimer()
	if units != b.N {
		b.Fatalf("%d access units for %d frames", units, b.N)
	}
	reportLatency(b, lat, elapsed)
	b.ReportMetric(float64(total)/float64(units), "bytes/frame")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/frame")
}

// ffmpegArgs mirrors benchOptions on the ffmpeg command line.
func ffmpegArgs(w, h int) []string {
	o := benchOptions(w, h)
	rate := strconv.Itoa(o.BitRate)
	return []string{
		"-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", w, h),
		"-framerate", strconv.Itoa(o.FrameRate), "-i", "pipe:0",
		"-c:v", "libx264", "-preset", o.Preset, "-tune", "zerolatency",
		"-profile:v", o.Profile, "-bf", "0", "-g", strconv.Itoa(o.KeyFrameInterval),
		"-keyint_min", strconv.Itoa(o.KeyFrameInterval), "-sc_threshold", "0", "-forced-idr", "1",
		"-b:v", rate, "-maxrate", rate, "-bufsize", strconv.Itoa(o.BitRate * int(o.VBVBuffer) / int(time.Second)),
		"-flush_packets", "1", "-f", "flv", "pipe:1",
	}
}

// ffmpegEncoder is the ffmpeg program encoding raw frames from its stdin.
type ffmpegEncoder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *flvReader
}

func startFFmpeg(tb testing.TB, w, h int) *ffmpegEncoder {
	tb.Helper()
	return startFFmpegArgs(tb, ffmpegArgs(w, h))
}

// startFFmpegArgs starts the ffmpeg program with args, which must read
// from pipe:0 and write FLV to pipe:1.
func startFFmpegArgs(tb testing.TB, args []string) *ffmpegEncoder {
	tb.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		tb.Skip("the ffmpeg program is not installed (Debian package ffmpeg)")
	}
	cmd := exec.Command(path, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	fe := &ffmpegEncoder{cmd: cmd, stdin: stdin, out: newFLVReader(stdout)}
	tb.Cleanup(fe.stop)
	return fe
}

func (fe *ffmpegEncoder) stop() {
	fe.stdin.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, fe.out.r)
		fe.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		fe.cmd.Process.Kill()
		<-done
	}
}

func benchSubprocess(b *testing.B, w, h int, input [][]byte, lockstep bool) {
	fe := startFFmpeg(b, w, h)
	// Warm up: ffmpeg opens libx264 when the first frame arrives.
	if _, err := fe.stdin.Write(input[0]); err != nil {
		b.Fatal(err)
	}
	if _, err := fe.out.next(); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, b.N)
	sent := make([]time.Time, b.N)
	var total int
	pid := fe.cmd.Process.Pid
	b.ResetTimer()
	cpu0 := cpuTime(b, pid)
	begin := time.Now()
	if lockstep {
		for i := 0; i < b.N; i++ {
			sent[i] = time.Now()
			if _, err := fe.stdin.Write(input[(i+1)%len(input)]); err != nil {
				b.Fatal(err)
			}
			au, err := fe.out.next()
			if err != nil {
				b.Fatal(err)
			}
			lat[i] = time.Since(sent[i])
			total += len(au.data)
		}
	} else {
		werr := make(chan error, 1)
		go func() {
			for i := 0; i < b.N; i++ {
				sent[i] = time.Now()
				if _, err := fe.stdin.Write(input[(i+1)%len(input)]); err != nil {
					werr <- err
					return
				}
			}
			werr <- nil
		}()
		for i := 0; i < b.N; i++ {
			au, err := fe.out.next()
			if err != nil {
				b.Fatal(err)
			}
			lat[i] = time.Since(sent[i])
			total += len(au.data)
		}
		if err := <-werr; err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(begin)
	cpu := cpuTime(b, pid) - cpu0
	b.StopTimer()
	reportLatency(b, lat, elapsed)
	b.ReportMetric(float64(total)/float64(b.N), "bytes/frame")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/frame")
}

// flvReader reads H.264 access units from an FLV stream, converting them to
// Annex-B with the SPS/PPS of the sequence header before each keyframe.
type flvReader struct {
	r       *bufio.Reader
	started bool
	params  []byte // Annex-B SPS and PPS from the AVC sequence header
}

type flvUnit struct {
	data []byte
	key  bool
}

func newFLVReader(r io.Reader) *flvReader { return &flvReader{r: bufio.NewReaderSize(r, 1<<20)} }

var errFLV = errors.New("flv: malformed stream")

// next returns the next access unit.
func (f *flvReader) next() (flvUnit, error) {
	if !f.started {
		var hdr [13]byte // signature, version, flags, header size, PreviousTagSize0
		if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
			return flvUnit{}, err
		}
		if string(hdr[:3]) != "FLV" {
			return flvUnit{}, fmt.Errorf("%w: signature % x", errFLV, hdr[:3])
		}
		f.started = true
	}
	for {
		var th [11]byte
		if _, err := io.ReadFull(f.r, th[:]); err != nil {
			return flvUnit{}, err
		}
		size := int(th[1])<<16 | int(th[2])<<8 | int(th[3])
		body := make([]byte, size+4) // tag body and PreviousTagSize
		if _, err := io.ReadFull(f.r, body); err != nil {
			return flvUnit{}, err
		}
		body = body[:size]
		if th[0] != 9 || len(body) < 5 { // not video
			continue
		}
		key := body[0]>>4 == 1
		switch body[1] {
		case 0: // AVCDecoderConfigurationRecord
			p, err := avccParams(body[5:])
			if err != nil {
				return flvUnit{}, err
			}
			f.params = p
		case 1: // NAL units, 4-byte lengths
			var au []byte
			if key {
				au = append(au, f.params...)
			}
			for nal := body[5:]; len(nal) > 0; {
				if len(nal) < 4 {
					return flvUnit{}, fmt.Errorf("%w: truncated NAL length", errFLV)
				}
				n := int(binary.BigEndian.Uint32(nal))
				if n > len(nal)-4 {
					return flvUnit{}, fmt.Errorf("%w: NAL of %d bytes in %d", errFLV, n, len(nal)-4)
				}
				au = append(append(au, 0, 0, 0, 1), nal[4:4+n]...)
				nal = nal[4+n:]
			}
			return flvUnit{data: au, key: key}, nil
		}
	}
}

// avccParams returns the SPS and PPS of an AVCDecoderConfigurationRecord in
// Annex-B form.
func avccParams(b []byte) ([]byte, error) {
	if len(b) < 6 {
		return nil, fmt.Errorf("%w: short avcC", errFLV)
	}
	var out []byte
	p := b[5:]
	for _, countMask := range []byte{0x1f, 0xff} {
		if len(p) < 1 {
			return nil, fmt.Errorf("%w: truncated avcC", errFLV)
		}
		count := int(p[0] & countMask)
		p = p[1:]
		for range count {
			if len(p) < 2 {
				return nil, fmt.Errorf("%w: truncated avcC", errFLV)
			}
			n := int(binary.BigEndian.Uint16(p))
			if n > len(p)-2 {
				return nil, fmt.Errorf("%w: truncated avcC parameter set", errFLV)
			}
			out = append(append(out, 0, 0, 0, 1), p[2:2+n]...)
			p = p[2+n:]
		}
	}
	return out, nil
}

// TestFFmpegBaselineOutputDecodes checks the benchmark's baseline: what
// the ffmpeg subprocess returns is the H.264 of the frames that went in.
func TestFFmpegBaselineOutputDecodes(t *testing.T) {
	const w, h, n = 320, 240, 12
	fe := startFFmpeg(t, w, h)
	pat := newTestPattern(w, h, true)
	dec, err := NewDecoder(DecoderH264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	decoded := 0
	for i := range n {
		r := pat.reference(i)
		if _, err := fe.stdin.Write(slices.Concat(r.y, r.u, r.v)); err != nil {
			t.Fatal(err)
		}
		au, err := fe.out.next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if i == 0 && (!au.key || !hasNAL(au.data, nalSPS, nalPPS, nalIDR)) {
			t.Fatalf("first unit key=%v NAL types %v, want IDR with SPS/PPS", au.key, nalTypes(au.data))
		}
		if err := dec.Decode(au.data, func(pic *Picture) error {
			if p := psnr(t, pat.reference(decoded), pic); p < 30 {
				t.Errorf("frame %d: PSNR %.1f dB", decoded, p)
			}
			decoded++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if decoded != n {
		t.Fatalf("decoded %d of %d frames, one per frame written (lockstep)", decoded, n)
	}
}
