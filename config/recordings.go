package config

import (
	"errors"
	"fmt"
	"time"
)

// validRecordings checks the recordings' settings (RECORDINGS_DIR,
// RECORDING_SEGMENT, RECORDING_MAX_DURATION, MAX_RECORDINGS,
// RECORDINGS_MAX_AGE). The directory is created, and its errors
// reported, where the recordings start (package recording).
func (c Config) validRecordings() error {
	var errs []error
	if c.RecordingsDir == "" {
		errs = append(errs, fmt.Errorf("%w: RECORDINGS_DIR is empty (want a directory for the recordings; MAX_RECORDINGS=0 turns recording off)", ErrInvalid))
	}
	if c.RecordingSegment < time.Second || c.RecordingSegment > 24*time.Hour {
		errs = append(errs, fmt.Errorf("%w: RECORDING_SEGMENT=%v (want 1s..24h)", ErrInvalid, c.RecordingSegment))
	}
	if d := c.RecordingMaxDuration; d != 0 && (d < time.Second || d > 30*24*time.Hour) {
		errs = append(errs, fmt.Errorf("%w: RECORDING_MAX_DURATION=%v (want 0 for no bound, or 1s..720h)", ErrInvalid, d))
	}
	if c.MaxRecordings < 0 || c.MaxRecordings > 1000 {
		errs = append(errs, fmt.Errorf("%w: MAX_RECORDINGS=%d (want 0..1000; 0 turns recording off)", ErrInvalid, c.MaxRecordings))
	}
	if d := c.RecordingsMaxAge; d != 0 && (d < time.Minute || d > 10*365*24*time.Hour) {
		errs = append(errs, fmt.Errorf("%w: RECORDINGS_MAX_AGE=%v (want 0 to keep recordings, or 1m..87600h)", ErrInvalid, d))
	}
	return errors.Join(errs...)
}
