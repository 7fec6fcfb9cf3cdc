package device

import (
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/media"
)

// stageClock is the clock of the capture and encode stages; tests replace
// it.
var stageClock = time.Now

// StageStats are a device's stage histograms (media.StageCapture,
// StageEncode, StageQueue and StageSend) and the units its viewers
// skipped, its outputs' summed, those of the outputs that stopped
// included: they never go down while the device runs. For metrics only.
type StageStats struct {
	Capture media.StageSnapshot
	Encode  media.StageSnapshot
	Queue   media.StageSnapshot
	Send    media.StageSnapshot
	// ViewerDrops are the units viewers skipped to catch up
	// (fanout.Stats.Dropped).
	ViewerDrops uint64
}

// add adds o's counts to s.
func (s *StageStats) add(o StageStats) {
	s.Capture.Add(o.Capture)
	s.Encode.Add(o.Encode)
	s.Queue.Add(o.Queue)
	s.Send.Add(o.Send)
	s.ViewerDrops += o.ViewerDrops
}

// captureEpoch is when the device's capture source started: a picture's
// PTS counts from it, so epoch + PTS is when the picture arrived. Set
// just before the source's Run, which takes its own start a moment later.
type captureEpoch struct{ ns atomic.Int64 }

func (e *captureEpoch) start(t time.Time) { e.ns.Store(t.UnixNano()) }

// at returns when the picture of pts arrived; false when unknown.
func (e *captureEpoch) at(pts time.Duration) (time.Time, bool) {
	ns := e.ns.Load()
	if ns == 0 || pts < 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns).Add(pts), true
}

// fedTimes remembers when the latest pictures went to an output's
// encoder, by PTS (in the encoder's microseconds), so that the unit the
// encoder makes of one can tell its encode stage. One writer (under the
// sink's lock), any reader; a slot overwritten under a reader is seen as
// a miss.
type fedTimes struct {
	slots [64]struct {
		key atomic.Int64 // PTS in µs + 1; 0: empty
		at  atomic.Int64 // Unix ns
	}
}

func fedSlot(key int64) int { return int(uint64(key) * 0x9E3779B97F4A7C15 >> 58) }

// put notes that the picture of pts went to the encoder at at.
func (t *fedTimes) put(pts time.Duration, at time.Time) {
	k := int64(pts/time.Microsecond) + 1
	s := &t.slots[fedSlot(k)]
	s.key.Store(0)
	s.at.Store(at.UnixNano())
	s.key.Store(k)
}

// get returns when the picture of pts went to the encoder.
func (t *fedTimes) get(pts time.Duration) (time.Time, bool) {
	k := int64(pts/time.Microsecond) + 1
	s := &t.slots[fedSlot(k)]
	if s.key.Load() != k {
		return time.Time{}, false
	}
	at := s.at.Load()
	if s.key.Load() != k {
		return time.Time{}, false
	}
	return time.Unix(0, at), true
}

// newStageTally returns the sum of a device's outputs' stage histograms.
func newStageTally() *media.Tally[*output, StageStats] {
	return media.NewTally[*output](func(sum *StageStats, more StageStats) { sum.add(more) })
}

// stages returns the device's stage histograms: its outputs' summed, and
// those of the outputs that stopped.
func (d *Device) stages() StageStats { return d.tally.Sum() }

// stages returns the output's stage histograms, lock-free.
func (o *output) stages() StageStats {
	s := StageStats{Capture: o.captureLat.Snapshot(), Encode: o.encodeLat.Snapshot(), ViewerDrops: o.b.Dropped()}
	s.Queue, s.Send = o.b.Stages()
	return s
}
