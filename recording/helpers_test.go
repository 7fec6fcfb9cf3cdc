package recording

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// clip encodes n frames of a moving picture at w×h, 30 fps, a keyframe
// every keyInt frames, with PTS from start: what a device's output
// carries (Annex-B, SPS and PPS before every IDR).
func clip(t testing.TB, codec string, w, h, n, keyInt int, start time.Duration) []media.Unit {
	t.Helper()
	if !native.Available {
		t.Skip("built without cgo: no encoder, no muxer")
	}
	e, err := native.NewEncoder(native.Options{Codec: codec, Width: w, Height: h, FrameRate: 30, KeyFrameInterval: keyInt,
		BitRate: 300_000, Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	pool, err := native.NewFramePool(w, h, native.PixelFormatYUV420P, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	mc := media.Codec(e.MediaCodec())
	var out []media.Unit
	emit := func(p native.Packet) error {
		out = append(out, media.Unit{Data: bytes.Clone(p.Data), KeyFrame: p.KeyFrame, PTS: p.PTS, Duration: p.Duration,
			Codec: mc, Encoder: codec})
		return nil
	}
	for i := range n {
		f, err := pool.Get()
		if err != nil {
			t.Fatal(err)
		}
		y, u, v := f.Plane(0), f.Plane(1), f.Plane(2)
		ys, cs := f.Stride(0), f.Stride(1)
		for row := range h {
			for col := range w {
				y[row*ys+col] = byte(col + row + 4*i)
			}
		}
		for row := range h / 2 {
			for col := range w / 2 {
				u[row*cs+col], v[row*cs+col] = byte(128+i), byte(128-col)
			}
		}
		f.PTS = start + time.Duration(i)*time.Second/30
		if err := e.Encode(f, emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(emit); err != nil {
		t.Fatal(err)
	}
	return out
}

// fakeSource is a Source whose feeds the test writes to.
type fakeSource struct {
	mu      sync.Mutex
	feeds   []*fakeFeed
	gone    map[string]bool
	joinErr error
}

func (s *fakeSource) Join(ctx context.Context, deviceID, viewerID string, codecs []media.Codec) (Feed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.joinErr != nil {
		return nil, s.joinErr
	}
	f := &fakeFeed{device: deviceID, started: make(chan struct{})}
	s.feeds = append(s.feeds, f)
	return f, nil
}

func (s *fakeSource) Running(deviceID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.gone[deviceID]
}

func (s *fakeSource) setGone(deviceID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone == nil {
		s.gone = map[string]bool{}
	}
	s.gone[deviceID] = true
}

func (s *fakeSource) feed(t testing.TB, deviceID string) *fakeFeed {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.feeds) - 1; i >= 0; i-- {
		if s.feeds[i].device == deviceID {
			return s.feeds[i]
		}
	}
	t.Fatalf("no feed of %s", deviceID)
	return nil
}

// fakeFeed hands the test's units to the recording's writer, on the
// test's goroutine (a feed's writer runs on one goroutine).
type fakeFeed struct {
	device  string
	w       fanout.Writer
	started chan struct{}
	keyReqs atomic.Int32
	stopped atomic.Bool
	closed  atomic.Bool
	errs    atomic.Int32
}

func (f *fakeFeed) Start(w fanout.Writer) error {
	f.w = w
	close(f.started)
	return nil
}
func (f *fakeFeed) RequestKeyFrame() { f.keyReqs.Add(1) }
func (f *fakeFeed) Stop()            { f.stopped.Store(true) }
func (f *fakeFeed) Close()           { f.stopped.Store(true); f.closed.Store(true) }

// write hands units over as a fanout reader does, with the duration to
// the previous unit.
func (f *fakeFeed) write(units []media.Unit) {
	<-f.started
	for i, u := range units {
		if f.stopped.Load() {
			return
		}
		d := time.Second / 30
		if i > 0 && u.PTS > units[i-1].PTS {
			d = u.PTS - units[i-1].PTS
		}
		if f.w.WriteSample(fanout.Sample{Unit: u, Duration: d, Arrived: time.Now()}) != nil {
			f.errs.Add(1)
		}
	}
}

// fakeMetrics records what the recorder counts.
type fakeMetrics struct {
	mu       sync.Mutex
	running  int
	bytes    map[string]int64
	failures map[string]int
}

func (m *fakeMetrics) Running(n int) { m.mu.Lock(); m.running = n; m.mu.Unlock() }
func (m *fakeMetrics) BytesWritten(d string, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bytes == nil {
		m.bytes = map[string]int64{}
	}
	m.bytes[d] += n
}
func (m *fakeMetrics) Failure(r string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failures == nil {
		m.failures = map[string]int{}
	}
	m.failures[r]++
}
func (m *fakeMetrics) get() (int, map[string]int64, map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, f := map[string]int64{}, map[string]int{}
	for k, v := range m.bytes {
		b[k] = v
	}
	for k, v := range m.failures {
		f[k] = v
	}
	return m.running, b, f
}

// newTestRecorder returns a recorder over src in a new directory.
func newTestRecorder(t testing.TB, o Options) (*Recorder, *fakeMetrics) {
	t.Helper()
	m := &fakeMetrics{}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	o.Metrics = m
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = 50 * time.Millisecond
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, m
}

// probed is what ffprobe says of a file.
type probed struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		Frames    string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func (p probed) duration() time.Duration {
	f, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return time.Duration(f * float64(time.Second))
}

// ffprobe runs Debian's ffprobe on path; it skips the test when the
// program is missing (fails it under CI=true).
func ffprobe(t testing.TB, path string) probed {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		testutil.SkipOrFail(t, "the ffprobe program is not installed (Debian package ffmpeg)")
	}
	out, err := exec.Command(bin, "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", path, err, out)
	}
	var p probed
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe %s: %v: %s", path, err, out)
	}
	if len(p.Streams) != 1 {
		t.Fatalf("ffprobe %s: %d streams, want 1", path, len(p.Streams))
	}
	return p
}

// decodeClean decodes every frame of path with the ffmpeg program and
// fails the test on any error it reports.
//
// A device's frames are stamped when they arrive: variable frame rate,
// with a burst now and then (two frames a few milliseconds apart, as at a
// screenrecord restart). ffmpeg's null output would stamp the decoded
// frames in 1/(the rate it guesses, 15 fps for devicesim) and complain
// that two of them land on the same tick ("non monotonically increasing
// dts to muxer"): an error of its own output, not of decoding. The
// decoder's time base (-enc_time_base -1: the demuxer's, 1/90000) keeps
// every frame apart, so that only decoding errors are left.
func decodeClean(t testing.TB, path string) {
	t.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		testutil.SkipOrFail(t, "the ffmpeg program is not installed (Debian package ffmpeg)")
	}
	out, err := exec.Command(bin, "-v", "error", "-i", path, "-enc_time_base:v", "-1", "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg -v error -i %s -enc_time_base:v -1 -f null -: %v: %s", path, err, out)
	}
}

// isRoot reports whether the test runs as root, for which file modes
// grant everything.
func isRoot() bool { return os.Geteuid() == 0 }
