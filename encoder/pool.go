package encoder

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cloudphone/media-service/internal/lograte"
	"github.com/cloudphone/media-service/internal/retry"
	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

// WorkerPoolOptions configures a WorkerPool.
type WorkerPoolOptions struct {
	// Workers is the number of encoding goroutines (WORKER_COUNT). Default 4.
	Workers int
	// InputBuffer is each worker's queue length. Default 4.
	InputBuffer int
	// OutputBuffer is the Output channel's capacity. Default 64.
	OutputBuffer int
	// EncoderFactory returns the encoder candidates of a stream, opened on
	// the stream's first frame at its size (see ChainFor).
	EncoderFactory func(stream string) Chain
	// EncodeTimeout, CloseTimeout, RetryMin and RetryMax work as in a
	// Pipeline.
	EncodeTimeout, CloseTimeout time.Duration
	RetryMin, RetryMax          time.Duration
	// OnError, if set, receives a stream's encoder failures and lost
	// frames' causes (the log gets them at a bounded rate).
	OnError func(stream string, err error)
	Log     *slog.Logger
}

// PoolOutput is one unit of one stream.
type PoolOutput struct {
	Stream string
	Unit   media.Unit
}

// WorkerPool shares a fixed set of encoding goroutines between many
// streams. Each stream is pinned to one worker, so its frames stay in order
// on one encoder (an H.264 stream cannot hop between encoders: each has its
// own SPS/PPS and reference frames); parallelism comes from many streams,
// and from the encoder's own threads within one stream.
type WorkerPool struct {
	opts    WorkerPoolOptions
	errLog  lograte.Limiter
	workers []*poolWorker
	out     chan PoolOutput
	stats   Stats

	mu      sync.Mutex // guards streams, streamStats, closed
	streams map[string]*poolWorker
	// streamStats are each open stream's counters; every count also goes
	// to the pool's stats.
	streamStats map[string]*Stats
	closed      bool
	wg          sync.WaitGroup
}

type poolWorker struct {
	in      chan poolJob
	streams int // pinned streams, under the pool's mu
	// retiring workers take no new stream and stop after their last
	// (SetWorkers), under the pool's mu.
	retiring bool

	mu     sync.Mutex // guards guards
	guards map[string]*guard
}

type poolJob struct {
	stream string
	f      *native.Frame
	stats  *Stats
	close  bool // end the stream: close its encoder
}

// NewWorkerPool starts the pool's workers.
func NewWorkerPool(o WorkerPoolOptions) (*WorkerPool, error) {
	if o.EncoderFactory == nil {
		return nil, fmt.Errorf("%w: WorkerPoolOptions.EncoderFactory is nil", media.ErrConfig)
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.InputBuffer <= 0 {
		o.InputBuffer = 4
	}
	if o.OutputBuffer <= 0 {
		o.OutputBuffer = 64
	}
	if o.EncodeTimeout <= 0 {
		o.EncodeTimeout = DefaultEncodeTimeout
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.OnError == nil {
		o.OnError = func(string, error) {}
	}
	p := &WorkerPool{opts: o, out: make(chan PoolOutput, o.OutputBuffer), streams: map[string]*poolWorker{}, streamStats: map[string]*Stats{}}
	for range o.Workers {
		p.start()
	}
	return p, nil
}

// worker returns the stream's worker, pinning a new stream to the worker
// with the fewest streams. Callers hold mu.
func (p *WorkerPool) worker(stream string) *poolWorker {
	if w, ok := p.streams[stream]; ok {
		return w
	}
	var best *poolWorker
	for _, w := range p.workers {
		if !w.retiring && (best == nil || w.streams < best.streams) {
			best = w
		}
	}
	best.streams++
	p.streams[stream] = best
	p.streamStats[stream] = &Stats{parent: &p.stats}
	return best
}

// Submit queues a frame of a stream and returns at once. When the stream's
// worker queue is full the frame is dropped (released and counted) and
// Submit reports false. The pool owns f from here on.
func (p *WorkerPool) Submit(stream string, f *native.Frame) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		f.Release()
		return false
	}
	w := p.worker(stream)
	st := p.streamStats[stream]
	st.inc(cFramesIn)
	select {
	case w.in <- poolJob{stream: stream, f: f, stats: st}:
		return true
	default:
		f.Release()
		st.inc(cDroppedQueue)
		return false
	}
}

// CloseStream ends a stream: its encoder closes after the frames already
// queued, and its worker takes new streams again.
func (p *WorkerPool) CloseStream(stream string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w, ok := p.streams[stream]
	if !ok || p.closed {
		return
	}
	delete(p.streams, stream)
	delete(p.streamStats, stream)
	w.streams--
	w.in <- poolJob{stream: stream, close: true} // may wait for queue space: control, not media
	if w.retiring && w.streams == 0 {
		p.stop(w)
	}
}

