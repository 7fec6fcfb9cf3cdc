package encoder

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudphone/media-service/internal/lograte"
	"github.com/cloudphone/media-service/internal/retry"
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
	// Chain is the encoder candidates, best first (see ChainFor). The
	// encoder opens on the first frame, at its size.
	Chain Chain
	// EncodeTimeout bounds one Encode call, counting only the time the
	// process ran; an encoder that takes longer is abandoned and replaced.
	// Default 200 ms.
	EncodeTimeout time.Duration
	// WriteTimeout bounds the wait for the consumer to take a unit from
	// Output; a unit not taken in time is dropped. Default 100 ms.
	WriteTimeout time.Duration
	// CloseTimeout bounds the wait for the encoder to close. Default 5 s.
	CloseTimeout time.Duration
	// OutputBuffer is the capacity of the Output channel. Default 8.
	OutputBuffer int
	// RetryMin and RetryMax bound the back-off before the chain starts
	// over after every candidate failed. Defaults DefaultRetryMin and
	// DefaultRetryMax.
	RetryMin, RetryMax time.Duration
	// OnError, if set, receives every encoder failure and lost frame's
	// cause (the log gets them at a bounded rate).
	OnError func(error)
	Log     *slog.Logger
	// now and stalls replace the clock and the process watchdog in tests.
	now    func() time.Time
	stalls stallMeter
}

// Pipeline encodes one stream's frames on their way from capture to the
// viewers, so that neither a stuck encoder nor a slow consumer ever
// blocks capture: Submit never blocks and the newest frame wins. It never
// dies while frames come: a hung or failing encoder is replaced, and when
// every candidate failed the chain starts over after a back-off.
type Pipeline struct {
	opts  PipelineOptions
	g     *guard
	stats Stats
	out   chan media.Unit

	errLog lograte.Limiter

	mu      sync.Mutex // guards pending, closed
	pending *native.Frame
	closed  bool
	wake    chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// NewPipeline starts the pipeline's goroutine. The encoder opens on the
// first frame; failures to open are retried, never fatal.
func NewPipeline(o PipelineOptions) (*Pipeline, error) {
	if o.Chain.Open == nil {
		return nil, fmt.Errorf("%w: PipelineOptions.Chain.Open is nil", media.ErrConfig)
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
	if o.OutputBuffer <= 0 {
		o.OutputBuffer = 8
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	p := &Pipeline{opts: o, out: make(chan media.Unit, o.OutputBuffer), wake: make(chan struct{}, 1), done: make(chan struct{})}
	p.g = newGuard(guardConfig{
		chain: o.Chain, encodeTimeout: o.EncodeTimeout, closeTimeout: o.CloseTimeout,
		retry: retry.Backoff{Min: o.RetryMin, Max: o.RetryMax}, now: o.now, stalls: o.stalls,
		stats: &p.stats, log: o.Log, onError: o.OnError,
	})
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
	p.stats.inc(cFramesIn)
	if old != nil {
		old.Release()
		p.stats.inc(cDroppedStale)
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
			p.errLog.Log(p.opts.Log, slog.LevelWarn, "frame lost", "err", err)
		} else {
			p.errLog.Reset()
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
		p.stats.inc(cFramesOut)
		return true
	default:
	}
	t := time.NewTimer(p.opts.WriteTimeout)
	defer t.Stop()
	select {
	case p.out <- u:
		p.stats.inc(cFramesOut)
	case <-t.C:
		// A lost unit breaks the stream until the next keyframe: ask for
		// one now.
		p.stats.inc(cDroppedWrite)
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
