package encoder

import (
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/native"
)

func (p *WorkerPool) workerPtr(stream string) *poolWorker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.streams[stream]; s != nil {
		return s.w
	}
	return nil
}

func (p *WorkerPool) running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.workers)
}

// TestWorkerPoolSetWorkers: WORKER_COUNT changed live. More workers take
// the streams opened from then on; with fewer, a worker that still
// encodes keeps its stream until it closes, takes no new one, and stops
// after its last. Every stream's output decodes.
func TestWorkerPoolSetWorkers(t *testing.T) {
	needFFmpeg(t)
	p, err := NewWorkerPool(WorkerPoolOptions{
		Workers: 1, InputBuffer: 64, OutputBuffer: 256,
		EncoderFactory: func(string) Chain { return ChainFor([]string{native.CodecX264}, x264Options()) },
		EncodeTimeout:  time.Minute, Log: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	out := map[string]int{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for o := range p.Output() {
			mu.Lock()
			out[o.Stream]++
			mu.Unlock()
		}
	})
	fp := newPool(t, 64)
	send := func(stream string, n int) {
		t.Helper()
		for i := range n {
			if !p.Submit(stream, frame(t, fp, i)) {
				t.Fatalf("%s: frame %d dropped", stream, i)
			}
		}
	}
	send("a", 3)
	p.SetWorkers(3)
	if p.Workers() != 3 || p.running() != 3 {
		t.Fatalf("after SetWorkers(3): %d taking streams, %d running", p.Workers(), p.running())
	}
	send("b", 3)
	send("c", 3)
	wa, wb, wc := p.workerPtr("a"), p.workerPtr("b"), p.workerPtr("c")
	if wa == wb || wb == wc || wa == wc {
		t.Fatal("three streams on three workers share one")
	}
	// Down to one: every worker has a stream, so none stops yet.
	p.SetWorkers(1)
	if p.Workers() != 1 || p.running() != 3 {
		t.Fatalf("after SetWorkers(1): %d taking streams, %d running", p.Workers(), p.running())
	}
	send("a", 3)
	send("b", 3)
	send("c", 3) // retiring workers still encode their streams
	send("d", 3)
	keeper := p.workerPtr("d")
	if keeper.retiring {
		t.Fatal("a new stream went to a retiring worker")
	}
	for _, s := range []string{"a", "b", "c"} {
		if w := p.workerPtr(s); w != keeper {
			p.CloseStream(s) // its retiring worker stops after it
		}
	}
	if p.running() != 1 {
		t.Fatalf("%d workers run after the retiring ones lost their streams, want 1", p.running())
	}
	// Up again: a new worker, and it takes the next stream.
	p.SetWorkers(2)
	send("e", 3)
	if w := p.workerPtr("e"); w == keeper || w == nil {
		t.Fatal("the next stream did not go to the new worker")
	}
	p.SetWorkers(0) // counts as 1
	if p.Workers() != 1 {
		t.Fatalf("SetWorkers(0): %d workers take streams", p.Workers())
	}
	p.Close()
	wg.Wait()
	p.SetWorkers(4) // after Close: nothing
	for s, want := range map[string]int{"a": 6, "b": 6, "c": 6, "d": 3, "e": 3} {
		if out[s] != want {
			t.Errorf("stream %s: %d units, want %d", s, out[s], want)
		}
	}
}
