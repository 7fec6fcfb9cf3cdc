package encoder

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

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
		EncoderFactory: func(string) Opener { return OpenerFor([]string{native.CodecX264}, x264Options()) },
		Log:            quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]media.Unit{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for o := range p.Output() {
			if o.Err != nil {
				t.Errorf("stream %s: %v", o.Stream, o.Err)
				continue
			}
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
		EncoderFactory: func(string) Opener {
			f := newFake(t, "blocked")
			f.hang = block
			return openers(f)
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

func TestWorkerPoolReportsDeadStream(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 4)
	p, err := NewWorkerPool(WorkerPoolOptions{Workers: 1, EncoderFactory: func(string) Opener { return openers(nil) }, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	p.Submit("x", frame(t, pool, 0))
	o := <-p.Output()
	if o.Stream != "x" || !errors.Is(o.Err, ErrNoEncoder) {
		t.Fatalf("output %+v, want ErrNoEncoder for x", o)
	}
	p.CloseStream("x")
	p.Close()
	if _, err := NewWorkerPool(WorkerPoolOptions{}); !errors.Is(err, media.ErrConfig) {
		t.Fatalf("pool without a factory: %v", err)
	}
}
