package rtc

import (
	"errors"
	"net/http"
)

// Error is a sentinel error of this package that carries the HTTP status an
// API should answer with. Match it with errors.Is; read the status with
// StatusCode.
type Error struct {
	msg    string
	status int
}

// Error returns the message.
func (e *Error) Error() string { return e.msg }

// Status returns the HTTP status code that goes with the error.
func (e *Error) Status() int { return e.status }

func newError(status int, msg string) *Error { return &Error{msg: msg, status: status} }

// Errors. Wrap them with fmt.Errorf("%w: ...") to add detail; StatusCode
// still finds the status.
var (
	// ErrUnknownDevice is returned for a device the provider does not know.
	ErrUnknownDevice = newError(http.StatusNotFound, "rtc: unknown device")
	// ErrBadOffer is returned for an offer that is not a usable SDP offer
	// with a video m-line, before any resource is allocated.
	ErrBadOffer = newError(http.StatusBadRequest, "rtc: bad offer")
	// ErrBadCandidate is returned for a malformed ICE candidate or SDP
	// fragment.
	ErrBadCandidate = newError(http.StatusBadRequest, "rtc: bad ICE candidate")
	// ErrSessionNotFound is returned for a session ID that does not exist
	// (or no longer does).
	ErrSessionNotFound = newError(http.StatusNotFound, "rtc: session not found")
	// ErrTooManySessions is returned when a user already has
	// Config.MaxSessionsPerUser sessions.
	ErrTooManySessions = newError(http.StatusTooManyRequests, "rtc: too many sessions for this user")
	// ErrCodecUnsupported is returned when the offer cannot receive the
	// device's codec (an H.264 device and an offer with VP8 only, say).
	ErrCodecUnsupported = newError(http.StatusNotAcceptable, "rtc: the offer cannot receive the device's codec")
	// ErrBadRequest is returned for a malformed request (an invalid device
	// or user ID).
	ErrBadRequest = newError(http.StatusBadRequest, "rtc: bad request")
	// ErrNotController is returned by Feed.Input when another viewer
	// controls the device.
	ErrNotController = newError(http.StatusConflict, "rtc: another viewer controls this device")
	// ErrClosed is returned by a closed Manager or Broadcaster.
	ErrClosed = newError(http.StatusServiceUnavailable, "rtc: closed")
)

// StatusCode returns the HTTP status for err: the status of the first
// *Error in its chain, 200 for nil, and 500 for anything else.
func StatusCode(err error) int {
	if err == nil {
		return http.StatusOK
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.status
	}
	return http.StatusInternalServerError
}
