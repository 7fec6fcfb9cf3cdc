package encoder

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

// TestWorkerPoolKeepsStreamsInOrder: several streams share two workers;
// each stream stays on one worker and its output decodes cleanly, in
// order.
func TestWorkerPoolKeepsStreamsInOrder(t *testing.T) {
	needFFmpeg(t)
	const streams, frames = 3, 20
	p, err := NewWorkerPool(WorkerPoolOptions{
		Workers: 2, InputBuffer: streams * frames, OutputBuffer: streams * frames * 2,
		EncoderFactory: func(string) Chain { return ChainFor([]string{native.CodecX264}, x264Options()) },
		EncodeTimeout:  time.Minute, Log: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]media.Unit{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for o := range p.Output() {
			out[o.Stream] = append(out[o.Stream], o.Unit)
		}
	})
	pools := make([]*native.FramePool, streams)
	for s := range streams {
		pools[s] = newPool(t, frames+2)
	}
	workerOf := map[string]int{}
	for i := range frames {
		for s := range streams {
			name := fmt.Sprintf("dev%d", s)
			if !p.Submit(name, frame(t, pools[s], i)) {
				t.Fatalf("frame %d of %s dropped with room in the queue", i, name)
			}
			w := p.workerOf(name)
			if prev, ok := workerOf[name]; ok && prev != w {
				t.Fatalf("%s moved from worker %d to %d", name, prev, w)
			}
			workerOf[name] = w
		}
	}
	p.Close()
	wg.Wait()
	for s := range streams {
		name := fmt.Sprintf("dev%d", s)
		units := out[name]
		if len(units) != frames {
			t.Fatalf("%s: %d units, want %d", name, len(units), frames)
		}
		for i, u := range units {
			if u.PTS != time.Duration(i)*33*time.Millisecond {
				t.Fatalf("%s unit %d has PTS %v: out of order", name, i, u.PTS)
			}
		}
		if n := decodeUnits(t, units); n != frames {
			t.Fatalf("%s: decoded %d of %d", name, n, frames)
		}
	}
	if workerOf["dev0"] == workerOf["dev1"] {
		t.Fatalf("the first two streams share worker %d while another is idle", workerOf["dev0"])
	}
	if s := p.Stats(); s.FramesIn != streams*frames || s.FramesOut != streams*frames {
		t.Fatalf("stats %+v", s)
	}
}

