package capture

import (
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
)

// fakeClock is a clock that moves only when a test advances it; its timers
// fire then, in the goroutine that advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), timers: make(map[*fakeTimer]struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves the clock by d and fires every timer due by then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.at.After(c.now) {
			t.fireLocked()
		}
	}
}

// armed returns how many timers are waiting to fire.
func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// waitArmed waits until n timers are waiting: the code under test is
// blocked on them, so that advancing the clock fires them.
func (c *fakeClock) waitArmed(tb testing.TB, n int) {
	tb.Helper()
	testutil.Eventually(tb, "armed timers", testutil.Generous, func() bool { return c.armed() == n })
}

type fakeTimer struct {
	c  *fakeClock
	ch chan time.Time
	at time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

// fireLocked sends the time; callers hold c.mu.
func (t *fakeTimer) fireLocked() {
	delete(t.c.timers, t)
	select {
	case t.ch <- t.c.now:
	default:
	}
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, was := t.c.timers[t]
	delete(t.c.timers, t)
	select { // no stale value after Stop, as with Go 1.23 timers
	case <-t.ch:
	default:
	}
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, was := t.c.timers[t]
	select {
	case <-t.ch:
	default:
	}
	t.at = t.c.now.Add(d)
	t.c.timers[t] = struct{}{}
	if d <= 0 {
		t.fireLocked()
	}
	return was
}

func TestFakeClock(t *testing.T) {
	c := newFakeClock()
	start := c.Now()
	tm := c.NewTimer(time.Second)
	c.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Millisecond)
	if got := <-tm.C(); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("fired at %v", got.Sub(start))
	}
	if tm.Stop() {
		t.Fatal("Stop of a fired timer reported it armed")
	}
	tm.Reset(time.Second)
	if !tm.Stop() || c.armed() != 0 {
		t.Fatal("Stop of an armed timer")
	}
	c.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("a stopped timer fired")
	default:
	}
}
