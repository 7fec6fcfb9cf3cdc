package encoder

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/internal/lograte"
	"github.com/cloudphone/media-service/internal/retry"
	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

// Opener opens candidate number i of a fallback chain (0 is the best) for
// frames of the given size. It returns an error when candidate i cannot
// open, and ErrNoEncoder when there is no candidate i.
type Opener func(i int, size media.Size) (Encoder, error)

// Chain is a fallback chain of encoders, best first.
type Chain struct {
	Open Opener
	// Recheck, when set, runs before a candidate that failed earlier is
	// opened again; an error skips the candidate this time round. ChainFor
	// probes a hardware encoder again (a GPU that hung once may still be
	// wedged); software encoders need no recheck.
	Recheck func(i int, size media.Size) error
}

// ChainFor returns the chain over libavcodec encoders: candidate i opens
// names[i] with opts (Codec and size set per candidate), and a hardware
// candidate that failed is probed again (native.ProbeEncoder) before it is
// reused.
func ChainFor(names []string, opts native.Options) Chain {
	withCodec := func(i int, size media.Size) native.Options {
		o := opts
		o.Codec, o.Width, o.Height = names[i], size.Width, size.Height
		return o
	}
	return Chain{
		Open: func(i int, size media.Size) (Encoder, error) {
			if i >= len(names) {
				return nil, ErrNoEncoder
			}
			return native.NewEncoder(withCodec(i, size))
		},
		Recheck: func(i int, size media.Size) error {
			if i >= len(names) || !native.IsHardware(names[i]) {
				return nil
			}
			return native.ProbeEncoder(withCodec(i, size))
		},
	}
}

// Recovery back-off: after every candidate failed, the chain starts over
// from its best candidate after this back-off, doubling up to its maximum
// while the failures go on.
const (
	DefaultRetryMin = 100 * time.Millisecond
	DefaultRetryMax = 5 * time.Second
)

// MaxAbandoned bounds the hung encoders abandoned process-wide that have
// not returned yet. Each holds a goroutine, a thread in C and, on NVIDIA
// hosts, one of the GPU's few encoder sessions; at the bound no encoder
// is opened until one of them returns.
var MaxAbandoned int64 = 8

// abandonedNow counts abandoned encoders still stuck, process-wide.
var abandonedNow atomic.Int64

// AbandonedEncoders returns the number of hung encoders abandoned
// process-wide that have not returned yet.
func AbandonedEncoders() int64 { return abandonedNow.Load() }

// errTooManyHung is the cause of a refusal to open at MaxAbandoned.
var errTooManyHung = errors.New("too many hung encoders still stuck")

// guardConfig configures a guard.
type guardConfig struct {
	chain         Chain
	encodeTimeout time.Duration
	closeTimeout  time.Duration
	retry         retry.Backoff
	now           func() time.Time // the back-off's clock
	stalls        stallMeter       // nil: the process watchdog
	stats         *Stats
	log           *slog.Logger
	onError       func(error) // optional: open failures and lost frames
}

// guard runs one stream's encoder so that nothing it does can stall the
// caller and nothing it does ends the stream: each Encode runs on the
// encoder's own goroutine and is waited for at most the encode timeout
// (counting only the time the process ran). An encoder that hangs is
// abandoned (its goroutine closes it if the call ever returns) and one
// that fails is closed; either way the next candidate opens in its place,
// with an IDR first. When every candidate failed, the chain starts over
// from the best after a back-off. A new frame size reopens the encoder at
// that size. A guard is used by one goroutine at a time; its controls
// (keyFrame, setBitRate, name) may be called from any.
type guard struct {
	cfg guardConfig

	mu      sync.Mutex // guards everything below
	cur     *encWorker
	curIdx  int          // cur's candidate index
	size    media.Size   // cur's frame size
	next    int          // the candidate to open when cur is nil
	failed  map[int]bool // candidates that failed since they last opened
	bo      retry.Backoff
	retryAt time.Time // no open before this, after the chain was exhausted
	// cause is why cur is nil (a failure or a hang, to be logged with the
	// replacement); kind is "error" or "timeout".
	cause      error
	kind       string
	restarting bool // the chain was exhausted; the next open restarts it
	bitRate    int  // last bit rate asked for, applied to replacements
	lastName   string
	closed     bool

	stallLog, failLog lograte.Limiter
}

// encWorker is an encoder and the goroutine that owns it.
type encWorker struct {
	enc       Encoder
	jobs      chan encJob
	done      chan struct{}
	abandoned atomic.Bool
}

