package device

import (
	"sync"
	"sync/atomic"
	"time"
)

// limiter merges and rate-limits keyframe requests: fn runs at most once
// per interval, and a request inside the interval runs it once at the
// interval's end. request never blocks and never runs fn under a lock.
type limiter struct {
	interval time.Duration
	fn       func()

	mu     sync.Mutex
	last   time.Time
	timer  *time.Timer // a call planned for the interval's end
	closed bool

	asked, sent atomic.Int64
}

func newLimiter(interval time.Duration, fn func()) *limiter {
	return &limiter{interval: interval, fn: fn}
}

// request asks for one call of fn.
func (l *limiter) request() {
	l.asked.Add(1)
	l.mu.Lock()
	if l.closed || l.timer != nil {
		l.mu.Unlock() // merged into the planned call
		return
	}
	now := time.Now()
	if wait := l.interval - now.Sub(l.last); !l.last.IsZero() && wait > 0 {
		l.timer = time.AfterFunc(wait, l.fire)
		l.mu.Unlock()
		return
	}
	l.last = now
	l.mu.Unlock()
	l.call()
}

// fire runs the planned call.
func (l *limiter) fire() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.timer = nil
	l.last = time.Now()
	l.mu.Unlock()
	l.call()
}

func (l *limiter) call() {
	l.sent.Add(1)
	l.fn()
}

// close drops a planned call; later requests do nothing.
func (l *limiter) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
}
