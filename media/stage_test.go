package media

import (
	"math"
	"testing"
	"time"
)

func TestStageHistogram(t *testing.T) {
	var h StageHistogram
	for _, d := range []time.Duration{-time.Second, 0, 500 * time.Microsecond, 501 * time.Microsecond, 4 * time.Millisecond, 2 * time.Second} {
		h.Observe(d)
	}
	s := h.Snapshot()
	want := map[int]uint64{0: 3, 1: 1, 4: 1, NumStageBuckets: 1}
	for i, c := range s.Counts {
		if c != want[i] {
			t.Errorf("bucket %d holds %d, want %d", i, c, want[i])
		}
	}
	if s.Count() != 6 {
		t.Errorf("count %d, want 6", s.Count())
	}
	if wantSum := 500*time.Microsecond + 501*time.Microsecond + 4*time.Millisecond + 2*time.Second; s.Sum != wantSum {
		t.Errorf("sum %s, want %s (a negative duration counts as 0)", s.Sum, wantSum)
	}
	var total StageSnapshot
	total.Add(s)
	total.Add(s)
	if total.Count() != 12 || total.Sum != 2*s.Sum {
		t.Errorf("two added: %d, %s", total.Count(), total.Sum)
	}
	if d := total.Sub(s); d != s {
		t.Errorf("Sub: %+v, want %+v", d, s)
	}
	if d := s.Sub(total); d.Count() != 0 || d.Sum != 0 {
		t.Errorf("Sub of a larger snapshot: %+v, want empty", d)
	}
}

func TestStageQuantile(t *testing.T) {
	var h StageHistogram
	if q := h.Snapshot().Quantile(0.5); q != 0 {
		t.Fatalf("empty: %s", q)
	}
	// 100 observations in (10, 15] ms: the median interpolates to 12.5.
	for range 100 {
		h.Observe(12 * time.Millisecond)
	}
	s := h.Snapshot()
	if q := s.Quantile(0.5); q != 12500*time.Microsecond {
		t.Errorf("p50 %s, want 12.5ms", q)
	}
	if q := s.Quantile(1); q != 15*time.Millisecond {
		t.Errorf("p100 %s, want the bucket's bound 15ms", q)
	}
	if q := s.Quantile(math.NaN()); q != 0 {
		t.Errorf("NaN quantile %s", q)
	}
	h.Observe(time.Hour)
	if q := h.Snapshot().Quantile(1); q != time.Second {
		t.Errorf("above the last bound: %s, want 1s", q)
	}
}

func TestStageObserveAllocates(t *testing.T) {
	var h StageHistogram
	if n := testing.AllocsPerRun(100, func() { h.Observe(3 * time.Millisecond) }); n != 0 {
		t.Errorf("Observe allocates %.0f times", n)
	}
}
