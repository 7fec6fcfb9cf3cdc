package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/internal/retry"
)

// A generation is one run of a device command that streams (one
// screenrecord process). A supervisor keeps a source's output continuous
// across generations: it starts the replacement before the current one
// reaches its time limit, switches at the replacement's first unit that can
// start a stream (an IDR with SPS/PPS for H.264), restarts at once when a
// generation ends early, and retries with backoff while the device is gone.

// A source whose device is gone retries with a back-off (200 ms doubling
// to 5 s). Kick ends the wait when the device is back: the owner calls it
// when the adb server lists the device again, so that capture resumes at
// once instead of at the end of a long delay.

// unit is one piece of output of a generation.
type unit[T any] struct {
	gen     int
	v       T
	startOK bool      // a consumer can start here (IDR + parameter sets)
	at      time.Time // when its last byte arrived
}

// genEnd reports that a generation ended.
type genEnd struct {
	gen int
	err error
}

// supervisorConfig describes how to run generations of one source.
type supervisorConfig[T any] struct {
	log *slog.Logger
	// run runs one generation until it ends or ctx ends, calling send for
	// each unit in order. send fails once the generation has been dropped.
	run func(ctx context.Context, send func(v T, startOK bool, at time.Time) error) error
	// release frees a unit that is not emitted.
	release func(T)
	// lifetime is how long a generation lasts by itself (the time limit);
	// 0 means it does not end by itself.
	lifetime time.Duration
	// lead is how long before the end of its lifetime the replacement starts.
	lead time.Duration
	// onError receives every error of a generation that ended early or
	// could not start, as it happens.
	onError func(error)
	// backoff spaces the starts that fail at once; zero: 200 ms doubling
	// to 5 s.
	backoff retry.Backoff
}

// generation is a running generation.
type generation struct {
	id      int
	started time.Time
	cancel  context.CancelFunc
	seenKey bool // has sent its first startable unit
}

// supervisor runs generations; its loop goroutine owns all its state.
type supervisor[T any] struct {
	cfg   supervisorConfig[T]
	units chan unit[T]
	ends  chan genEnd
	keyRq chan struct{}
	kick  chan struct{}
	wg    sync.WaitGroup
	next  int

	restarts atomic.Int64 // generations started after the first
}

func newSupervisor[T any](cfg supervisorConfig[T]) *supervisor[T] {
	if cfg.onError == nil {
		cfg.onError = func(error) {}
	}
	if cfg.backoff == (retry.Backoff{}) {
		cfg.backoff = retry.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	}
	return &supervisor[T]{
		cfg:   cfg,
		units: make(chan unit[T], 4),
		ends:  make(chan genEnd, 4),
		keyRq: make(chan struct{}, 1),
		kick:  make(chan struct{}, 1),
	}
}

// kickNow resets the retry back-off and, when no generation runs or
// starts (the loop waits to retry), starts one now. It never blocks;
// kicks close together are merged.
func (s *supervisor[T]) kickNow() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// requestKeyFrame asks for a restart; it never blocks.
func (s *supervisor[T]) requestKeyFrame() {
	select {
	case s.keyRq <- struct{}{}:
	default:
	}
}

// requestRestart asks for a replacement generation, as requestKeyFrame
// does: the display's size changed, and screenrecord keeps the size it
// started with. It never blocks; a request while a replacement is on its
// way is merged into it.
func (s *supervisor[T]) requestRestart() { s.requestKeyFrame() }

func (s *supervisor[T]) start(ctx context.Context) *generation {
	s.next++
	gctx, cancel := context.WithCancel(ctx)
	g := &generation{id: s.next, started: time.Now(), cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.cfg.run(gctx, func(v T, startOK bool, at time.Time) error {
			select {
			case s.units <- unit[T]{gen: g.id, v: v, startOK: startOK, at: at}:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
		select {
		case s.ends <- genEnd{gen: g.id, err: err}:
		case <-gctx.Done():
		}
	}()
	return g
}

// loop runs until ctx ends, calling emit for each unit of the current
// generation. It returns ctx's error, or emit's.
func (s *supervisor[T]) loop(ctx context.Context, emit func(v T, at time.Time) error) error {
	lctx, cancelAll := context.WithCancel(ctx)
	defer func() {
		cancelAll()
		// Drain so that generations blocked on send can end.
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		for {
			select {
			case u := <-s.units:
				s.cfg.release(u.v)
			case <-s.ends:
			case <-done:
				return
			}
		}
	}()

	var cur, repl *generation
	stop := func(g *generation) {
		if g != nil {
			g.cancel()
		}
	}
	bo := s.cfg.backoff
	kicked := false // kicked while a start was under way with nothing running

	cur = s.start(lctx)
	again := time.NewTimer(time.Hour)
	again.Stop()
	defer again.Stop()
	renew := time.NewTimer(time.Hour)
	renew.Stop()
	defer renew.Stop()
	armRenew := func(g *generation) {
		renew.Stop()
		if s.cfg.lifetime > 0 && g != nil {
			renew.Reset(time.Until(g.started.Add(s.cfg.lifetime - s.cfg.lead)))
		}
	}
	armRenew(cur)

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()

		case u := <-s.units:
			switch {
			case repl != nil && u.gen == repl.id && u.startOK:
				// The replacement can take over from here.
				stop(cur)
				cur, repl = repl, nil
				cur.seenKey = true
				bo.Reset()
				kicked = false
				armRenew(cur)
				s.cfg.log.Debug("switched to replacement stream", "generation", cur.id)
			case cur != nil && u.gen == cur.id:
				cur.seenKey = cur.seenKey || u.startOK
				bo.Reset()
			default:
				s.cfg.release(u.v) // an old generation's, or a replacement's before its keyframe
				continue
			}
			if err := emit(u.v, u.at); err != nil {
				return err
			}

		case e := <-s.ends:
			switch {
			case cur != nil && e.gen == cur.id:
				early := s.cfg.lifetime == 0 || time.Since(cur.started) < s.cfg.lifetime-s.cfg.lead
				cur = nil
				if e.err != nil || early {
					err := e.err
					if err == nil {
						err = errors.New("stream ended early")
					}
					s.cfg.onError(fmt.Errorf("capture stream ended: %w", err))
				}
				if repl == nil {
					// Nothing to switch to: start again now, or after a
					// backoff if the last start failed at once.
					again.Reset(0)
				}
			case repl != nil && e.gen == repl.id:
				if e.err != nil {
					s.cfg.onError(fmt.Errorf("replacement stream: %w", e.err))
				}
				repl = nil
				if cur == nil {
					d := bo.Next()
					if kicked {
						d, kicked = 0, false
					}
					again.Reset(d)
				}
			}

		case <-again.C:
			if cur == nil && repl == nil {
				repl = s.start(lctx)
				s.restarts.Add(1)
			}

		case <-renew.C:
			if repl == nil && cur != nil {
				repl = s.start(lctx)
				s.restarts.Add(1)
			}

		case <-s.kick:
			// The device is back: a wait under way ends now, and a start
			// under way that fails is retried at once.
			bo.Reset()
			switch {
			case cur == nil && repl == nil:
				s.cfg.log.Debug("device back: capture retries now")
				again.Reset(0)
			case cur == nil:
				kicked = true
			}

		case <-s.keyRq:
			// A replacement on its way brings a keyframe: merged into it.
			// The device owner rate-limits the requests.
			if repl == nil {
				repl = s.start(lctx)
				s.restarts.Add(1)
			}
		}
	}
}
