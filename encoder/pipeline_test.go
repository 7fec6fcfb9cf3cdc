package encoder

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

// lockstep submits n frames, each after the previous one's unit arrived,
// and returns the units.
func lockstep(t *testing.T, p *Pipeline, pool *native.FramePool, first, n int) []media.Unit {
	t.Helper()
	var units []media.Unit
	for i := first; i < first+n; i++ {
		if err := p.Submit(frame(t, pool, i)); err != nil {
			t.Fatal(err)
		}
		select {
		case u := <-p.Output():
			units = append(units, u)
		case <-time.After(10 * time.Second):
			t.Fatalf("no unit for frame %d (stats %+v)", i, p.Stats())
		}
	}
	return units
}

func TestPipelineEncodesInOrder(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 4)
	p, err := NewPipeline(PipelineOptions{Chain: ChainFor([]string{native.CodecX264}, x264Options()), EncodeTimeout: time.Minute, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	units := lockstep(t, p, pool, 0, 30)
	if !units[0].KeyFrame || units[0].Codec != media.H264 || units[0].Encoder != native.CodecX264 {
		t.Fatalf("first unit %+v", units[0])
	}
	for i := 1; i < len(units); i++ {
		if units[i].PTS <= units[i-1].PTS {
			t.Fatalf("unit %d out of order: PTS %v after %v", i, units[i].PTS, units[i-1].PTS)
		}
	}
	if n := decodeUnits(t, units); n != 30 {
		t.Fatalf("decoded %d of 30", n)
	}
	p.ForceKeyFrame()
	if u := lockstep(t, p, pool, 30, 1); !u[0].KeyFrame {
		t.Fatal("ForceKeyFrame did not give a keyframe")
	}
	// A unit is counted just after the consumer took it.
	testutil.Eventually(t, "31 units counted", testutil.Generous, func() bool { return p.Stats().FramesOut == 31 })
	s := p.Stats()
	if s.FramesIn != 31 || s.EncodingTimeouts != 0 || s.LatencyP50 <= 0 || s.LatencyP99 < s.LatencyP50 {
		t.Fatalf("stats %+v", s)
	}
	var bucketed int64
	for _, c := range s.LatencyBuckets {
		bucketed += c
	}
	if bucketed != 31 {
		t.Fatalf("latency histogram holds %d encodes, want 31", bucketed)
	}
}

// TestPipelineHungEncoderIsReplaced: an encoder that never returns is
// abandoned after the encode timeout; the next candidate takes over with an
// IDR, and Submit never blocked meanwhile.
func TestPipelineHungEncoderIsReplaced(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 8)
	hung := newFake(t, "hangs")
	hung.hang = make(chan struct{})
	defer close(hung.hang) // lets the abandoned goroutine finish
	next := newFake(t, "works")
	p, err := NewPipeline(PipelineOptions{Chain: chainOf(hung, next), EncodeTimeout: time.Second, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Submit(frame(t, pool, 0)); err != nil { // this one hangs
		t.Fatal(err)
	}
	var units []media.Unit
	for i := 1; len(units) < 5; i++ {
		if err := p.Submit(frame(t, pool, i)); err != nil {
			t.Fatal(err)
		}
		select {
		case u := <-p.Output():
			units = append(units, u)
		case <-time.After(200 * time.Millisecond):
		}
		if i > 200 {
			t.Fatalf("no output after the hang (stats %+v)", p.Stats())
		}
	}
	if units[0].Encoder != "works" || !units[0].KeyFrame {
		t.Fatalf("first unit after the hang: %s key=%v, want an IDR from the replacement", units[0].Encoder, units[0].KeyFrame)
	}
	s := p.Stats()
	if s.EncodingTimeouts != 1 || s.EncoderSwitches != 1 || s.Dropped["encode_error"] != 1 {
		t.Fatalf("stats %+v, want one timeout and one switch", s)
	}
	if p.EncoderName() != "works" {
		t.Fatalf("encoder %q", p.EncoderName())
	}
}

// TestPipelineFallsBackMidStream: a backend that fails mid-stream is
// replaced by the next candidate without ending the stream.
func TestPipelineFallsBackMidStream(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 4)
	failing := newFake(t, "hw")
	failing.failAfter = 6
	next := newFake(t, "sw")
	p, err := NewPipeline(PipelineOptions{Chain: chainOf(nil, failing, next), EncodeTimeout: time.Minute, Log: quiet}) // candidate 0 fails to open
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	units := lockstep(t, p, pool, 0, 5)
	if p.EncoderName() != "hw" {
		t.Fatalf("first encoder %q, want hw (candidate 0 failed to open)", p.EncoderName())
	}
	// Frame 5 fails on hw: dropped, counted, encoder replaced.
	if err := p.Submit(frame(t, pool, 5)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "frame 5 to reach the failing encoder", testutil.Generous, func() bool { return p.Stats().EncodingErrors > 0 })
	units = append(units, lockstep(t, p, pool, 6, 5)...)
	sw := units[5]
	if sw.Encoder != "sw" || !sw.KeyFrame {
		t.Fatalf("first unit after the failure: %s key=%v", sw.Encoder, sw.KeyFrame)
	}
	if !failing.closed.Load() {
		t.Fatal("the failed encoder was not closed")
	}
	s := p.Stats()
	if s.EncodingErrors != 1 || s.Dropped["encode_error"] != 1 || s.EncoderSwitches != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Each encoder's part decodes on its own (the switch starts an IDR).
	if n := decodeUnits(t, units[:5]) + decodeUnits(t, units[5:]); n != 10 {
		t.Fatalf("decoded %d of 10", n)
	}
}

func TestPipelineNoEncoder(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 2)
	var errs errorLog
	p, err := NewPipeline(PipelineOptions{Chain: chainOf(nil, nil), OnError: errs.add, EncodeTimeout: time.Minute, Log: quiet, stalls: noStalls{}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, ok := step(t, p, pool, 0); ok {
		t.Fatal("a unit with no encoder")
	}
	if e := errs.all(); len(e) == 0 || !errors.Is(e[len(e)-1], ErrNoEncoder) {
		t.Fatalf("OnError got %v, want ErrNoEncoder", e)
	}
	if s := p.Stats(); s.Dropped["no_encoder"] != 1 {
		t.Fatalf("stats %+v", s)
	}
	if _, err := NewPipeline(PipelineOptions{}); !errors.Is(err, media.ErrConfig) {
		t.Fatalf("NewPipeline without a chain: %v", err)
	}
}

// TestPipelineNewestFrameWins: frames submitted while the encoder is busy
// replace each other, the newest one is the one encoded next, and Submit
// never blocks. The encoder is held in its first frame until every other
// frame is submitted, so the outcome does not depend on timing: frame 0
// and frame n-1 are encoded, the n-2 in between are dropped as stale.
func TestPipelineNewestFrameWins(t *testing.T) {
	needFFmpeg(t)
	testutil.Deadline(t, 2*time.Minute) // a blocking Submit hangs here
	pool := newPool(t, 8)
	gated := &gatedEncoder{fake: newFake(t, "gated"), entered: make(chan struct{}, 1), release: make(chan struct{})}
	// The gate holds an encode as long as the test likes: no encode timeout.
	p, err := NewPipeline(PipelineOptions{Chain: chainOf(gated), EncodeTimeout: time.Hour, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	results, wg := drain(p)
	const n = 40
	if err := p.Submit(frame(t, pool, 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gated.entered:
	case <-time.After(testutil.Generous):
		t.Fatalf("frame 0 never reached the encoder (stats %+v)", p.Stats())
	}
	for i := 1; i < n; i++ { // the encoder is busy with frame 0 meanwhile
		if err := p.Submit(frame(t, pool, i)); err != nil {
			t.Fatal(err)
		}
	}
	close(gated.release)
	testutil.Eventually(t, "every frame encoded or dropped as stale", testutil.Generous, func() bool {
		s := p.Stats()
		return s.FramesOut+s.Dropped["stale"] == n
	})
	p.Close()
	wg.Wait()
	units := <-results

	s := p.Stats()
	t.Logf("%d frames in: %d encoded, %d stale", s.FramesIn, s.FramesOut, s.Dropped["stale"])
	if s.FramesIn != n || s.FramesOut != 2 || s.Dropped["stale"] != n-2 ||
		s.Dropped["write_timeout"] != 0 || s.Dropped["encode_error"] != 0 || s.EncodingTimeouts != 0 {
		t.Fatalf("stats %+v, want %d in, 2 out, %d stale and no other drop", s, n, n-2)
	}
	// Exactly the first and the newest frame reached the encoder, and each
	// gave one unit, in order.
	pts := func(i int) time.Duration { return time.Duration(i) * 33 * time.Millisecond }
	if got, want := gated.seen(), []time.Duration{pts(0), pts(n - 1)}; !slices.Equal(got, want) {
		t.Fatalf("the encoder got frames with PTS %v, want %v (the first and the newest)", got, want)
	}
	if int64(len(units)) != s.FramesOut {
		t.Fatalf("%d units came out, stats count %d", len(units), s.FramesOut)
	}
	for i, want := range []time.Duration{pts(0), pts(n - 1)} {
		if units[i].PTS != want || len(units[i].Data) == 0 || units[i].Encoder != "gated" {
			t.Fatalf("unit %d: PTS %v, %d bytes, encoder %q; want PTS %v from gated", i, units[i].PTS, len(units[i].Data), units[i].Encoder, want)
		}
	}
	if !units[0].KeyFrame {
		t.Fatal("the first unit is not a keyframe")
	}
	if got := decodeUnits(t, units); got != 2 {
		t.Fatalf("decoded %d pictures of 2 units", got)
	}
}

// gatedEncoder signals entered when an Encode starts and holds the first
// one until release is closed. It records the PTS of the frames it gets.
type gatedEncoder struct {
	*fake
	entered chan struct{} // buffered 1
	release chan struct{}
	mu      sync.Mutex
	pts     []time.Duration
}

func (g *gatedEncoder) Encode(f *native.Frame, emit func(native.Packet) error) error {
	g.mu.Lock()
	g.pts = append(g.pts, f.PTS)
	g.mu.Unlock()
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	return g.fake.Encode(f, emit)
}

func (g *gatedEncoder) seen() []time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.pts)
}

// TestPipelineSlowConsumer: nobody reads Output; units that wait longer
// than the write timeout are dropped and counted, and a keyframe follows.
func TestPipelineSlowConsumer(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 4)
	p, err := NewPipeline(PipelineOptions{Chain: ChainFor([]string{native.CodecX264}, x264Options()),
		OutputBuffer: 1, WriteTimeout: 10 * time.Millisecond, EncodeTimeout: time.Minute, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; p.Stats().Dropped["write_timeout"] == 0; i++ {
		if err := p.Submit(frame(t, pool, i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if i > 2000 {
			t.Fatalf("no write timeout with a full output (stats %+v)", p.Stats())
		}
	}
	// The consumer comes back: after the drop, output resumes with a keyframe.
	var u media.Unit
	for range 3 {
		<-p.Output() // whatever was buffered
		if err := p.Submit(frame(t, pool, 5000)); err != nil {
			t.Fatal(err)
		}
		select {
		case u = <-p.Output():
		case <-time.After(10 * time.Second):
			t.Fatal("no output")
		}
		if u.KeyFrame {
			break
		}
	}
	if !u.KeyFrame {
		t.Fatal("no keyframe after a dropped unit")
	}
	p.Close()
}

// TestPipelineCloseTimeout: an encoder whose Close hangs does not hang
// Pipeline.Close beyond the close timeout.
func TestPipelineCloseTimeout(t *testing.T) {
	needFFmpeg(t)
	stuck := newFake(t, "stuck-close")
	stuck.hangClose = make(chan struct{})
	p, err := NewPipeline(PipelineOptions{Chain: chainOf(stuck), CloseTimeout: 50 * time.Millisecond, EncodeTimeout: time.Minute, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	lockstep(t, p, newPool(t, 2), 0, 1) // the encoder opens on the first frame
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close waited on a hung encoder close")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	close(stuck.hangClose) // let the abandoned close finish
	for !stuck.closed.Load() {
		time.Sleep(time.Millisecond)
	}
	if err := p.Submit(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close = %v", err)
	}
}
