package device

import (
	"log/slog"
	"sync"

	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// poolRouter shares one encoder.WorkerPool among the devices whose
// pictures are encoded here (USE_WORKER_POOL): each device is one stream
// of the pool, pinned to one worker, and the router hands each stream's
// units to its device's output. The Registry owns it.
type poolRouter struct {
	pool *encoder.WorkerPool
	log  *slog.Logger

	mu      sync.Mutex
	streams map[string]*poolStream
	done    chan struct{}
}

// poolStream is one device's stream on the pool: its producer.
type poolStream struct {
	r          *poolRouter
	id         string
	candidates []string
	opts       native.Options
	sink       func(media.Unit)
	onError    func(error)
}

// newPoolRouter starts a pool of workers whose streams open their
// device's encoder candidates with opts, at the size of the stream's
// frames.
func newPoolRouter(cfg Config) (*poolRouter, error) {
	r := &poolRouter{log: cfg.Log, streams: map[string]*poolStream{}, done: make(chan struct{})}
	pool, err := encoder.NewWorkerPool(encoder.WorkerPoolOptions{
		Workers: cfg.Workers, InputBuffer: 2, OutputBuffer: 64,
		EncoderFactory: func(stream string) encoder.Chain {
			s := r.stream(stream)
			if s == nil {
				return encoder.ChainFor(nil, cfg.Encoder)
			}
			return encoder.ChainFor(s.candidates, s.opts)
		},
		OnError: func(stream string, err error) {
			if s := r.stream(stream); s != nil {
				s.onError(err)
			}
		},
		EncodeTimeout: cfg.EncodeTimeout, WriteTimeout: cfg.WriteTimeout, CloseTimeout: cfg.CloseTimeout, Log: cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	r.pool = pool
	go r.dispatch()
	return r, nil
}

func (r *poolRouter) stream(id string) *poolStream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[id]
}

func (r *poolRouter) dispatch() {
	defer close(r.done)
	for o := range r.pool.Output() {
		if s := r.stream(o.Stream); s != nil {
			s.sink(o.Unit)
		}
	}
}

// join adds a stream (one output of a device), encoded by candidates
// with opts, whose units go to sink and whose encoder failures go to
// onError.
func (r *poolRouter) join(id string, candidates []string, opts native.Options, sink func(media.Unit), onError func(error)) *poolStream {
	s := &poolStream{r: r, id: id, candidates: candidates, opts: opts, sink: sink, onError: onError}
	r.mu.Lock()
	r.streams[id] = s
	r.mu.Unlock()
	return s
}

// leave ends a device's stream in the pool.
func (r *poolRouter) leave(id string) {
	r.mu.Lock()
	delete(r.streams, id)
	r.mu.Unlock()
	r.pool.CloseStream(id)
}

// submit queues a device's frame; a full queue drops it (counted).
func (r *poolRouter) submit(id string, f *native.Frame) { r.pool.Submit(id, f) }

// stats returns the pool's counters, all devices together.
func (r *poolRouter) stats() encoder.Snapshot { return r.pool.Stats() }

func (s *poolStream) keyFrame()                { s.r.pool.ForceKeyFrame(s.id) }
func (s *poolStream) setBitRate(bps int) error { return s.r.pool.SetBitRate(s.id, bps) }

// stats are the stream's counters on the pool.
func (s *poolStream) stats() (encoder.Snapshot, bool) { return s.r.pool.StreamStats(s.id) }

// name is the encoder the stream uses, marked as the pool's.
func (s *poolStream) name() string {
	if n := s.r.pool.EncoderName(s.id); n != "" {
		return "pool:" + n
	}
	return ""
}

// close stops the pool and waits for its dispatcher.
func (r *poolRouter) close() error {
	err := r.pool.Close()
	<-r.done
	return err
}
