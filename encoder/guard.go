package encoder

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

// Opener opens candidate number i of a fallback chain (0 is the best). It
// returns an error when candidate i cannot open, and ErrNoEncoder when
// there is no candidate i.
type Opener func(i int) (Encoder, error)

// OpenerFor returns an Opener over libavcodec encoders: candidate i opens
// names[i] with opts (Codec set per candidate).
func OpenerFor(names []string, opts native.Options) Opener {
	return func(i int) (Encoder, error) {
		if i >= len(names) {
			return nil, ErrNoEncoder
		}
		o := opts
		o.Codec = names[i]
		return native.NewEncoder(o)
	}
}

// guard runs one stream's encoder so that nothing it does can stall the
// caller: each Encode runs on the encoder's own goroutine and is waited for
// at most the encode timeout. An encoder that hangs is abandoned (its
// goroutine closes it if the call ever returns) and one that fails is
// closed; either way the next candidate opens in its place, and its first
// output is an IDR. A guard is used by one goroutine at a time; its
// controls (keyFrame, setBitRate) may be called from any.
type guard struct {
	open          Opener
	encodeTimeout time.Duration
	closeTimeout  time.Duration
	log           *slog.Logger
	stats         *Stats

	mu      sync.Mutex // guards cur, next, bitRate
	cur     *encWorker
	next    int // the candidate to open after cur
	bitRate int // last bit rate asked for, applied to replacements
}

// encWorker is an encoder and the goroutine that owns it.
type encWorker struct {
	enc  Encoder
	jobs chan encJob
	done chan struct{}
}

type encJob struct {
	f      *native.Frame
	result chan encResult
}

type encResult struct {
	units []media.Unit
	err   error
}

func newGuard(open Opener, encodeTimeout, closeTimeout time.Duration, stats *Stats, log *slog.Logger) (*guard, error) {
	g := &guard{open: open, encodeTimeout: encodeTimeout, closeTimeout: closeTimeout, stats: stats, log: log}
	if err := g.replace(nil); err != nil {
		return nil, err
	}
	return g, nil
}

// replace opens the next candidate that works. Callers hold no lock.
func (g *guard) replace(cause error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	if cause != nil {
		errs = append(errs, cause)
	}
	for {
		i := g.next
		enc, err := g.open(i)
		if errors.Is(err, ErrNoEncoder) {
			g.cur = nil
			return fmt.Errorf("%w: %w", ErrNoEncoder, errors.Join(errs...))
		}
		g.next = i + 1
		if err != nil {
			g.log.Warn("encoder candidate failed to open", "candidate", i, "err", err)
			errs = append(errs, err)
			continue
		}
		if g.bitRate > 0 {
			enc.SetBitRate(g.bitRate)
		}
		w := &encWorker{enc: enc, jobs: make(chan encJob), done: make(chan struct{})}
		go w.run()
		if g.cur != nil || cause != nil {
			g.stats.encoderSwitches.Add(1)
			g.log.Warn("encoder replaced", "encoder", enc.Name(), "cause", cause)
		}
		g.cur = w
		return nil
	}
}

func (w *encWorker) run() {
	defer close(w.done)
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

// encode runs one frame through the current encoder, replacing it on
// failure or timeout. It takes ownership of f. An error means the frame
// was lost; it wraps ErrNoEncoder when no replacement could be opened.
func (g *guard) encode(f *native.Frame) ([]media.Unit, error) {
	g.mu.Lock()
	w := g.cur
	g.mu.Unlock()
	if w == nil {
		f.Release()
		return nil, ErrNoEncoder
	}
	res := make(chan encResult, 1)
	start := time.Now()
	w.jobs <- encJob{f: f, result: res}
	t := time.NewTimer(g.encodeTimeout)
	defer t.Stop()
	select {
	case r := <-res:
		g.stats.observe(time.Since(start))
		if r.err == nil {
			return r.units, nil
		}
		g.stats.encodingErrors.Add(1)
		g.retire(w)
		cause := fmt.Errorf("%s failed: %w", w.enc.Name(), r.err)
		return r.units, errors.Join(cause, g.replace(cause))
	case <-t.C:
		g.stats.encodingTimeouts.Add(1)
		g.retire(w) // abandoned: it closes itself if the call ever returns
		cause := fmt.Errorf("%s hung for more than %v", w.enc.Name(), g.encodeTimeout)
		return nil, errors.Join(cause, g.replace(cause))
	}
}

// retire stops w if it is still current.
func (g *guard) retire(w *encWorker) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur == w {
		g.cur = nil
		w.stop()
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

func (g *guard) name() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur == nil {
		return ""
	}
	return g.cur.enc.Name()
}

// close stops the encoder, waiting at most the close timeout for it.
func (g *guard) close() {
	g.mu.Lock()
	w := g.cur
	g.cur = nil
	g.mu.Unlock()
	if w == nil {
		return
	}
	w.stop()
	select {
	case <-w.done:
	case <-time.After(g.closeTimeout):
		g.log.Warn("encoder did not close in time; abandoned", "encoder", w.enc.Name(), "timeout", g.closeTimeout)
	}
}
