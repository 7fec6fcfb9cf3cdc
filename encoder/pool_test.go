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
