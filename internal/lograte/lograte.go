// Package lograte bounds how often one recurring condition is logged: the
// first occurrence is logged at once, later ones at most once per
// interval, each with the number of occurrences left unlogged since the
// last line. A condition that repeats every frame says so once.
package lograte

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is the least time between two lines of one Limiter.
const DefaultInterval = 10 * time.Second

// Limiter rate-limits one kind of log line. The zero value logs at most
// once per DefaultInterval. It is safe for concurrent use.
type Limiter struct {
	// Interval is the least time between two lines; 0 means
	// DefaultInterval.
	Interval time.Duration
	// Now is the clock; nil means time.Now (tests inject one).
	Now func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Log logs msg at level unless a line was logged less than Interval ago,
// in which case it only counts it. A line logged after suppressed ones
// carries their number as "suppressed". It reports whether it logged.
func (l *Limiter) Log(log *slog.Logger, level slog.Level, msg string, args ...any) bool {
	now := l.now()
	l.mu.Lock()
	every := l.Interval
	if every <= 0 {
		every = DefaultInterval
	}
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.suppressed++
		l.mu.Unlock()
		return false
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Log(context.Background(), level, msg, args...)
	return true
}

// Reset makes the next Log line go out at once: the condition ended, and
// a new occurrence is news again.
func (l *Limiter) Reset() {
	l.mu.Lock()
	l.last, l.suppressed = time.Time{}, 0
	l.mu.Unlock()
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}
