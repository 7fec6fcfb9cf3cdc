package capture

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
)

// ledger records what became of each frame: emitted or released, each
// exactly once.
type ledger struct {
	mu       sync.Mutex
	released map[int]int
	emitted  map[int]int
}

func newLedger() *ledger { return &ledger{released: map[int]int{}, emitted: map[int]int{}} }

func (l *ledger) release(v int) { l.mu.Lock(); l.released[v]++; l.mu.Unlock() }
func (l *ledger) emit(v int)    { l.mu.Lock(); l.emitted[v]++; l.mu.Unlock() }

// check fails unless each of frames 0..n-1 was emitted or released, once.
func (l *ledger) check(t *testing.T, n int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for v := range n {
		if e, r := l.emitted[v], l.released[v]; e+r != 1 {
			t.Errorf("frame %d: emitted %d times, released %d times; want one of them, once", v, e, r)
		}
	}
}

type emission struct {
	at time.Duration // since the start
	v  int
}

// simulate offers frame i at arrivals[i] (offsets from the start, in
// order) and runs the pacer's decisions as an ideal run loop would, with
// no delay: it returns what went out, when. Frames still pending at the
// end go out on their slots.
func simulate(p *pacer[int], l *ledger, arrivals []time.Duration) []emission {
	t0 := time.Unix(1_700_000_000, 0)
	var out []emission
	now := time.Duration(0)
	next := 0
	for {
		for next < len(arrivals) && arrivals[next] <= now {
			p.offer(next)
			next++
		}
		var has bool
		var wait time.Duration
		for {
			v, ok, h, w := p.take(t0.Add(now))
			if !ok {
				has, wait = h, w
				break
			}
			l.emit(v)
			out = append(out, emission{now, v})
		}
		switch {
		case next < len(arrivals) && (!has || arrivals[next] < now+wait):
			now = arrivals[next]
		case has:
			now += wait
		default:
			return out
		}
	}
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

// checkPaced checks the pacer's promises on what went out: frames in
// order, each the newest that had arrived, and the rate cap: the k-th
// frame after one goes out at least k intervals after it, less a quarter
// interval (never a burst), and the k-th after the first at least k
// intervals after it.
func checkPaced(t *testing.T, out []emission, arrivals []time.Duration, interval time.Duration) {
	t.Helper()
	for i, e := range out {
		newest := -1
		for j, a := range arrivals {
			if a <= e.at {
				newest = j
			}
		}
		if e.v != newest {
			t.Errorf("at %v frame %d went out; the newest was %d", e.at, e.v, newest)
		}
		if i > 0 && e.v <= out[i-1].v {
			t.Errorf("frame %d went out after frame %d", e.v, out[i-1].v)
		}
		for j := range i {
			if gap, min := e.at-out[j].at, time.Duration(i-j)*interval-interval/4; gap < min {
				t.Errorf("frames %d and %d went out %v apart (%d slots: at least %v)", out[j].v, e.v, gap, i-j, min)
			}
		}
		if gap := e.at - out[0].at; gap < time.Duration(i)*interval {
			t.Errorf("frame %d went out %v after the first, under %d intervals", e.v, gap, i)
		}
	}
}

func TestPacerPatterns(t *testing.T) {
	const rate = 10
	interval := time.Second / rate
	every := func(step, offset time.Duration, n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = offset + time.Duration(i)*step
		}
		return out
	}
	var bursts []time.Duration
	for b := range 4 {
		for i := range 5 {
			bursts = append(bursts, time.Duration(300*b+i)*time.Millisecond)
		}
	}
	for _, tc := range []struct {
		name     string
		arrivals []time.Duration
		want     []time.Duration // when frames went out, if exact
		wantN    int
	}{
		{
			// 143 frames at about 140 fps for a second: one frame per slot,
			// on the grid, each the newest.
			name:     "faster than the rate",
			arrivals: every(7*time.Millisecond, time.Millisecond, 143),
			want:     ms(1, 101, 201, 301, 401, 501, 601, 701, 801, 901, 1001),
		},
		{
			// Slower than the rate: every frame goes out as it arrives.
			name:     "slower than the rate",
			arrivals: every(150*time.Millisecond, 5*time.Millisecond, 10),
			want:     every(150*time.Millisecond, 5*time.Millisecond, 10),
		},
		{
			// At the rate with jitter: a late frame does not push the grid
			// back, an early one waits for its slot, and none is dropped.
			name:     "at the rate with jitter",
			arrivals: ms(0, 120, 185, 310, 380, 520, 590, 700, 815, 880),
			want:     ms(0, 120, 200, 310, 400, 520, 600, 700, 815, 900),
		},
		{
			// Bursts of five frames 1 ms apart every 300 ms: the first of a
			// burst goes out if its slot is open, the newest on the next
			// slot, and no two less than ¾ interval apart.
			name:     "bursty",
			arrivals: bursts,
			want:     ms(0, 100, 300, 375, 600, 675, 900, 975),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLedger()
			var dropped atomic.Int64
			p := newPacer(rate, newFakeClock(), l.release, &dropped)
			out := simulate(p, l, tc.arrivals)
			checkPaced(t, out, tc.arrivals, interval)
			var at []time.Duration
			for _, e := range out {
				at = append(at, e.at)
			}
			if tc.want != nil && fmt.Sprint(at) != fmt.Sprint(tc.want) {
				t.Errorf("frames went out at %v, want %v", at, tc.want)
			}
			l.check(t, len(tc.arrivals))
			if d := dropped.Load(); d != int64(len(tc.arrivals)-len(out)) {
				t.Errorf("dropped %d, want %d (arrived %d, went out %d)", d, len(tc.arrivals)-len(out), len(tc.arrivals), len(out))
			}
		})
	}
}

