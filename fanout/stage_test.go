package fanout

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/media"
)

// steppedClock is a clock the test sets.
type steppedClock struct{ ns atomic.Int64 }

func (c *steppedClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *steppedClock) set(d time.Duration) { c.ns.Store(int64(d)) }

// handSink holds each sample until the test lets it through, and tells
// when a write began.
type handSink struct {
	entered chan struct{}
	release chan struct{}
	n       atomic.Int64
}

func (s *handSink) WriteSample(Sample) error {
	s.entered <- struct{}{}
	<-s.release
	s.n.Add(1)
	return nil
}

// TestStreamStages: each unit a viewer writes is counted once in the
// queue stage (Write → its writer took it) and once in the send stage (→
// written), with the durations the injected clock gives; units a joining
// viewer gets from the cache are not counted.
func TestStreamStages(t *testing.T) {
	var clk steppedClock
	b := New(Config{QueueSize: 8, Log: testLog(), Now: clk.now})
	defer b.Close()
	s := &handSink{entered: make(chan struct{}), release: make(chan struct{})}
	v, err := b.Subscribe("v", s)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	clk.set(0)
	b.Write(unit(0, 10)) // a keyframe: the viewer starts at it
	<-s.entered          // taken at 0: queue 0
	clk.set(10 * time.Millisecond)
	b.Write(unit(1, 10)) // queued behind unit 0 from 10 ms
	clk.set(25 * time.Millisecond)
	s.release <- struct{}{} // unit 0 written at 25 ms: send 25 ms
	<-s.entered             // unit 1 taken at 25 ms: queue 15 ms
	clk.set(27 * time.Millisecond)
	s.release <- struct{}{} // unit 1 written at 27 ms: send 2 ms
	eventually(t, "both units counted", func() bool { return b.Stats().Send.Count() == 2 })

	st := b.Stats()
	check := func(name string, h media.StageSnapshot, sum time.Duration, buckets map[int]uint64) {
		t.Helper()
		if h.Count() != 2 || h.Sum != sum {
			t.Errorf("%s: %d observations, sum %s; want 2, %s", name, h.Count(), h.Sum, sum)
		}
		for i, c := range h.Counts {
			if c != buckets[i] {
				t.Errorf("%s: bucket %d (≤ %v) holds %d, want %d", name, i, bound(i), c, buckets[i])
			}
		}
	}
	// Buckets: 0 → the first (≤ 0.5 ms); 15 ms → ≤ 15 ms (index 7);
	// 25 ms → ≤ 30 ms (index 9); 2 ms → ≤ 2 ms (index 2).
	check("queue", st.Queue, 15*time.Millisecond, map[int]uint64{0: 1, 7: 1})
	check("send", st.Send, 27*time.Millisecond, map[int]uint64{9: 1, 2: 1})

	// A viewer that joins gets the cached group (units 0 and 1); those
	// are the join's, not the queue's, and are not counted.
	var late sink
	v2, err := b.Subscribe("late", &late)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	eventually(t, "the replay", func() bool { return len(late.got()) == 2 })
	v2.Close()
	if st := b.Stats(); st.Queue.Count() != 2 || st.Send.Count() != 2 {
		t.Errorf("after a join: queue %d, send %d observations; want 2 and 2", st.Queue.Count(), st.Send.Count())
	}
}

func bound(i int) any {
	if i < media.NumStageBuckets {
		return media.StageBuckets[i]
	}
	return "+Inf"
}
