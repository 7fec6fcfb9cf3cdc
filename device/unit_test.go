package device

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
)

func TestNextBitRate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		est       []int
		last      int
		want      int
		wantApply bool
	}{
		{"no estimates", nil, 0, 0, false},
		{"lowest wins", []int{3_000_000, 1_000_000, 2_000_000}, 0, 1_000_000, true},
		{"zeros ignored", []int{0, -5, 900_000}, 0, 900_000, true},
		{"clamped low", []int{10_000}, 0, 150_000, true},
		{"clamped high", []int{50_000_000}, 0, 8_000_000, true},
		{"within 5% kept", []int{1_030_000}, 1_000_000, 1_000_000, false},
		{"moved 10%", []int{1_100_000}, 1_000_000, 1_100_000, true},
	} {
		got, ok := NextBitRate(tc.est, tc.last, 150_000, 8_000_000)
		if got != tc.want || ok != tc.wantApply {
			t.Errorf("%s: NextBitRate(%v, %d) = %d, %v; want %d, %v", tc.name, tc.est, tc.last, got, ok, tc.want, tc.wantApply)
		}
	}
}

func TestLimiterMergesRequests(t *testing.T) {
	var calls atomic.Int64
	l := newLimiter(time.Hour, func() { calls.Add(1) })
	defer l.close()
	for range 100 {
		l.request()
	}
	// The first request goes through at once; the other 99 merge into one
	// call at the end of the hour, which close drops.
	if n := calls.Load(); n != 1 {
		t.Fatalf("fn ran %d times, want 1", n)
	}
	if l.asked.Load() != 100 || l.sent.Load() != 1 {
		t.Fatalf("asked %d, sent %d", l.asked.Load(), l.sent.Load())
	}
}

func TestLimiterRunsTheMergedCallAtTheIntervalsEnd(t *testing.T) {
	var calls atomic.Int64
	l := newLimiter(20*time.Millisecond, func() { calls.Add(1) })
	defer l.close()
	l.request()
	l.request()
	l.request()
	testutil.Eventually(t, "the merged call", 10*time.Second, func() bool { return calls.Load() == 2 })
	if l.sent.Load() != 2 {
		t.Fatalf("sent %d", l.sent.Load())
	}
}

func TestLimiterClosedDropsThePlannedCall(t *testing.T) {
	var calls atomic.Int64
	l := newLimiter(10*time.Millisecond, func() { calls.Add(1) })
	l.request()
	l.request() // planned
	l.close()
	l.request() // after close: nothing
	time.Sleep(50 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("fn ran %d times after close, want 1", n)
	}
}
