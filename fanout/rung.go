package fanout

import (
	"fmt"
	"time"

	"github.com/cloudphone/media-service/media"
)

// Rung is one quality rung of a device: its picture at Scale of the
// device's size (rung 0 is the full picture), encoded at a rate between
// MinBitRate and MaxBitRate. Viewers of one device share one encode per
// (codec, rung).
type Rung struct {
	Scale                  float64
	MinBitRate, MaxBitRate int
}

// Rung switching thresholds (hysteresis): a viewer moves down one rung
// when its bandwidth estimate stayed below its rung's minimum for
// RungDownAfter, and up one rung when its estimate stayed at or above
// RungUpFactor times the upper rung's minimum for RungUpAfter. Going down
// is quick (a congested viewer stalls otherwise); going up waits longer and
// needs headroom, so that an estimate hovering at a boundary does not flap.
const (
	RungDownAfter = 2 * time.Second
	RungUpAfter   = 5 * time.Second
	RungUpFactor  = 1.5
)

// Rungs turns the scales of VIDEO_RUNGS into rungs within minBPS..maxBPS:
// rung i reaches up to maxBPS×scale² (the rate grows with the pixels) and
// down to an eighth of that; the last rung goes down to minBPS. With the
// defaults (1, 0.5; 150 kb/s..8 Mb/s): rung 0 is 1–8 Mb/s at full size,
// rung 1 is 0.15–2 Mb/s at half size.
func Rungs(scales []float64, minBPS, maxBPS int) []Rung {
	if len(scales) == 0 {
		scales = []float64{1}
	}
	out := make([]Rung, len(scales))
	for i, s := range scales {
		hi := max(minBPS, int(float64(maxBPS)*s*s))
		lo := max(minBPS, hi/8)
		if i == len(scales)-1 {
			lo = minBPS
		}
		out[i] = Rung{Scale: s, MinBitRate: lo, MaxBitRate: hi}
	}
	return out
}

// Size returns the picture size of the rung for a device picture of size
// full: scaled, rounded down to even numbers, at least 2x2.
func (r Rung) Size(full media.Size) media.Size {
	if r.Scale >= 1 {
		return full
	}
	even := func(v int) int { return max(2, int(float64(v)*r.Scale)&^1) }
	return media.Size{Width: even(full.Width), Height: even(full.Height)}
}

func (r Rung) String() string {
	return fmt.Sprintf("x%.2g %d-%d b/s", r.Scale, r.MinBitRate, r.MaxBitRate)
}

// Selector picks one viewer's rung from its bandwidth estimates, with
// hysteresis (see RungDownAfter). Rungs are the rungs it moves between,
// Cur the one it is on. It is used by one goroutine at a time.
type Selector struct {
	Rungs     []Rung
	Cur       int
	downSince time.Time // when the estimate went below cur's minimum; zero if it is not
	upSince   time.Time // when it went above the upper rung's threshold; zero if it is not
}

// Observe notes an estimate at now and returns the rung the viewer
// should be on, and whether that is a change.
func (s *Selector) Observe(bps int, now time.Time) (int, bool) {
	if len(s.Rungs) < 2 || bps <= 0 {
		return s.Cur, false
	}
	down := s.Cur < len(s.Rungs)-1 && bps < s.Rungs[s.Cur].MinBitRate
	up := s.Cur > 0 && float64(bps) >= RungUpFactor*float64(s.Rungs[s.Cur-1].MinBitRate)
	s.downSince = since(s.downSince, down, now)
	s.upSince = since(s.upSince, up, now)
	switch {
	case down && now.Sub(s.downSince) >= RungDownAfter:
		s.Cur++
	case up && now.Sub(s.upSince) >= RungUpAfter:
		s.Cur--
	default:
		return s.Cur, false
	}
	s.downSince, s.upSince = time.Time{}, time.Time{}
	return s.Cur, true
}

// since keeps the start of a condition that holds, or clears it.
func since(start time.Time, holds bool, now time.Time) time.Time {
	switch {
	case !holds:
		return time.Time{}
	case start.IsZero():
		return now
	}
	return start
}
