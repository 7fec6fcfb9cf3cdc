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
	sink       func(media.Unit)
	size       [2]int // from the first frame
}

// newPoolRouter starts a pool of workers whose streams open their
// device's encoder candidates with opts, sized by the stream's first
// frame.
func newPoolRouter(cfg Config) (*poolRouter, error) {
	r := &poolRouter{log: cfg.Log, streams: map[string]*poolStream{}, done: make(chan struct{})}
	pool, err := encoder.NewWorkerPool(encoder.WorkerPoolOptions{
		Workers: cfg.Workers, InputBuffer: 2, OutputBuffer: 64,
		EncoderFactory: func(stream string) encoder.Opener {
			r.mu.Lock()
			s := r.streams[stream]
			var size [2]int
			var candidates []string
			if s != nil {
				size, candidates = s.size, s.candidates
			}
			r.mu.Unlock()
			o := cfg.Encoder
			o.Width, o.Height = size[0], size[1]
			return encoder.OpenerFor(candidates, o)
		},
		EncodeTimeout: cfg.EncodeTimeout, CloseTimeout: cfg.CloseTimeout, Log: cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	r.pool = pool
	go r.dispatch()
	return r, nil
}

func (r *poolRouter) dispatch() {
	defer close(r.done)
	for o := range r.pool.Output() {
		r.mu.Lock()
		s := r.streams[o.Stream]
		r.mu.Unlock()
		if o.Err != nil {
			r.log.Error("pooled encoder", "device", o.Stream, "err", o.Err)
			continue
		}
		if s != nil {
			s.sink(o.Unit)
		}
	}
}

// join adds a device's stream, whose units go to sink.
func (r *poolRouter) join(id string, candidates []string, sink func(media.Unit)) *poolStream {
	s := &poolStream{r: r, id: id, candidates: candidates, sink: sink}
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
func (r *poolRouter) submit(id string, f *native.Frame) {
	r.mu.Lock()
	if s := r.streams[id]; s != nil && s.size == [2]int{} {
		s.size = [2]int{f.Width(), f.Height()}
	}
	r.mu.Unlock()
	r.pool.Submit(id, f)
}

// stats returns the pool's counters, all devices together.
func (r *poolRouter) stats() encoder.Snapshot { return r.pool.Stats() }

func (s *poolStream) keyFrame()                { s.r.pool.ForceKeyFrame(s.id) }
func (s *poolStream) setBitRate(bps int) error { return s.r.pool.SetBitRate(s.id, bps) }
func (s *poolStream) name() string             { return "pool:" + s.candidates[0] }

// close stops the pool and waits for its dispatcher.
func (r *poolRouter) close() error {
	err := r.pool.Close()
	<-r.done
	return err
}
