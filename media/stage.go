package media

import (
	"math"
	"sync/atomic"
	"time"
)

// Stages of a unit's way from the device to the viewer, as the service
// measures them (media_service_stage_latency_seconds).
const (
	// StageCapture: the picture (pass-through: the access unit's last
	// byte) arrived from the device → the unit was framed and handed to
	// its output (pass-through), or the picture handed to the encoder.
	StageCapture = "capture"
	// StageEncode: the picture handed to the encoder → its unit out (the
	// encoder's queue included).
	StageEncode = "encode"
	// StageQueue: the unit handed to the fan-out → a viewer's writer took
	// it from the viewer's queue.
	StageQueue = "queue"
	// StageSend: the viewer's writer took the unit → its RTP packets were
	// written.
	StageSend = "send"
)

// StageBuckets are the upper bounds of the stage histograms.
var StageBuckets = [NumStageBuckets]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond,
	5 * time.Millisecond, 7500 * time.Microsecond, 10 * time.Millisecond, 15 * time.Millisecond,
	20 * time.Millisecond, 30 * time.Millisecond, 50 * time.Millisecond, 75 * time.Millisecond,
	100 * time.Millisecond, 150 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second,
}

// NumStageBuckets is the number of StageBuckets.
const NumStageBuckets = 17

// StageHistogram is a latency histogram over StageBuckets, kept with
// atomics only: Observe takes no lock and allocates nothing. The zero
// value is ready for use; it must not be copied after first use.
type StageHistogram struct {
	counts [NumStageBuckets + 1]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// Observe records one duration; a negative one (clocks disagreeing)
// counts as zero.
func (h *StageHistogram) Observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < NumStageBuckets && d > StageBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot returns the histogram's counts. Counts taken while Observe
// runs may miss that one observation's sum or count, never more.
func (h *StageHistogram) Snapshot() StageSnapshot {
	var s StageSnapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// StageSnapshot is a copy of a StageHistogram: Counts[i] counts the
// durations in (StageBuckets[i-1], StageBuckets[i]]; the last entry those
// above the last bound. Sum is their total.
type StageSnapshot struct {
	Counts [NumStageBuckets + 1]uint64
	Sum    time.Duration
}

// Count is the number of durations recorded.
func (s StageSnapshot) Count() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Add adds o's counts to s.
func (s *StageSnapshot) Add(o StageSnapshot) {
	for i := range s.Counts {
		s.Counts[i] += o.Counts[i]
	}
	s.Sum += o.Sum
}

// Sub returns s less an earlier snapshot of the same histogram: what was
// recorded in between.
func (s StageSnapshot) Sub(earlier StageSnapshot) StageSnapshot {
	for i := range s.Counts {
		s.Counts[i] -= min(s.Counts[i], earlier.Counts[i])
	}
	s.Sum -= min(s.Sum, earlier.Sum)
	return s
}

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) by linear interpolation
// inside the bucket that holds it, as Prometheus' histogram_quantile does;
// one above the last bound is given as the last bound. It returns 0 for
// an empty histogram.
func (s StageSnapshot) Quantile(q float64) time.Duration {
	n := s.Count()
	if n == 0 || math.IsNaN(q) {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(n)
	var cum uint64
	for i, c := range s.Counts {
		if c == 0 || float64(cum+c) < rank {
			cum += c
			continue
		}
		if i == NumStageBuckets {
			return StageBuckets[NumStageBuckets-1]
		}
		lo := time.Duration(0)
		if i > 0 {
			lo = StageBuckets[i-1]
		}
		hi := StageBuckets[i]
		frac := (rank - float64(cum)) / float64(c)
		return lo + time.Duration(frac*float64(hi-lo))
	}
	return StageBuckets[NumStageBuckets-1]
}
