package encoder

import (
	"errors"
	"testing"
	"time"

	"github.com/cloudphone/media-service/native"
)

// lockstep submits n frames, each after the previous one's unit arrived,
// and returns the units.
func lockstep(t *testing.T, p *Pipeline, pool *native.FramePool, first, n int) []Unit {
	t.Helper()
	var units []Unit
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
	p, err := NewPipeline(PipelineOptions{Open: OpenerFor([]string{native.CodecX264}, x264Options()), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	units := lockstep(t, p, pool, 0, 30)
	if !units[0].KeyFrame || units[0].Codec != H264 || units[0].Encoder != native.CodecX264 {
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
	s := p.Stats()
	if s.FramesIn != 31 || s.FramesOut != 31 || s.EncodingTimeouts != 0 || s.LatencyP50 <= 0 || s.LatencyP99 < s.LatencyP50 {
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
	p, err := NewPipeline(PipelineOptions{Open: openers(hung, next), EncodeTimeout: 50 * time.Millisecond, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Submit(frame(t, pool, 0)); err != nil { // this one hangs
		t.Fatal(err)
	}
	var units []Unit
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
	p, err := NewPipeline(PipelineOptions{Open: openers(nil, failing, next), Log: quiet}) // candidate 0 fails to open
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.EncoderName() != "hw" {
		t.Fatalf("first encoder %q, want hw (candidate 0 failed to open)", p.EncoderName())
	}
	units := lockstep(t, p, pool, 0, 5)
	// Frame 5 fails on hw: dropped, counted, encoder replaced.
	if err := p.Submit(frame(t, pool, 5)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); p.Stats().EncodingErrors == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("frame 5 never reached the failing encoder")
		}
	}
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
	_, err := NewPipeline(PipelineOptions{Open: openers(nil, nil), Log: quiet})
	if !errors.Is(err, ErrNoEncoder) {
		t.Fatalf("NewPipeline with no working candidate = %v, want ErrNoEncoder", err)
	}
}

// TestPipelineNewestFrameWins: with a slow encoder, frames submitted while
// it works replace each other; Submit never blocks.
func TestPipelineNewestFrameWins(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 8)
	slow := newFake(t, "slow")
	p, err := NewPipeline(PipelineOptions{Open: openers(&slowEncoder{slow, 30 * time.Millisecond}), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	results, wg := drain(p)
	for i := range 40 {
		if err := p.Submit(frame(t, pool, i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	p.Close()
	wg.Wait()
	units := <-results
	s := p.Stats()
	if s.FramesIn != 40 || s.Dropped["stale"] == 0 || int64(len(units)) != s.FramesOut || s.FramesOut+s.Dropped["stale"] > 40 {
		t.Fatalf("%d units, stats %+v", len(units), s)
	}
	t.Logf("40 frames in: %d encoded, %d stale", s.FramesOut, s.Dropped["stale"])
}

// slowEncoder takes d per frame.
type slowEncoder struct {
	*fake
	d time.Duration
}

func (s *slowEncoder) Encode(f *native.Frame, emit func(native.Packet) error) error {
	time.Sleep(s.d)
	return s.fake.Encode(f, emit)
}

// TestPipelineSlowConsumer: nobody reads Output; units that wait longer
// than the write timeout are dropped and counted, and a keyframe follows.
func TestPipelineSlowConsumer(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 4)
	p, err := NewPipeline(PipelineOptions{Open: OpenerFor([]string{native.CodecX264}, x264Options()),
		OutputBuffer: 1, WriteTimeout: 10 * time.Millisecond, Log: quiet})
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
	var u Unit
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
	p, err := NewPipeline(PipelineOptions{Open: openers(stuck), CloseTimeout: 50 * time.Millisecond, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
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
