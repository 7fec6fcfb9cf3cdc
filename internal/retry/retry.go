// Package retry holds the back-off that every retry loop of the service
// uses, and a sleep that ends with its context.
package retry

import (
	"context"
	"time"
)

// Backoff is an exponential delay between retries.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the next delay and doubles the one after, up to Max.
func (b *Backoff) Next() time.Duration {
	if b.Min <= 0 {
		b.Min = 100 * time.Millisecond
	}
	if b.Max < b.Min {
		b.Max = 5 * time.Second
	}
	if b.cur < b.Min {
		b.cur = b.Min
	}
	d := b.cur
	b.cur = min(b.cur*2, b.Max)
	return d
}

// Reset starts the delays again from Min.
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits d or until ctx ends, and reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
