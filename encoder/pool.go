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
	// WriteTimeout bounds the wait for the consumer to take a unit from
	// Output, as in a Pipeline: a unit not taken in time is dropped
	// (counted as "write_timeout") and its stream asks for a keyframe.
	// The wait holds the stream's worker (and so the streams that share
	// it) for at most that long per unit; Submit never waits. Default
	// DefaultWriteTimeout (100 ms).
	WriteTimeout time.Duration
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
//
// No call waits on a worker while it holds the pool's lock: Submit drops
// when a queue is full, and CloseStream leaves the closing of the encoder
// to the stream's worker, so one stuck stream never holds up another.
type WorkerPool struct {
	opts    WorkerPoolOptions
	errLog  lograte.Limiter
	workers []*poolWorker
	out     chan PoolOutput
	stats   Stats
	quit    chan struct{} // closed by Close: no more waiting on the consumer

	mu      sync.Mutex // guards streams, closed, workers and their streams, retiring, sent
	streams map[string]*poolStream
	closed  bool
	wg      sync.WaitGroup
}

// poolStream is one opening of a stream, from its first Submit to its
// CloseStream; a stream submitted to again after CloseStream is a new
// one, with a new encoder.
type poolStream struct {
	name string
	w    *poolWorker
	// stats are the stream's counters; every count also goes to the
	// pool's.
	stats Stats
}

type poolWorker struct {
	in   chan poolJob
	wake chan struct{} // buffered 1: a stream was closed
	// streams counts the pinned streams, under the pool's mu.
	streams int
	// retiring workers take no new stream and stop after their last
	// (SetWorkers), under the pool's mu.
	retiring bool
	// sent counts the jobs sent on in, under the pool's mu.
	sent uint64

	mu     sync.Mutex // guards guards, closing
	guards map[*poolStream]*guard
	// closing are the streams closed whose encoders the worker closes
	// once it has taken every job sent before the close.
	closing []closingStream
}

// closingStream is a closed stream and the number of jobs sent to its
// worker when it closed: its frames are all among them.
type closingStream struct {
	s     *poolStream
	after uint64
}

type poolJob struct {
	s *poolStream
	f *native.Frame
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
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
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
	p := &WorkerPool{opts: o, out: make(chan PoolOutput, o.OutputBuffer), quit: make(chan struct{}), streams: map[string]*poolStream{}}
	for range o.Workers {
		p.start()
	}
	return p, nil
}

// stream returns the open stream named stream, opening it on the worker
// with the fewest streams. Callers hold mu.
func (p *WorkerPool) stream(stream string) *poolStream {
	if s, ok := p.streams[stream]; ok {
		return s
	}
	var best *poolWorker
	for _, w := range p.workers {
		if !w.retiring && (best == nil || w.streams < best.streams) {
			best = w
		}
	}
	best.streams++
	s := &poolStream{name: stream, w: best, stats: Stats{parent: &p.stats}}
	p.streams[stream] = s
	return s
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
	s := p.stream(stream)
	s.stats.inc(cFramesIn)
	select {
	case s.w.in <- poolJob{s: s, f: f}:
		s.w.sent++
		return true
	default:
		f.Release()
		s.stats.inc(cDroppedQueue)
		return false
	}
}

