package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiter is a token bucket per key (a client address, a token's
// name). Buckets that have refilled are forgotten: they are as good as
// new ones, so memory follows the keys active in the last few seconds.
type keyedLimiter struct {
	rate  rate.Limit
	burst int
	// now is the clock; tests stop it.
	now func() time.Time

	mu    sync.Mutex
	m     map[string]*rate.Limiter
	swept time.Time
}

// limiterMaxKeys bounds the buckets held at once; past it, the fullest
// are dropped first (see sweep).
const limiterMaxKeys = 100_000

func newKeyedLimiter(perSecond, burst int) *keyedLimiter {
	return &keyedLimiter{rate: rate.Limit(perSecond), burst: burst, now: time.Now, m: map[string]*rate.Limiter{}}
}

// setRate changes the rate and burst of every bucket, present and to
// come.
func (l *keyedLimiter) setRate(perSecond, burst int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rate, l.burst = rate.Limit(perSecond), burst
	now := l.now()
	for _, b := range l.m {
		b.SetLimitAt(now, l.rate)
		b.SetBurstAt(now, burst)
	}
}

// allow takes a token from key's bucket, and reports whether there was
// one.
func (l *keyedLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.m[key]
	if !ok {
		l.sweep(now)
		b = rate.NewLimiter(l.rate, l.burst)
		l.m[key] = b
	}
	return b.AllowN(now, 1)
}

// blocked reports whether key's bucket is empty, without taking from it.
func (l *keyedLimiter) blocked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	return ok && b.TokensAt(l.now()) < 1
}

// sweep drops full buckets once a minute, or at once when the map is
// full; if every bucket is in use, an arbitrary one goes.
func (l *keyedLimiter) sweep(now time.Time) {
	if len(l.m) < limiterMaxKeys && now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for k, b := range l.m {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.m, k)
		}
	}
	for k := range l.m {
		if len(l.m) < limiterMaxKeys {
			break
		}
		delete(l.m, k)
	}
}
