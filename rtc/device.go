package rtc

import (
	"context"

	"github.com/cloudphone/media-service/encoder"
)

// Device is one device's media controls, as a session sees them. The
// service implements it. Its methods may be called from several
// goroutines at once and must not block for long: RequestKeyFrame and
// SetBitRate are called from Pion's and the manager's goroutines.
type Device interface {
	// Codec is the codec of the device's units: encoder.H264 or
	// encoder.VP8.
	Codec() encoder.Codec
	// ProfileLevelID is the H.264 profile-level-id of what the device
	// actually produces, for the answer's fmtp ("42e01f"; for pass-through,
	// the value in the device's SPS, so it must be known when Acquire or
	// Start returns). Empty means "42e01f".
	ProfileLevelID() string
	// RequestKeyFrame asks for a keyframe soon. rtc rate-limits the calls
	// (Config.KeyFrameMinInterval).
	RequestKeyFrame()
	// SetBitRate sets the encoder's target rate from the bandwidth
	// estimate; it returns encoder.ErrUnsupported where the rate cannot be
	// changed (pass-through), after which rtc stops calling it.
	SetBitRate(bps int) error
	// Input injects a viewer's input into the device, mapping its
	// coordinates (fractions of the picture) to the device's
	// (capture.MapPoint). msg has been validated. ctx ends with the
	// session.
	Input(ctx context.Context, msg InputMessage) error
}

// Provider gives sessions their device's media. The service implements it
// (or uses a Hub over a MediaSource).
type Provider interface {
	// Acquire starts, or joins, a device's media and returns the device
	// with the broadcaster its units go to, and a release function that
	// the session calls once when it ends. An unknown device is an error
	// wrapping ErrUnknownDevice. ctx bounds the start, not the media.
	Acquire(ctx context.Context, deviceID string) (Device, *Broadcaster, func(), error)
}

// MediaSource starts and stops the capture and encoding of devices. The
// service implements it; a Hub turns it into a Provider that shares one
// pipeline among a device's viewers.
type MediaSource interface {
	// Start begins capture and encoding for a device, writing every unit
	// to out, and returns the device's controls. It is called when the
	// first viewer of a device joins (and again after Stop). An unknown
	// device is an error wrapping ErrUnknownDevice. ctx bounds the start
	// only; the media runs until Stop.
	Start(ctx context.Context, deviceID string, out *Broadcaster) (Device, error)
	// Stop ends what Start began, and returns once no more units will be
	// written. It is called Config.Linger after the last viewer left, or
	// at Hub.Close.
	Stop(deviceID string)
}
