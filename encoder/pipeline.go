package encoder

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

// Default timeouts, from the original design.
const (
	DefaultEncodeTimeout = 200 * time.Millisecond
	DefaultWriteTimeout  = 100 * time.Millisecond
	DefaultCloseTimeout  = 5 * time.Second
)

// PipelineOptions configures a Pipeline.
type PipelineOptions struct {
	// Open opens encoder candidates, best first (see OpenerFor).
	Open Opener
	// EncodeTimeout bounds one Encode call; an encoder that takes longer is
	// abandoned and replaced. Default 200 ms.
	EncodeTimeout time.Duration
	// WriteTimeout bounds the wait for the consumer to take a unit from
	// Output; a unit not taken in time is dropped. Default 100 ms.
	WriteTimeout time.Duration
	// CloseTimeout bounds the wait for the encoder to close. Default 5 s.
	CloseTimeout time.Duration
	// OutputBuffer is the capacity of the Output channel. Default 8.
	OutputBuffer int
	Log          *slog.Logger
}

// Pipeline encodes one stream's frames on their way from capture to the
// viewers, so that neither a stuck encoder nor a slow consumer ever
// blocks capture: Submit never blocks and the newest frame wins.
type Pipeline struct {
	opts  PipelineOptions
	g     *guard
	stats Stats
	out   chan media.Unit

	mu      sync.Mutex // guards pending, closed
	pending *native.Frame
	closed  bool
	wake    chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// NewPipeline opens the first candidate encoder that works and starts the
// pipeline's goroutine.
func NewPipeline(o PipelineOptions) (*Pipeline, error) {
	if o.EncodeTimeout <= 0 {
		o.EncodeTimeout = DefaultEncodeTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.OutputBuffer <= 0 {
		o.OutputBuffer = 8
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	p := &Pipeline{opts: o, out: make(chan media.Unit, o.OutputBuffer), wake: make(chan struct{}, 1), done: make(chan struct{})}
	g, err := newGuard(o.Open, o.EncodeTimeout, o.CloseTimeout, &p.stats, o.Log)
	if err != nil {
		return nil, err
	}
	p.g = g
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(ctx)
	return p, nil
}

// Submit hands a frame to the pipeline and returns at once. If the
// previous frame is still waiting, that one is dropped (counted as stale):
// the newest frame wins. The pipeline owns f from here on.
func (p *Pipeline) Submit(f *native.Frame) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		f.Release()
		return ErrClosed
	}
	old := p.pending
	p.pending = f
	p.mu.Unlock()
	p.stats.framesIn.Add(1)
	if old != nil {
		old.Release()
		p.stats.droppedStale.Add(1)
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Output delivers the encoded units in order. It is closed after Close.
func (p *Pipeline) Output() <-chan media.Unit { return p.out }

// ForceKeyFrame makes the next output a keyframe.
func (p *Pipeline) ForceKeyFrame() { p.g.keyFrame() }

// SetBitRate changes the encoder's bit rate; replacements inherit it.
func (p *Pipeline) SetBitRate(bps int) error { return p.g.setBitRate(bps) }

// EncoderName returns the encoder in use.
func (p *Pipeline) EncoderName() string { return p.g.name() }

// Stats returns the pipeline's counters.
func (p *Pipeline) Stats() Snapshot { return p.stats.Snapshot() }

func (p *Pipeline) run(ctx context.Context) {
	defer close(p.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		p.mu.Lock()
		f := p.pending
		p.pending = nil
		p.mu.Unlock()
		if f == nil {
			continue
		}
		units, err := p.g.encode(f)
		if err != nil {
			p.stats.droppedError.Add(1)
			p.opts.Log.Error("encode", "err", err)
		}
		for _, u := range units {
			if !p.write(ctx, u) {
				return
			}
		}
	}
}

// write gives u to the consumer, waiting at most the write timeout. It
// reports false when the pipeline is closing.
func (p *Pipeline) write(ctx context.Context, u media.Unit) bool {
	select {
	case p.out <- u:
		p.stats.framesOut.Add(1)
		return true
	default:
	}
	t := time.NewTimer(p.opts.WriteTimeout)
	defer t.Stop()
	select {
	case p.out <- u:
		p.stats.framesOut.Add(1)
	case <-t.C:
		// A lost unit breaks the stream until the next keyframe: ask for
		// one now.
		p.stats.droppedWrite.Add(1)
		p.g.keyFrame()
	case <-ctx.Done():
		return false
	}
	return true
}

// Close stops the pipeline, drops a waiting frame, closes the encoder
// (waiting at most the close timeout) and closes Output. It is idempotent.
func (p *Pipeline) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	f := p.pending
	p.pending = nil
	p.mu.Unlock()
	if f != nil {
		f.Release()
	}
	p.cancel()
	<-p.done
	p.g.close()
	close(p.out)
	return nil
}