// SetWorkers changes the number of workers (WORKER_COUNT) while the pool
// runs. Streams stay on their worker: an H.264 stream cannot move. More
// workers start at once and take the streams opened from then on; with
// fewer, the extra workers take no new stream and each stops after its
// last stream closes. n below 1 counts as 1.
func (p *WorkerPool) SetWorkers(n int) {
	n = max(n, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	active := 0
	for _, w := range p.workers {
		if !w.retiring {
			active++
		}
	}
	// Fewer: retire the workers with the fewest streams first.
	for active > n {
		var least *poolWorker
		for _, w := range p.workers {
			if !w.retiring && (least == nil || w.streams < least.streams) {
				least = w
			}
		}
		least.retiring = true
		active--
		if least.streams == 0 {
			p.stop(least)
		}
	}
	// More: keep a retiring worker that still has streams, then start new
	// ones.
	for _, w := range p.workers {
		if active < n && w.retiring {
			w.retiring = false
			active++
		}
	}
	for ; active < n; active++ {
		p.start()
	}
}

// Workers returns the number of workers that take new streams.
func (p *WorkerPool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, w := range p.workers {
		if !w.retiring {
			n++
		}
	}
	return n
}

// start adds a worker. Callers hold mu.
func (p *WorkerPool) start() {
	w := &poolWorker{in: make(chan poolJob, p.opts.InputBuffer), guards: map[string]*guard{}}
	p.workers = append(p.workers, w)
	p.wg.Go(func() { p.work(w) })
}

// stop ends a worker that has no stream left: it finishes its queue
// (closing its last encoders) and exits. Callers hold mu.
func (p *WorkerPool) stop(w *poolWorker) {
	close(w.in)
	p.workers = slices.DeleteFunc(p.workers, func(x *poolWorker) bool { return x == w })
}

// ForceKeyFrame asks the stream's encoder for a keyframe.
func (p *WorkerPool) ForceKeyFrame(stream string) {
	if g := p.guardOf(stream); g != nil {
		g.keyFrame()
	}
}

// SetBitRate changes the stream's bit rate.
func (p *WorkerPool) SetBitRate(stream string, bps int) error {
	if g := p.guardOf(stream); g != nil {
		return g.setBitRate(bps)
	}
	return fmt.Errorf("%w: no stream %q", media.ErrConfig, stream)
}

func (p *WorkerPool) guardOf(stream string) *guard {
	p.mu.Lock()
	w := p.streams[stream]
	p.mu.Unlock()
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.guards[stream]
}

// Output delivers every stream's units, each stream's in order. It is
// closed after Close.
func (p *WorkerPool) Output() <-chan PoolOutput { return p.out }

// Stats returns the pool's counters (all streams, closed ones included).
func (p *WorkerPool) Stats() Snapshot { return p.stats.Snapshot() }

// StreamStats returns one open stream's counters.
func (p *WorkerPool) StreamStats(stream string) (Snapshot, bool) {
	p.mu.Lock()
	st := p.streamStats[stream]
	p.mu.Unlock()
	if st == nil {
		return Snapshot{}, false
	}
	return st.Snapshot(), true
}

// EncoderName returns the encoder a stream uses ("" before its first
// frame).
func (p *WorkerPool) EncoderName(stream string) string {
	if g := p.guardOf(stream); g != nil {
		return g.name()
	}
	return ""
}

func (p *WorkerPool) work(w *poolWorker) {
	defer func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for s, g := range w.guards {
			g.close()
			delete(w.guards, s)
		}
	}()
	for j := range w.in {
		w.mu.Lock()
		g := w.guards[j.stream]
		w.mu.Unlock()
		if j.close {
			if g != nil {
				g.close()
				w.mu.Lock()
				delete(w.guards, j.stream)
				w.mu.Unlock()
			}
			continue
		}
		if g == nil {
			stream := j.stream
			g = newGuard(guardConfig{
				chain: p.opts.EncoderFactory(stream), encodeTimeout: p.opts.EncodeTimeout, closeTimeout: p.opts.CloseTimeout,
				retry: retry.Backoff{Min: p.opts.RetryMin, Max: p.opts.RetryMax},
				stats: j.stats, log: p.opts.Log.With("stream", stream),
				onError: func(err error) { p.opts.OnError(stream, err) },
			})
			w.mu.Lock()
			w.guards[j.stream] = g
			w.mu.Unlock()
		}
		units, err := g.encode(j.f)
		if err != nil {
			p.errLog.Log(p.opts.Log, slog.LevelWarn, "frame lost", "stream", j.stream, "err", err)
		}
		for _, u := range units {
			if !p.emit(PoolOutput{Stream: j.stream, Unit: u}, j.stats) {
				g.keyFrame() // the stream is broken until its next keyframe
			}
		}
	}
}

// emit hands an output to the consumer without ever blocking: a full
// Output channel drops it, counted, and emit reports false.
func (p *WorkerPool) emit(o PoolOutput, st *Stats) bool {
	select {
	case p.out <- o:
		st.inc(cFramesOut)
		return true
	default:
		st.inc(cDroppedWrite)
		return false
	}
}

// Close stops the workers after the frames queued, closes every encoder
// and closes Output. It is idempotent.
func (p *WorkerPool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, w := range p.workers {
		close(w.in)
	}
	p.mu.Unlock()
	p.wg.Wait()
	close(p.out)
	return nil
}
