package rtc

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/cloudphone/media-service/media"
)

// Error is a sentinel error of this package that carries the HTTP status an
// API should answer with. Match it with errors.Is; read the status with
// StatusCode.
type Error struct {
	msg    string
	status int
	// kind, if set, is a broader sentinel this one is a case of
	// (ErrBadOffer is an ErrBadRequest): errors.Is matches both.
	kind *Error
}

// Error returns the message.
func (e *Error) Error() string { return e.msg }

// Status returns the HTTP status code that goes with the error.
func (e *Error) Status() int { return e.status }

// Is reports whether e is a case of target: ErrBadOffer and
// ErrBadCandidate are cases of ErrBadRequest.
func (e *Error) Is(target error) bool {
	for k := e.kind; k != nil; k = k.kind {
		if k == target {
			return true
		}
	}
	return false
}

func newError(status int, msg string) *Error { return &Error{msg: msg, status: status} }

// Errors. Wrap them with fmt.Errorf("%w: ...") to add detail; StatusCode
// still finds the status.
var (
	// ErrBadRequest is returned for a malformed request (an invalid device,
	// user or token name). ErrBadOffer and ErrBadCandidate are cases of
	// it: errors.Is(err, ErrBadRequest) holds for them too.
	ErrBadRequest = newError(http.StatusBadRequest, "rtc: bad request")
	// ErrUnknownDevice is returned for a device the provider does not
	// know (media.ErrUnknownDevice: 404).
	ErrUnknownDevice = media.ErrUnknownDevice
	// ErrBadOffer is returned for an offer that is not a usable SDP offer
	// (a video m-line that can receive, well-formed ICE credentials and
	// DTLS fingerprints, mids), before any resource is allocated. It is a
	// case of ErrBadRequest.
	ErrBadOffer = &Error{msg: "rtc: bad offer", status: http.StatusBadRequest, kind: ErrBadRequest}
	// ErrBadCandidate is returned for a malformed ICE candidate or SDP
	// fragment. It is a case of ErrBadRequest.
	ErrBadCandidate = &Error{msg: "rtc: bad ICE candidate", status: http.StatusBadRequest, kind: ErrBadRequest}
	// ErrSessionNotFound is returned for a session ID that does not exist
	// (or no longer does).
	ErrSessionNotFound = newError(http.StatusNotFound, "rtc: session not found")
	// ErrTooManySessions is returned when a user already has
	// Config.MaxSessionsPerUser sessions under the same token; the error
	// Create returns is a *LimitError (Limit LimitSessionsPerUser) that
	// matches it.
	ErrTooManySessions = newError(http.StatusTooManyRequests, "rtc: too many sessions for this user")
	// ErrLimit is matched by every *LimitError: a session refused because
	// a bound of Config was reached.
	ErrLimit = newError(http.StatusServiceUnavailable, "rtc: limit reached")
	// ErrUnavailable is returned when the service cannot serve a session
	// now, though the request was good: no ICE candidate could be
	// gathered (the ICE UDP port range is exhausted, say). The service
	// also uses it while it drains. An API answers 503 with Retry-After.
	ErrUnavailable = newError(http.StatusServiceUnavailable, "rtc: unavailable")
	// ErrCodecUnsupported is returned when the offer cannot receive the
	// device's codec (an H.264 device and an offer with VP8 only, say).
	// (media.ErrCodecUnsupported: 406).
	ErrCodecUnsupported = media.ErrCodecUnsupported
	// ErrNotController is returned by Feed.Input when another viewer
	// controls the device (media.ErrNotController: 409).
	ErrNotController = media.ErrNotController
	// ErrClosed is returned by a closed Manager, and by a provider that
	// was closed (media.ErrClosed: 503).
	ErrClosed = media.ErrClosed
)

// Names of the limits a LimitError reports, as the service's environment
// variables name them.
const (
	LimitSessions         = "MAX_SESSIONS"           // Config.MaxSessions
	LimitViewersPerDevice = "MAX_VIEWERS_PER_DEVICE" // Config.MaxViewersPerDevice
	LimitSessionsPerToken = "MAX_SESSIONS_PER_TOKEN" // Config.MaxSessionsPerToken
	LimitSessionsPerUser  = "MAX_SESSIONS_PER_USER"  // Config.MaxSessionsPerUser
	LimitTokenMaxSessions = "max_sessions"           // CreateRequest.MaxTokenSessions: a signed token's claim
)

// LimitError refuses a session because one of Config's bounds is
// reached. It matches ErrLimit (and, for LimitSessionsPerUser,
// ErrTooManySessions). Its status is 503 Service Unavailable, but 429 Too
// Many Requests for LimitSessionsPerUser and LimitTokenMaxSessions; an API
// answers either with Retry-After and may name Limit in its body.
type LimitError struct {
	// Limit names the bound: LimitSessions, LimitViewersPerDevice,
	// LimitSessionsPerToken, LimitSessionsPerUser or LimitTokenMaxSessions.
	Limit string
	// Max is the bound's value.
	Max int
}

// Error says which limit was reached, as in "MAX_SESSIONS (1000) reached:
// the service takes no more sessions now".
func (e *LimitError) Error() string {
	why := "no more sessions now"
	switch e.Limit {
	case LimitSessions:
		why = "the service takes no more sessions now"
	case LimitViewersPerDevice:
		why = "the device takes no more viewers now"
	case LimitSessionsPerToken:
		why = "this token holds as many sessions as it may"
	case LimitSessionsPerUser:
		why = "this user holds as many sessions as it may"
	case LimitTokenMaxSessions:
		why = "the signed token's subject holds as many sessions as its token allows"
	}
	return fmt.Sprintf("%s (%d) reached: %s", e.Limit, e.Max, why)
}

// Status returns the HTTP status: 429 for LimitSessionsPerUser and
// LimitTokenMaxSessions (the caller's own bounds), else 503.
func (e *LimitError) Status() int {
	if e.Limit == LimitSessionsPerUser || e.Limit == LimitTokenMaxSessions {
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// Is matches ErrLimit, and ErrTooManySessions for LimitSessionsPerUser.
func (e *LimitError) Is(target error) bool {
	return target == ErrLimit || (target == ErrTooManySessions && e.Limit == LimitSessionsPerUser)
}

// statusError is an error of this package that knows its HTTP status
// (*Error, *LimitError).
type statusError interface {
	error
	Status() int
	rtcStatus()
}

func (*Error) rtcStatus()      {}
func (*LimitError) rtcStatus() {}

// mediaStatus are the statuses of the shared errors of package media that
// a provider returns.
var mediaStatus = []struct {
	err    error
	status int
}{
	{media.ErrUnknownDevice, http.StatusNotFound},
	{media.ErrCodecUnsupported, http.StatusNotAcceptable},
	{media.ErrNotController, http.StatusConflict},
	{media.ErrClosed, http.StatusServiceUnavailable},
	{media.ErrUnavailable, http.StatusServiceUnavailable},
	{media.ErrInvalidDeviceID, http.StatusBadRequest},
	{media.ErrInvalidUserID, http.StatusBadRequest},
}

// StatusCode returns the HTTP status for err: the status of the first error
// of this package in its chain (*Error, *LimitError), else that of a shared
// error of package media it wraps (404 for media.ErrUnknownDevice, ...),
// 200 for nil, and 500 for anything else.
func StatusCode(err error) int {
	if err == nil {
		return http.StatusOK
	}
	if e, ok := errors.AsType[statusError](err); ok {
		return e.Status()
	}
	for _, m := range mediaStatus {
		if errors.Is(err, m.err) {
			return m.status
		}
	}
	return http.StatusInternalServerError
}
