package encoder

import (
	"sync"
	"time"
)

// A process stall — every goroutine frozen at once, as under a CPU quota's
// throttling, a VM pause or SIGSTOP — makes an encode overrun its timeout
// through no fault of the encoder. The watchdog tells the two apart: a
// ticker that records when its own ticks come late, and so when the whole
// process was not running. An encode's timeout counts only the time the
// process ran.

// stallMeter reports how much of [from, to] the process spent frozen.
type stallMeter interface {
	frozen(from, to time.Time) time.Duration
}

// Watchdog tick and the lateness that counts as a stall: a tick later
// than tick+slack means the process (or at least its scheduler) did not
// run for that long.
const (
	watchdogTick  = 10 * time.Millisecond
	watchdogSlack = 40 * time.Millisecond
)

// span is a stretch of time the process was frozen.
type span struct{ from, to time.Time }

// watchdog is the process-wide stall meter. Guards acquire it while they
// exist; its goroutine runs while anyone holds it.
type watchdog struct {
	tick, slack time.Duration

	mu     sync.Mutex
	refs   int
	stop   chan struct{}
	done   chan struct{}
	last   time.Time // the last tick
	stalls [32]span  // ring of recent stalls
	n      int
}

var procWatchdog = &watchdog{tick: watchdogTick, slack: watchdogSlack}

// acquire starts the watchdog for one more user.
func (w *watchdog) acquire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refs++
	if w.refs > 1 {
		return
	}
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	w.last = time.Now()
	go w.run(w.stop, w.done)
}

// release stops the watchdog after its last user.
func (w *watchdog) release() {
	w.mu.Lock()
	w.refs--
	if w.refs > 0 {
		w.mu.Unlock()
		return
	}
	stop, done := w.stop, w.done
	w.stop, w.done = nil, nil
	w.mu.Unlock()
	close(stop)
	<-done
}

func (w *watchdog) run(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(w.tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			w.note(time.Now())
		}
	}
}

// note records a tick at now, and the stall before it if it came late.
func (w *watchdog) note(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if gap := now.Sub(w.last); gap > w.tick+w.slack {
		w.stalls[w.n%len(w.stalls)] = span{w.last.Add(w.tick), now}
		w.n++
	}
	w.last = now
}

// frozen returns how much of [from, to] the process spent frozen: the
// stalls recorded, and the one in progress if the watchdog itself is late
// now (after a freeze, the goroutine asking may run before the watchdog's
// overdue tick).
func (w *watchdog) frozen(from, to time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var d time.Duration
	overlap := func(s span) {
		a, b := later(s.from, from), earlier(s.to, to)
		if b.After(a) {
			d += b.Sub(a)
		}
	}
	for i := range min(w.n, len(w.stalls)) {
		overlap(w.stalls[i])
	}
	if w.refs > 0 && to.Sub(w.last) > w.tick+w.slack {
		overlap(span{w.last.Add(w.tick), to})
	}
	return d
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
