package service

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/rtc"
)

// The drain, for rolling upgrades: when it starts (the first SIGTERM),
// the service stops taking new sessions (/ready and session creation
// answer 503) and keeps the running ones until they end or DRAIN_TIMEOUT
// passes; then Run stops the HTTP server and closes the sessions left
// cleanly, and returns. Run's context ending (a second SIGTERM, or
// SIGINT) still stops everything at once, drain or not.

// ErrDraining refuses a new session while the service drains. It is an
// rtc.ErrUnavailable, which the API answers with 503 Service Unavailable.
var ErrDraining = fmt.Errorf("%w: the service is draining and takes no new sessions", rtc.ErrUnavailable)

// drainKey is the context key of WithDrain.
type drainKey struct{}

// WithDrain returns a copy of ctx that carries drain, for a caller that
// reaches Run without building its Options (command media-service's
// serve): Run then drains when drain is closed, as with Options.Drain.
func WithDrain(ctx context.Context, drain <-chan struct{}) context.Context {
	return context.WithValue(ctx, drainKey{}, drain)
}

// drainOf returns Options.Drain, or else the drain channel ctx carries
// (nil: no drain).
func drainOf(ctx context.Context, o Options) <-chan struct{} {
	if o.Drain != nil {
		return o.Drain
	}
	ch, _ := ctx.Value(drainKey{}).(<-chan struct{})
	return ch
}

// admission says whether the service takes new sessions: it does until
// the drain starts.
type admission struct {
	draining atomic.Bool
	// onDrain, when set, is called once as the drain starts (a fleet
	// member hands its idle devices over).
	onDrain func()
}

// Ready reports whether the service takes new sessions: nil until the
// drain starts, ErrDraining after. It is what /ready answers
// (api.Options.Ready).
func (a *admission) Ready() error {
	if a.draining.Load() {
		return ErrDraining
	}
	return nil
}

// drainPoll is how often the drain looks for the sessions left.
const drainPoll = 100 * time.Millisecond

// runDrain waits for drain to be closed, then refuses new sessions
// (adm), waits until sessions() is 0 or timeout passes, and calls stop.
// It returns without calling stop when ctx ends first.
func runDrain(ctx context.Context, log *slog.Logger, drain <-chan struct{}, timeout time.Duration, adm *admission, sessions func() int, stop func()) {
	select {
	case <-ctx.Done():
		return
	case <-drain:
	}
	adm.draining.Store(true)
	if adm.onDrain != nil {
		adm.onDrain()
	}
	log.Info("draining: new sessions are refused; running sessions are kept until they end or the drain timeout passes (a second SIGTERM, or SIGINT, stops now)",
		"sessions", sessions(), "drain_timeout", timeout)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for n := sessions(); n > 0; n = sessions() {
		select {
		case <-ctx.Done():
			log.Warn("drain cut short: stopping now", "sessions", n)
			return
		case <-deadline.C:
			log.Info("drain timeout passed: closing the sessions left and stopping", "sessions", n)
			stop()
			return
		case <-tick.C:
		}
	}
	log.Info("drained: no session left; stopping")
	stop()
}