type encJob struct {
	f      *native.Frame
	result chan encResult
}

type encResult struct {
	units []media.Unit
	err   error
}

func newGuard(cfg guardConfig) *guard {
	if cfg.retry.Min <= 0 {
		cfg.retry = retry.Backoff{Min: DefaultRetryMin, Max: DefaultRetryMax}
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.stalls == nil {
		procWatchdog.acquire()
		cfg.stalls = procWatchdog
	}
	if cfg.onError == nil {
		cfg.onError = func(error) {}
	}
	return &guard{cfg: cfg, failed: map[int]bool{}, bo: cfg.retry}
}

func (w *encWorker) run() {
	defer close(w.done)
	defer func() {
		if w.abandoned.Load() {
			abandonedNow.Add(-1)
		}
	}()
	defer w.enc.Close()
	name := w.enc.Name()
	for j := range w.jobs {
		var units []media.Unit
		err := w.enc.Encode(j.f, func(p native.Packet) error {
			units = append(units, toUnit(p, name))
			return nil
		})
		j.result <- encResult{units, err} // buffered: never blocks
	}
}

// stop ends a worker; its goroutine closes the encoder. If the worker is
// stuck in a call, it closes the encoder when the call returns.
func (w *encWorker) stop() { close(w.jobs) }

// encode runs one frame through the current encoder (opening, reopening
// or replacing it as needed). It takes ownership of f. An error means the
// frame was lost; it wraps ErrNoEncoder when no encoder is open (the
// guard retries after its back-off, on a later frame).
func (g *guard) encode(f *native.Frame) ([]media.Unit, error) {
	size := media.Size{Width: f.Width(), Height: f.Height()}
	w, err := g.ready(size)
	if err != nil {
		f.Release()
		g.cfg.stats.inc(cDroppedNoEncoder)
		return nil, err
	}
	res := make(chan encResult, 1)
	start := time.Now()
	w.jobs <- encJob{f: f, result: res}
	t := time.NewTimer(g.cfg.encodeTimeout)
	defer t.Stop()
	stalled := false
	for {
		select {
		case r := <-res:
			return g.finish(w, r, start)
		case <-t.C:
		}
		select { // a result that came in with the timer wins
		case r := <-res:
			return g.finish(w, r, start)
		default:
		}
		now := time.Now()
		frozen := g.cfg.stalls.frozen(start, now)
		if ran := now.Sub(start) - frozen; ran < g.cfg.encodeTimeout {
			// The process, not the encoder, stood still: wait for the
			// rest of the encoder's time.
			if !stalled {
				stalled = true
				g.cfg.stats.inc(cStalls)
				g.stallLog.Log(g.cfg.log, slog.LevelWarn, "process stalled during an encode; not blamed on the encoder",
					"encoder", w.enc.Name(), "frozen", frozen.Round(time.Millisecond))
			}
			t.Reset(g.cfg.encodeTimeout - ran)
			continue
		}
		g.cfg.stats.inc(cTimeouts)
		g.cfg.stats.inc(cDroppedError)
		cause := fmt.Errorf("%s hung for more than %v", w.enc.Name(), g.cfg.encodeTimeout)
		g.fail(w, "timeout", cause)
		return nil, cause
	}
}

// finish handles an encode's result.
func (g *guard) finish(w *encWorker, r encResult, start time.Time) ([]media.Unit, error) {
	g.cfg.stats.observe(time.Since(start))
	if r.err == nil {
		g.mu.Lock()
		g.bo.Reset()
		g.failLog.Reset()
		g.mu.Unlock()
		return r.units, nil
	}
	g.cfg.stats.inc(cErrors)
	g.cfg.stats.inc(cDroppedError)
	cause := fmt.Errorf("%s failed: %w", w.enc.Name(), r.err)
	g.fail(w, "error", cause)
	return r.units, cause
}

// fail retires w (abandoning it if it hung) and opens its replacement at
// once, so that the next frame finds it ready.
func (g *guard) fail(w *encWorker, kind string, cause error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur != w {
		return
	}
	g.cur = nil
	if kind == "timeout" {
		w.abandoned.Store(true)
		abandonedNow.Add(1)
		g.cfg.stats.inc(cAbandoned)
	}
	w.stop() // an abandoned worker closes its encoder if its call returns
	g.failed[g.curIdx] = true
	g.next = g.curIdx + 1
	g.cause, g.kind = cause, kind
	g.cfg.onError(cause)
	if err := g.openLocked(g.size); err != nil {
		g.cfg.onError(err)
	}
}

// ready returns the encoder for frames of size, opening or reopening it.
func (g *guard) ready(size media.Size) (*encWorker, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	if g.cur != nil && g.size == size {
		return g.cur, nil
	}
	if g.cur != nil {
		g.cfg.log.Info("frame size changed; reopening the encoder", "encoder", g.cur.enc.Name(), "from", g.size.String(), "to", size.String())
		g.cfg.stats.inc(cReopened)
		g.cur.stop()
		g.cur = nil
		g.next = g.curIdx
	}
	if err := g.openLocked(size); err != nil {
		g.cfg.onError(err)
		return nil, err
	}
	return g.cur, nil
}

// openLocked opens the first candidate from g.next that works, for
// frames of size. When none does, the chain starts over from the best
// after the back-off. Callers hold mu.
func (g *guard) openLocked(size media.Size) error {
	if n := abandonedNow.Load(); n >= MaxAbandoned {
		g.failLog.Log(g.cfg.log, slog.LevelError, "not opening an encoder: too many hung encoders have not returned", "abandoned", n, "max", MaxAbandoned)
		return fmt.Errorf("%w: %w (%d)", ErrNoEncoder, errTooManyHung, n)
	}
	now := g.cfg.now()
	if now.Before(g.retryAt) {
		return fmt.Errorf("%w: recovering, next attempt in %v", ErrNoEncoder, g.retryAt.Sub(now).Round(time.Millisecond))
	}
	var errs []error
	for i := g.next; ; i++ {
		if g.failed[i] && g.cfg.chain.Recheck != nil {
			if err := g.cfg.chain.Recheck(i, size); err != nil {
				errs = append(errs, fmt.Errorf("candidate %d failed its probe: %w", i, err))
				continue
			}
		}
		enc, err := g.cfg.chain.Open(i, size)
		if errors.Is(err, ErrNoEncoder) {
			wait := g.bo.Next()
			g.next, g.retryAt, g.restarting = 0, now.Add(wait), true
			err := fmt.Errorf("%w: every candidate failed; starting over from the best in %v: %w", ErrNoEncoder, wait, errors.Join(errs...))
			g.failLog.Log(g.cfg.log, slog.LevelError, "no encoder could be opened", "err", err)
			return err
		}
		if err != nil {
			g.failed[i] = true
			g.cfg.log.Warn("encoder candidate failed to open", "candidate", i, "size", size.String(), "err", err)
			errs = append(errs, err)
			continue
		}
		delete(g.failed, i)
		if g.bitRate > 0 {
			enc.SetBitRate(g.bitRate)
		}
		enc.ForceKeyFrame() // a new encoder starts with an IDR
		w := &encWorker{enc: enc, jobs: make(chan encJob), done: make(chan struct{})}
		go w.run()
		switch {
		case g.cause != nil:
			c := cReplacedError
			if g.kind == "timeout" {
				c = cReplacedTimeout
			}
			g.cfg.stats.inc(c)
			g.cfg.log.Warn("encoder replaced", "from", g.lastName, "to", enc.Name(), "cause", g.cause)
		case g.restarting:
			g.cfg.log.Info("encoder opened again", "encoder", enc.Name())
		}
		if g.restarting {
			g.cfg.stats.inc(cRestarts)
		}
		g.cause, g.kind, g.restarting = nil, "", false
		g.cur, g.curIdx, g.size, g.lastName = w, i, size, enc.Name()
		return nil
	}
}

func (g *guard) keyFrame() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur != nil {
		g.cur.enc.ForceKeyFrame()
	}
}

func (g *guard) setBitRate(bps int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bitRate = bps
	if g.cur != nil {
		return g.cur.enc.SetBitRate(bps)
	}
	return nil
}

// name returns the encoder in use, or the last one while recovering.
func (g *guard) name() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastName
}

// close stops the encoder, waiting at most the close timeout for it.
func (g *guard) close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	w := g.cur
	g.cur = nil
	g.mu.Unlock()
	if g.cfg.stalls == procWatchdog {
		defer procWatchdog.release()
	}
	if w == nil {
		return
	}
	w.stop()
	select {
	case <-w.done:
	case <-time.After(g.cfg.closeTimeout):
		g.cfg.log.Warn("encoder did not close in time; abandoned", "encoder", w.enc.Name(), "timeout", g.cfg.closeTimeout)
	}
}