// CloseStream ends a stream and returns at once: its worker closes its
// encoder after the frames already queued, and takes new streams again.
// It never waits on the worker, even one stuck in an encode or with a
// full queue. A later Submit to the same name opens a new stream.
func (p *WorkerPool) CloseStream(stream string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.streams[stream]
	if !ok || p.closed {
		return
	}
	delete(p.streams, stream)
	w := s.w
	w.streams--
	w.mu.Lock()
	w.closing = append(w.closing, closingStream{s: s, after: w.sent})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // a wake is pending already; the worker reads closing then
	}
	if w.retiring && w.streams == 0 {
		p.stop(w) // it closes every encoder it has left when it stops
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
	w := &poolWorker{in: make(chan poolJob, p.opts.InputBuffer), wake: make(chan struct{}, 1), guards: map[*poolStream]*guard{}}
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
	s := p.streams[stream]
	p.mu.Unlock()
	if s == nil {
		return nil
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return s.w.guards[s]
}

// Output delivers every stream's units, each stream's in order. It is
// closed after Close.
func (p *WorkerPool) Output() <-chan PoolOutput { return p.out }

// Stats returns the pool's counters (all streams, closed ones included).
func (p *WorkerPool) Stats() Snapshot { return p.stats.Snapshot() }

// StreamStats returns one open stream's counters.
func (p *WorkerPool) StreamStats(stream string) (Snapshot, bool) {
	p.mu.Lock()
	s := p.streams[stream]
	p.mu.Unlock()
	if s == nil {
		return Snapshot{}, false
	}
	return s.stats.Snapshot(), true
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
	defer w.closeAll()
	var taken uint64 // jobs taken from w.in
	for {
		select {
		case j, ok := <-w.in:
			if !ok {
				return
			}
			taken++
			p.encode(w, j)
		case <-w.wake:
		}
		w.closeDone(taken)
	}
}

// encode runs one frame of a stream through the stream's encoder (opened
// on its first frame) and hands its units to the consumer.
func (p *WorkerPool) encode(w *poolWorker, j poolJob) {
	w.mu.Lock()
	g := w.guards[j.s]
	w.mu.Unlock()
	if g == nil {
		stream := j.s.name
		g = newGuard(guardConfig{
			chain: p.opts.EncoderFactory(stream), encodeTimeout: p.opts.EncodeTimeout, closeTimeout: p.opts.CloseTimeout,
			retry: retry.Backoff{Min: p.opts.RetryMin, Max: p.opts.RetryMax},
			stats: &j.s.stats, log: p.opts.Log.With("stream", stream),
			onError: func(err error) { p.opts.OnError(stream, err) },
		})
		w.mu.Lock()
		w.guards[j.s] = g
		w.mu.Unlock()
	}
	units, err := g.encode(j.f)
	if err != nil {
		p.errLog.Log(p.opts.Log, slog.LevelWarn, "frame lost", "stream", j.s.name, "err", err)
	}
	for _, u := range units {
		if !p.emit(PoolOutput{Stream: j.s.name, Unit: u}, &j.s.stats) {
			g.keyFrame() // the stream is broken until its next keyframe
		}
	}
}

// closeDone closes the encoders of the closed streams whose frames the
// worker has all taken (taken jobs so far).
func (w *poolWorker) closeDone(taken uint64) {
	var done []*guard
	w.mu.Lock()
	w.closing = slices.DeleteFunc(w.closing, func(c closingStream) bool {
		if c.after > taken {
			return false
		}
		if g := w.guards[c.s]; g != nil {
			done = append(done, g)
			delete(w.guards, c.s)
		}
		return true
	})
	w.mu.Unlock()
	for _, g := range done {
		g.close() // waits at most the close timeout, holding no lock
	}
}

// closeAll closes every encoder the worker has left, when it stops.
func (w *poolWorker) closeAll() {
	w.mu.Lock()
	guards := w.guards
	w.guards, w.closing = map[*poolStream]*guard{}, nil
	w.mu.Unlock()
	for _, g := range guards {
		g.close()
	}
}

// emit hands an output to the consumer, waiting at most the write
// timeout, as a Pipeline does; a unit not taken in time is dropped,
// counted, and emit reports false. Once Close has begun, a unit the
// consumer does not take at once is dropped (counted the same way)
// rather than waited for.
func (p *WorkerPool) emit(o PoolOutput, st *Stats) bool {
	select {
	case p.out <- o:
		st.inc(cFramesOut)
		return true
	default:
	}
	t := time.NewTimer(p.opts.WriteTimeout)
	defer t.Stop()
	select {
	case p.out <- o:
		st.inc(cFramesOut)
		return true
	case <-t.C:
	case <-p.quit:
	}
	st.inc(cDroppedWrite)
	return false
}

// Close stops the workers after the frames queued, closes every encoder
// and closes Output. It does not wait on the consumer: from here on a
// unit that Output cannot take at once is dropped. It is idempotent.
func (p *WorkerPool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.quit)
	for _, w := range p.workers {
		close(w.in)
	}
	p.mu.Unlock()
	p.wg.Wait()
	close(p.out)
	return nil
}
