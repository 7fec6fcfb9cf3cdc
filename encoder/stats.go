package encoder

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// counter names one of the Stats counters.
type counter int

const (
	cFramesIn counter = iota
	cFramesOut
	cDroppedStale
	cDroppedWrite
	cDroppedQueue
	cDroppedError
	cDroppedNoEncoder
	cTimeouts
	cErrors
	cReplacedTimeout
	cReplacedError
	cReopened
	cRestarts
	cStalls
	cAbandoned
	numCounters
)

// Stats are one stream's counters, or a pool's: a stream's Stats may have
// a parent (its pool's) that every count also goes to. Safe for
// concurrent use.
type Stats struct {
	c      [numCounters]atomic.Int64
	parent *Stats

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

// add counts n on s and its parents.
func (s *Stats) add(c counter, n int64) {
	for ; s != nil; s = s.parent {
		s.c[c].Add(n)
	}
}

func (s *Stats) inc(c counter) { s.add(c, 1) }

func (s *Stats) observe(d time.Duration) {
	for ; s != nil; s = s.parent {
		s.mu.Lock()
		s.lat[s.latN%len(s.lat)] = d
		s.latN++
		s.latSum += d
		i, _ := slices.BinarySearch(LatencyBuckets[:], d)
		s.buckets[i]++
		s.mu.Unlock()
	}
}

// Snapshot is a copy of the counters.
type Snapshot struct {
	FramesIn, FramesOut int64
	// Dropped counts frames dropped, by reason: "stale" (a newer frame
	// replaced it), "write_timeout" (the consumer did not take the output
	// in time), "queue_full" (a pool queue was full), "encode_error" (the
	// encoder failed or hung on it), "no_encoder" (no encoder was open:
	// recovery was waiting out its back-off).
	Dropped map[string]int64
	// EncodingTimeouts counts encodes that exceeded the encode timeout;
	// EncodingErrors encodes that failed.
	EncodingTimeouts int64
	EncodingErrors   int64
	// Replacements counts encoders replaced, by cause: "timeout" (hung)
	// or "error" (failed). EncoderSwitches is their sum.
	Replacements    map[string]int64
	EncoderSwitches int64
	// Reopened counts encoders reopened at a new frame size.
	Reopened int64
	// Restarts counts recoveries that started the fallback chain over from
	// its best candidate after every candidate had failed.
	Restarts int64
	// ProcessStalls counts encodes that overran the timeout while the
	// whole process was frozen; those were not blamed on the encoder.
	ProcessStalls int64
	// Abandoned counts hung encoders abandoned (left to finish on their
	// own goroutine).
	Abandoned int64
	// Latency quantiles over the last 1024 encodes.
	LatencyP50, LatencyP99 time.Duration
	// LatencyBuckets counts encodes per LatencyBuckets bound; the last
	// entry counts the ones above the last bound. LatencySum is the total
	// time of all encodes.
	LatencyBuckets []int64
	LatencySum     time.Duration
}

// DropReasons are the keys of Snapshot.Dropped.
var DropReasons = []string{"stale", "write_timeout", "queue_full", "encode_error", "no_encoder"}

// ReplacementCauses are the keys of Snapshot.Replacements.
var ReplacementCauses = []string{"timeout", "error"}

// Snapshot returns the counters.
func (s *Stats) Snapshot() Snapshot {
	get := func(c counter) int64 { return s.c[c].Load() }
	snap := Snapshot{
		FramesIn:  get(cFramesIn),
		FramesOut: get(cFramesOut),
		Dropped: map[string]int64{
			"stale":         get(cDroppedStale),
			"write_timeout": get(cDroppedWrite),
			"queue_full":    get(cDroppedQueue),
			"encode_error":  get(cDroppedError),
			"no_encoder":    get(cDroppedNoEncoder),
		},
		EncodingTimeouts: get(cTimeouts),
		EncodingErrors:   get(cErrors),
		Replacements:     map[string]int64{"timeout": get(cReplacedTimeout), "error": get(cReplacedError)},
		EncoderSwitches:  get(cReplacedTimeout) + get(cReplacedError),
		Reopened:         get(cReopened),
		Restarts:         get(cRestarts),
		ProcessStalls:    get(cStalls),
		Abandoned:        get(cAbandoned),
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
