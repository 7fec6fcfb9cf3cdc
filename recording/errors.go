package recording

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/cloudphone/media-service/media"
)

var (
	// ErrRunning refuses a start while the device has a recording
	// running here.
	ErrRunning = errors.New("recording: a recording of this device is running")
	// ErrNotFound is a recording, segment or running recording that is
	// not there.
	ErrNotFound = errors.New("recording: no such recording")
	// ErrLimit refuses a start over Options.MaxRecordings. It is a
	// media.ErrUnavailable (503).
	ErrLimit = fmt.Errorf("%w: recording: MAX_RECORDINGS reached", media.ErrUnavailable)
	// ErrClosed refuses a start once the recorder is closed (the service
	// stops). It is a media.ErrUnavailable.
	ErrClosed = fmt.Errorf("%w: recording: the recorder is closed", media.ErrUnavailable)
	// ErrStorage wraps the errors of the recordings' directory and files:
	// one that cannot be created or written (a full disk, no permission).
	ErrStorage = errors.New("recording: storage")
)

// Failure reasons (Metrics.Failure, Info.Reason of a failed recording).
const (
	// ReasonDiskFull: a write failed for want of space (ENOSPC, EDQUOT).
	ReasonDiskFull = "disk_full"
	// ReasonPermission: the directory or a file could not be created or
	// written: no permission, a read-only file system.
	ReasonPermission = "permission"
	// ReasonIO: any other error of the files.
	ReasonIO = "io"
	// ReasonStream: the stream could not be muxed (a keyframe whose SPS
	// does not parse, a muxer that refuses it).
	ReasonStream = "stream"
	// ReasonDeviceGone: the device stopped running here (its pod went
	// away, another instance took it, it was stopped).
	ReasonDeviceGone = "device_gone"
	// ReasonInterrupted: found recording at start: the process ended
	// without ending the recording (a crash, SIGKILL).
	ReasonInterrupted = "interrupted"
)

// End reasons of a recording that did not fail (Info.Reason).
const (
	// ReasonStopped: Stop (the API's DELETE) ended it.
	ReasonStopped = "stopped"
	// ReasonMaxDuration: it reached Options.MaxDuration.
	ReasonMaxDuration = "max_duration"
	// ReasonShutdown: the recorder closed (the service stopped).
	ReasonShutdown = "shutdown"
)

// FailureReasons are the reasons Metrics.Failure counts, for metrics to
// start at zero.
var FailureReasons = []string{ReasonDiskFull, ReasonPermission, ReasonIO, ReasonStream, ReasonDeviceGone}

// storageReason classifies an error of the files.
func storageReason(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return ReasonDiskFull
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS), errors.Is(err, syscall.ENOTDIR):
		return ReasonPermission
	}
	return ReasonIO
}

// storageError is an error of the files: it is an ErrStorage and keeps
// its cause.
type storageError struct{ err error }

func (e *storageError) Error() string   { return e.err.Error() }
func (e *storageError) Unwrap() []error { return []error{ErrStorage, e.err} }

func storage(err error) error {
	if err == nil {
		return nil
	}
	return &storageError{err}
}
