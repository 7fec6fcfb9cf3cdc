package encoder

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are a pipeline's or a pool's counters, safe for concurrent use.
type Stats struct {
	framesIn, framesOut              atomic.Int64
	droppedStale, droppedWrite       atomic.Int64
	droppedQueue, droppedError       atomic.Int64
	encodingTimeouts, encodingErrors atomic.Int64
	encoderSwitches                  atomic.Int64

	mu      sync.Mutex
	lat     [1024]time.Duration // ring of recent encode latencies
	latN    int
	latSum  time.Duration
	buckets [numBuckets + 1]int64
}

const numBuckets = 8

// LatencyBuckets are the upper bounds of the encode-latency histogram
// (numBuckets of them).
var LatencyBuckets = [numBuckets]time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
}

func (s *Stats) observe(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lat[s.latN%len(s.lat)] = d
	s.latN++
	s.latSum += d
	i, _ := slices.BinarySearch(LatencyBuckets[:], d)
	s.buckets[i]++
}

// Snapshot is a copy of the counters.
type Snapshot struct {
	FramesIn, FramesOut int64
	// Dropped counts frames dropped, by reason: "stale" (a newer frame
	// replaced it), "write_timeout" (the consumer did not take the output
	// in time), "queue_full" (a pool queue was full), "encode_error".
	Dropped          map[string]int64
	EncodingTimeouts int64
	EncodingErrors   int64
	EncoderSwitches  int64
	// Latency quantiles over the last 1024 encodes.
	LatencyP50, LatencyP99 time.Duration
	// LatencyBuckets counts encodes per LatencyBuckets bound; the last
	// entry counts the ones above the last bound. LatencySum is the total
	// time of all encodes.
	LatencyBuckets []int64
	LatencySum     time.Duration
}

// Snapshot returns the counters.
func (s *Stats) Snapshot() Snapshot {
	snap := Snapshot{
		FramesIn:  s.framesIn.Load(),
		FramesOut: s.framesOut.Load(),
		Dropped: map[string]int64{
			"stale":         s.droppedStale.Load(),
			"write_timeout": s.droppedWrite.Load(),
			"queue_full":    s.droppedQueue.Load(),
			"encode_error":  s.droppedError.Load(),
		},
		EncodingTimeouts: s.encodingTimeouts.Load(),
		EncodingErrors:   s.encodingErrors.Load(),
		EncoderSwitches:  s.encoderSwitches.Load(),
	}
	s.mu.Lock()
	n := min(s.latN, len(s.lat))
	recent := slices.Clone(s.lat[:n])
	snap.LatencyBuckets = slices.Clone(s.buckets[:])
	snap.LatencySum = s.latSum
	s.mu.Unlock()
	if n > 0 {
		slices.Sort(recent)
		snap.LatencyP50 = recent[n/2]
		snap.LatencyP99 = recent[min(n-1, n*99/100)]
	}
	return snap
}