func TestWorkerPoolDropsWhenQueueFull(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 16)
	block := make(chan struct{})
	p, err := NewWorkerPool(WorkerPoolOptions{
		Workers: 1, InputBuffer: 1,
		EncoderFactory: func(string) Chain {
			f := newFake(t, "blocked")
			f.hang = block
			return chainOf(f)
		},
		EncodeTimeout: time.Minute, Log: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for i := range 6 {
		if !p.Submit("a", frame(t, pool, i)) {
			dropped++
		}
	}
	// One frame is in the encoder, at most one waits; the rest dropped.
	if dropped < 4 {
		t.Fatalf("%d of 6 dropped with a blocked worker and a queue of 1", dropped)
	}
	if s := p.Stats(); s.Dropped["queue_full"] != int64(dropped) {
		t.Fatalf("stats %+v, want %d queue_full", s, dropped)
	}
	close(block)
	p.Close()
	if p.Submit("a", frame(t, pool, 9)) {
		t.Fatal("Submit after Close accepted a frame")
	}
}

// TestWorkerPoolStreamRecovers: a stream whose encoder cannot open
// drops its frames (counted per stream), reports why, and encodes once
// the encoder opens again after the back-off.
func TestWorkerPoolStreamRecovers(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 4)
	var broken atomic.Bool
	broken.Store(true)
	var errs sync.Map
	p, err := NewWorkerPool(WorkerPoolOptions{Workers: 1, EncodeTimeout: time.Minute, Log: quiet, RetryMin: time.Millisecond, RetryMax: time.Millisecond,
		EncoderFactory: func(string) Chain {
			return chainFunc(func(size media.Size) (Encoder, error) {
				if broken.Load() {
					return nil, errors.New("open: no such device")
				}
				return newFlaky(t, "x264", size, nil, func(int64) error { return nil }), nil
			})
		},
		OnError: func(stream string, err error) { errs.Store(stream, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Submit("x", frame(t, pool, 0))
	testutil.Eventually(t, "the frame to be dropped", testutil.Generous, func() bool {
		s, _ := p.StreamStats("x")
		return s.Dropped["no_encoder"] == 1
	})
	if e, ok := errs.Load("x"); !ok || !errors.Is(e.(error), ErrNoEncoder) {
		t.Fatalf("OnError got %v, want ErrNoEncoder for x", e)
	}
	broken.Store(false)
	time.Sleep(2 * time.Millisecond) // past the 1 ms back-off
	p.Submit("x", frame(t, pool, 1))
	var u PoolOutput
	select {
	case u = <-p.Output():
	case <-time.After(testutil.Generous):
		t.Fatal("no unit after the encoder came back")
	}
	if u.Stream != "x" || !u.Unit.KeyFrame || p.EncoderName("x") != "x264" {
		t.Fatalf("output %+v from %q", u, p.EncoderName("x"))
	}
	testutil.Eventually(t, "the unit to be counted", testutil.Generous, func() bool { return p.Stats().FramesOut == 1 })
	s, ok := p.StreamStats("x")
	if !ok || s.FramesOut != 1 || s.Restarts != 1 || p.Stats().FramesOut != 1 {
		t.Fatalf("stream stats %+v, pool stats %+v", s, p.Stats())
	}
	p.CloseStream("x")
	if _, ok := p.StreamStats("x"); ok {
		t.Fatal("stats of a closed stream")
	}
	p.Close()
	if _, err := NewWorkerPool(WorkerPoolOptions{}); !errors.Is(err, media.ErrConfig) {
		t.Fatalf("pool without a factory: %v", err)
	}
}

// TestWorkerPoolWriteTimeout: WRITE_TIMEOUT means in a pool what it means
// in a Pipeline. While the consumer stalls, each unit it does not take
// within the write timeout is dropped and counted (per stream and for the
// pool), the worker goes on with the next frame, and nothing else waits:
// the other stream's frames are all encoded and its controls answer.
// When the consumer comes back, the next unit is a keyframe.
func TestWorkerPoolWriteTimeout(t *testing.T) {
	needFFmpeg(t)
	testutil.Deadline(t, 2*time.Minute) // a worker or a call stuck on the consumer hangs here
	const frames = 5
	p, err := NewWorkerPool(WorkerPoolOptions{
		Workers: 2, InputBuffer: frames, OutputBuffer: 1, WriteTimeout: 5 * time.Millisecond,
		EncoderFactory: func(string) Chain { return ChainFor([]string{native.CodecX264}, x264Options()) },
		EncodeTimeout:  time.Minute, Log: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pools := map[string]*native.FramePool{"a": newPool(t, frames+2), "b": newPool(t, frames+2)}
	for i := range frames { // nobody reads Output
		for _, s := range []string{"a", "b"} {
			if !p.Submit(s, frame(t, pools[s], i)) {
				t.Fatalf("%s: frame %d dropped with room in the queue", s, i)
			}
		}
		// The controls of a stream answer while the consumer stalls.
		p.ForceKeyFrame("b")
		p.SetBitRate("b", 500_000) // an error before b's encoder opens
		p.StreamStats("b")
	}
	if p.workerOf("a") == p.workerOf("b") {
		t.Fatal("the two streams share a worker while the other is idle")
	}
	// Every frame comes out or is dropped for the write timeout: none
	// waits forever on the stalled consumer.
	testutil.Eventually(t, "every unit handed over or dropped", testutil.Generous, func() bool {
		s := p.Stats()
		return s.FramesOut+s.Dropped["write_timeout"] == 2*frames
	})
	s := p.Stats()
	if s.FramesIn != 2*frames || s.FramesOut != 1 || s.Dropped["write_timeout"] != 2*frames-1 ||
		s.Dropped["queue_full"] != 0 || s.Dropped["encode_error"] != 0 {
		t.Fatalf("pool stats %+v, want 1 unit out (Output holds 1) and %d write timeouts", s, 2*frames-1)
	}
	for _, name := range []string{"a", "b"} {
		st, ok := p.StreamStats(name)
		if !ok || st.FramesIn != frames || st.FramesOut+st.Dropped["write_timeout"] != frames {
			t.Fatalf("%s: stats %+v, want each of %d frames out or dropped for the write timeout", name, st, frames)
		}
	}
	// The consumer comes back: the unit that waited, then a keyframe (a
	// drop broke the stream).
	<-p.Output()
	if !p.Submit("a", frame(t, pools["a"], frames)) {
		t.Fatal("frame dropped after the consumer came back")
	}
	select {
	case o := <-p.Output():
		if o.Stream != "a" || !o.Unit.KeyFrame {
			t.Fatalf("first unit after the drops: stream %s, key=%v; want a keyframe of a", o.Stream, o.Unit.KeyFrame)
		}
	case <-time.After(testutil.Generous):
		t.Fatal("no unit after the consumer came back")
	}
}

// TestWorkerPoolWaitsForConsumer: a unit waits for a slow consumer up to
// the write timeout instead of being dropped at once, and Close does not
// wait on a consumer that never comes back: the units it did not take are
// dropped and counted.
func TestWorkerPoolWaitsForConsumer(t *testing.T) {
	needFFmpeg(t)
	testutil.Deadline(t, 2*time.Minute) // Close waiting out the write timeout hangs here
	enc := newFake(t, "counted")
	p, err := NewWorkerPool(WorkerPoolOptions{
		Workers: 1, InputBuffer: 4, OutputBuffer: 1, WriteTimeout: time.Hour,
		EncoderFactory: func(string) Chain { return chainOf(enc) },
		EncodeTimeout:  time.Minute, Log: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	fp := newPool(t, 6)
	for i := range 3 {
		if !p.Submit("a", frame(t, fp, i)) {
			t.Fatalf("frame %d dropped with room in the queue", i)
		}
	}
	// Unit 0 fills Output; unit 1 waits for the consumer, and frame 2 for
	// the worker.
	testutil.Eventually(t, "the second frame encoded", testutil.Generous, func() bool { return enc.calls.Load() >= 2 })
	if s := p.Stats(); s.Dropped["write_timeout"] != 0 {
		t.Fatalf("stats %+v: a unit dropped long before the write timeout", s)
	}
	// The consumer takes one: the waiting unit follows it in.
	<-p.Output()
	testutil.Eventually(t, "the third frame encoded", testutil.Generous, func() bool { return enc.calls.Load() == 3 })
	// Close with nobody reading: the third unit is dropped, not waited for.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var units []PoolOutput
	for o := range p.Output() {
		units = append(units, o)
	}
	s := p.Stats()
	if len(units) != 1 || s.FramesOut != 2 || s.Dropped["write_timeout"] != 1 {
		t.Fatalf("%d units left in Output, stats %+v; want 1 left, 2 out and 1 dropped", len(units), s)
	}
}

// TestWorkerPoolCloseStreamDoesNotBlock: closing a stream whose worker is
// stuck in an encode with a full queue returns at once and holds up no
// other stream: Submit, the controls and the counters of a stream on the
// other worker answer and its frames are encoded. The stuck stream's
// encoder closes once its worker has got through the stream's queued
// frames; a stream opened again under the same name gets a new encoder.
func TestWorkerPoolCloseStreamDoesNotBlock(t *testing.T) {
	needFFmpeg(t)
	testutil.Deadline(t, 2*time.Minute) // CloseStream waiting on the stuck worker hangs here
	hung := newFake(t, "hangs")
	hung.hang = make(chan struct{})
	var opened atomic.Int64
	p, err := NewWorkerPool(WorkerPoolOptions{
		Workers: 2, InputBuffer: 1, OutputBuffer: 16, RetryMin: time.Millisecond, RetryMax: time.Millisecond,
		EncoderFactory: func(stream string) Chain {
			if stream == "stuck" && opened.Add(1) == 1 {
				return chainOf(hung)
			}
			return ChainFor([]string{native.CodecX264}, x264Options())
		},
		EncodeTimeout: time.Hour, Log: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fp := newPool(t, 8)
	p.Submit("stuck", frame(t, fp, 0))
	testutil.Eventually(t, "the encoder to hang", testutil.Generous, func() bool { return hung.calls.Load() == 1 })
	if !p.Submit("stuck", frame(t, fp, 1)) { // the queue of 1 is now full
		t.Fatal("frame 1 dropped with room in the queue")
	}
	if p.Submit("stuck", frame(t, fp, 2)) {
		t.Fatal("frame 2 queued behind a full queue")
	}
	if !p.Submit("ok", frame(t, fp, 0)) {
		t.Fatal("ok: frame 0 dropped")
	}
	stuckWorker, okWorker := p.workerOf("stuck"), p.workerOf("ok")
	if stuckWorker == okWorker {
		t.Fatal("the two streams share a worker while the other is idle")
	}

	closed := make(chan struct{})
	go func() {
		p.CloseStream("stuck")
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(testutil.Generous):
		t.Fatal("CloseStream waits on the stuck worker")
	}
	if _, ok := p.StreamStats("stuck"); ok {
		t.Fatal("stats of a closed stream")
	}
	// The other stream goes on.
	for i := range 2 {
		if i > 0 && !p.Submit("ok", frame(t, fp, i)) {
			t.Fatalf("ok: frame %d dropped", i)
		}
		select {
		case o := <-p.Output():
			if o.Stream != "ok" {
				t.Fatalf("unit of %s from a hung encoder", o.Stream)
			}
		case <-time.After(testutil.Generous):
			t.Fatalf("ok: no unit %d while another stream is stuck (stats %+v)", i, p.Stats())
		}
		p.ForceKeyFrame("ok")
		if err := p.SetBitRate("ok", 400_000); err != nil {
			t.Fatal(err)
		}
	}
	if s, ok := p.StreamStats("ok"); !ok || s.FramesIn != 2 || p.Stats().FramesIn != 5 {
		t.Fatalf("ok: stats %+v, pool stats %+v", s, p.Stats())
	}
	if p.encoders(stuckWorker) != 1 {
		t.Fatal("the stuck stream's encoder closed before its worker got through its frames")
	}

	// The encode returns: the worker gets through the queued frame, then
	// closes the stream's encoder.
	close(hung.hang)
	testutil.Eventually(t, "the closed stream's encoder closed", testutil.Generous, func() bool { return p.encoders(stuckWorker) == 0 })
	// The same name again: a new stream with a new encoder, which starts
	// with a keyframe.
	if !p.Submit("stuck", frame(t, fp, 3)) {
		t.Fatal("the reopened stream's frame dropped")
	}
	select {
	case o := <-p.Output():
		if o.Stream != "stuck" || !o.Unit.KeyFrame || o.Unit.Encoder != native.CodecX264 {
			t.Fatalf("reopened stream: unit of %s from %s, key=%v", o.Stream, o.Unit.Encoder, o.Unit.KeyFrame)
		}
	case <-time.After(testutil.Generous):
		t.Fatalf("the reopened stream gives no unit (stats %+v)", p.Stats())
	}
	if s, _ := p.StreamStats("stuck"); s.FramesIn != 1 {
		t.Fatalf("the reopened stream counts %d frames in, want 1: it is a new stream", s.FramesIn)
	}
}
