package api

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// Deps are the components the routes serve from. A nil field leaves its
// routes answering 503.
type Deps struct {
	// Devices lists the devices: serial, state, model, and for devices in
	// use their size, capture mode and viewers.
	Devices func(ctx context.Context) ([]DeviceView, error)
	// Encoders returns the encoder probe results.
	Encoders func(ctx context.Context) []EncoderView
	// Stats returns per-device pipeline statistics and the sessions.
	Stats func() StatsResponse
	// Sessions creates and ends WebRTC sessions.
	Sessions Sessions
	// ErrorStatus maps a Sessions error to an HTTP status (400 for a bad
	// offer, 404 for an unknown device, 503 over a limit, ...); nil maps
	// everything to 500. A 503 is sent with Retry-After.
	ErrorStatus func(error) int
	// Metrics are served on /metrics beside the Go and process collectors.
	Metrics []prometheus.Collector
	// ICEServers returns the STUN and TURN servers for a viewer (GET
	// /api/media/ice-servers, and the Link headers of a WHEP answer), TURN
	// with credentials for user (the caller's token name, "anonymous"
	// without one): derived afresh at every call with TURN_SECRET.
	ICEServers func(user string) []ICEServer
	// Files puts files on devices and installs apps (files.go); nil: those
	// routes answer 503. FileMetrics, when set, counts what they do.
	Files       Files
	FileMetrics FileMetrics
	// Fleet, in a fleet of instances, sends each session request to the
	// instance that serves the device or session (fleet.go); nil: this
	// instance serves every request itself.
	Fleet Fleet
	// Screenshot takes a screenshot of a device (GET
	// /api/media/devices/:id/screenshot); its errors go through
	// ErrorStatus. The API has checked that the caller may open the
	// device. nil: that route answers 503.
	Screenshot func(ctx context.Context, deviceID string, req ScreenshotRequest) (Screenshot, error)
	// Recordings records devices (recordings.go); its errors beyond its
	// own go through ErrorStatus. nil: those routes answer 503.
	Recordings Recordings
}

// Sessions is the session manager as the API sees it.
type Sessions interface {
	// Create answers an SDP offer for a viewer of a device. The answer
	// carries the server's candidates (it waits for ICE gathering); the
	// client may trickle its own with AddCandidate. The caller is who
	// asks (also in ctx, CallerFrom): a ViewOnly caller gets no input and
	// no control, and the caller's Principal is what per-token limits
	// count. The API has checked that the caller may open the device.
	Create(ctx context.Context, caller Caller, deviceID, userID, offer string) (id, answer string, err error)
	List() []SessionView
	Get(id string) (SessionView, error)
	Delete(id string) error
	// AddCandidate adds a remote ICE candidate ("candidate:..." or an
	// "a=candidate:..." line); an empty string ends the candidates.
	AddCandidate(id, candidate string) error
	// AddSDPFragment adds the candidates of a WHEP PATCH body
	// (application/trickle-ice-sdpfrag); a fragment for another ICE
	// session (an ICE restart) is refused.
	AddSDPFragment(id, fragment string) error
}