// TestPacerRun drives the pacer's own loop with a fake clock.
func TestPacerRun(t *testing.T) {
	clk := newFakeClock()
	l := newLedger()
	var dropped atomic.Int64
	p := newPacer(10, clk, l.release, &dropped)
	out := make(chan int, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.run(ctx, func(v int) error { l.emit(v); out <- v; return nil }) }()
	recv := func(want int) {
		t.Helper()
		select {
		case v := <-out:
			if v != want {
				t.Fatalf("frame %d went out, want %d", v, want)
			}
		case <-time.After(testutil.Generous):
			t.Fatalf("frame %d never went out", want)
		}
	}

	p.offer(0) // the slot is open: out at once
	recv(0)
	p.offer(1) // early: waits
	p.offer(2) // replaces 1, which is released now
	if l.released[1] != 1 || dropped.Load() != 1 {
		t.Fatalf("frame 1 released %d times, dropped %d", l.released[1], dropped.Load())
	}
	clk.waitArmed(t, 1)
	if len(out) != 0 {
		t.Fatal("a frame went out before its slot")
	}
	clk.Advance(99 * time.Millisecond)
	clk.waitArmed(t, 1)
	if len(out) != 0 {
		t.Fatal("a frame went out before its slot")
	}
	clk.Advance(time.Millisecond)
	recv(2)

	p.offer(3) // pending when the loop stops: released once
	clk.waitArmed(t, 1)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	p.offer(4) // after run: released at once
	l.check(t, 5)
	if l.emitted[0] != 1 || l.emitted[2] != 1 || l.released[3] != 1 || l.released[4] != 1 {
		t.Fatalf("emitted %v, released %v", l.emitted, l.released)
	}
	if dropped.Load() != 1 {
		t.Fatalf("dropped %d, want 1 (only frame 1 was replaced)", dropped.Load())
	}
}

func TestPacerEmitError(t *testing.T) {
	clk := newFakeClock()
	l := newLedger()
	var dropped atomic.Int64
	p := newPacer(30, clk, l.release, &dropped)
	boom := errors.New("boom")
	p.offer(0)
	if err := p.run(context.Background(), func(v int) error { l.emit(v); return boom }); !errors.Is(err, boom) {
		t.Fatalf("run = %v, want emit's error", err)
	}
	p.offer(1)
	l.check(t, 2)
}
