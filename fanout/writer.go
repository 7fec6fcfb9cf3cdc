package fanout

import (
	"time"

	"github.com/cloudphone/media-service/media"
)

// Sample is a unit as a reader hands it to its Writer.
type Sample struct {
	Unit media.Unit
	// Duration is how long the unit shows: the PTS difference to the
	// reader's previous unit, else the unit's own duration, else 1/30 s;
	// a difference beyond a second (a pause on a still screen, a skip)
	// counts as one frame.
	Duration time.Duration
	// Arrived is when the unit reached the Stream.
	Arrived time.Time
}

// Writer takes one reader's samples, from the reader's goroutine only.
// A protocol implements it (rtc: a track's WriteSample).
type Writer interface {
	WriteSample(Sample) error
}

// WriterFunc is a function that is a Writer.
type WriterFunc func(Sample) error

// WriteSample calls f.
func (f WriterFunc) WriteSample(s Sample) error { return f(s) }
