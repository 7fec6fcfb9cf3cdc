package stream

import (
	"log/slog"
	"sync"
	"time"

	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/native"
)

// PoolRouter shares one encoder.WorkerPool among the devices whose frames
// are encoded here (USE_WORKER_POOL): each device is one stream of the
// pool, pinned to one worker, and the router hands each stream's units to
// its device.
type PoolRouter struct {
	pool *encoder.WorkerPool
	log  *slog.Logger

	mu    sync.Mutex
	sinks map[string]func(encoder.Unit)
	sizes map[string][2]int
	done  chan struct{}
}

// NewPoolRouter starts a pool of workers whose streams open the given
// encoder candidates with opts, sized by each stream's first frame.
func NewPoolRouter(workers int, candidates []string, opts native.Options, encodeTimeout, closeTimeout time.Duration, log *slog.Logger) (*PoolRouter, error) {
	r := &PoolRouter{log: log, sinks: map[string]func(encoder.Unit){}, sizes: map[string][2]int{}, done: make(chan struct{})}
	pool, err := encoder.NewWorkerPool(encoder.WorkerPoolOptions{
		Workers: workers, InputBuffer: 2, OutputBuffer: 64,
		EncoderFactory: func(stream string) encoder.Opener {
			r.mu.Lock()
			size := r.sizes[stream]
			r.mu.Unlock()
			o := opts
			o.Width, o.Height = size[0], size[1]
			return encoder.OpenerFor(candidates, o)
		},
		EncodeTimeout: encodeTimeout, CloseTimeout: closeTimeout, Log: log,
	})
	if err != nil {
		return nil, err
	}
	r.pool = pool
	go r.dispatch()
	return r, nil
}

func (r *PoolRouter) dispatch() {
	defer close(r.done)
	for o := range r.pool.Output() {
		if o.Err != nil {
			r.log.Error("pooled encoder", "device", o.Stream, "err", o.Err)
			continue
		}
		r.mu.Lock()
		sink := r.sinks[o.Stream]
		r.mu.Unlock()
		if sink != nil {
			sink(o.Unit)
		}
	}
}

// register routes a device's units to sink.
func (r *PoolRouter) register(serial string, sink func(encoder.Unit)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sinks[serial] = sink
}

// unregister ends a device's stream in the pool.
func (r *PoolRouter) unregister(serial string) {
	r.mu.Lock()
	delete(r.sinks, serial)
	delete(r.sizes, serial)
	r.mu.Unlock()
	r.pool.CloseStream(serial)
}

// submit queues a device's frame; a full queue drops it (counted).
func (r *PoolRouter) submit(serial string, f *native.Frame) {
	r.mu.Lock()
	if _, ok := r.sizes[serial]; !ok {
		r.sizes[serial] = [2]int{f.Width(), f.Height()}
	}
	r.mu.Unlock()
	r.pool.Submit(serial, f)
}

// Stats returns the pool's counters, all devices together.
func (r *PoolRouter) Stats() encoder.Snapshot { return r.pool.Stats() }

// Close stops the pool and waits for its dispatcher.
func (r *PoolRouter) Close() error {
	err := r.pool.Close()
	<-r.done
	return err
}
