package capture

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// pacer caps the rate of a stream of frames that arrive when the device
// sends them (raw-frames): it emits at most one frame per slot, slots
// being 1/rate apart, and always the newest. A frame that arrives while
// its slot is open goes out at once; one that arrives early waits as the
// pending frame until the slot opens; a newer frame replaces a pending one,
// which is released and counted as dropped. Nothing queues: at most one
// frame waits.
//
// Slots are on a grid that only moves forward. After a frame goes out at
// time t, the next slot opens at the later of the grid's next point and
// t + interval − interval/4: a frame that came a little late (jitter) does
// not push the grid back, so a device that sends at the cap is not halved,
// and no two frames go out less than ¾ interval apart. Over any run of
// frames, the k-th after a frame goes out at least k intervals, less a
// quarter, after it: the rate never exceeds the cap, on average or in a
// burst.
//
// The pacer starts no goroutine: run emits, on the caller's goroutine.
type pacer[T any] struct {
	interval time.Duration
	slack    time.Duration
	clk      clock
	release  func(T)
	dropped  *atomic.Int64 // frames replaced by a newer one

	mu      sync.Mutex // guards everything below
	pending T
	has     bool
	closed  bool
	open    time.Time // when the next slot opens
	started bool      // a frame has gone out: open is set
	wake    chan struct{}
}

// newPacer returns a pacer for rate frames per second (rate > 0). release
// frees a frame that is not emitted; dropped counts the frames replaced
// by newer ones.
func newPacer[T any](rate int, clk clock, release func(T), dropped *atomic.Int64) *pacer[T] {
	return newPacerInterval(time.Second/time.Duration(rate), clk, release, dropped)
}

// paceTolerance is how far above its cap a paced source may run: a
// device that sends at the nominal rate on a clock a little fast (0.4%
// was measured on devicesim) would otherwise drift against the slots, and
// every frame would wait up to a frame interval for its slot (17 ms on
// average at 30 fps, measured glass to glass). 2% above the cap passes it
// through undelayed; a faster source is still cut to the cap (+2%).
const paceTolerance = 0.02

// capInterval is the pacer interval for a cap of rate frames per second,
// with paceTolerance.
func capInterval(rate int) time.Duration {
	return time.Duration(float64(time.Second) / (float64(rate) * (1 + paceTolerance)))
}

func newPacerInterval[T any](interval time.Duration, clk clock, release func(T), dropped *atomic.Int64) *pacer[T] {
	return &pacer[T]{
		interval: interval,
		slack:    interval / 4,
		clk:      clk,
		release:  release,
		dropped:  dropped,
		wake:     make(chan struct{}, 1),
	}
}

// offer hands a frame to the pacer; it never blocks. A frame still waiting
// for its slot is released and replaced. Once run has returned, v is
// released at once.
func (p *pacer[T]) offer(v T) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.release(v)
		return
	}
	old, had := p.pending, p.has
	p.pending, p.has = v, true
	p.mu.Unlock()
	if had {
		p.dropped.Add(1)
		p.release(old)
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// take is the pacer's decision at time now: the pending frame, if its
// slot is open (ok; the next slot is then scheduled), or else whether a
// frame is pending (has) and how long until its slot opens (wait).
func (p *pacer[T]) take(now time.Time) (v T, ok, has bool, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.has {
		return v, false, false, 0
	}
	if p.started && now.Before(p.open) {
		return v, false, true, p.open.Sub(now)
	}
	v = p.pending
	var zero T
	p.pending, p.has = zero, false
	if !p.started {
		p.open, p.started = now.Add(p.interval), true
	} else {
		p.open = later(p.open.Add(p.interval), now.Add(p.interval-p.slack))
	}
	return v, true, false, 0
}

// run emits the offered frames on their slots until ctx ends (it returns
// nil) or emit fails (it returns emit's error; emit owns the frame it was
// given either way). When it returns, the pending frame is released and
// so is every frame offered later.
func (p *pacer[T]) run(ctx context.Context, emit func(T) error) error {
	defer p.close()
	t := p.clk.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		v, ok, has, wait := p.take(p.clk.Now())
		if ok {
			if err := emit(v); err != nil {
				return err
			}
			continue
		}
		var due <-chan time.Time
		if has {
			t.Reset(wait)
			due = t.C()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-due:
		}
		t.Stop()
	}
}

// close releases the pending frame and makes later offers release theirs.
func (p *pacer[T]) close() {
	p.mu.Lock()
	v, has := p.pending, p.has
	var zero T
	p.pending, p.has, p.closed = zero, false, true
	p.mu.Unlock()
	if has {
		p.release(v)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
