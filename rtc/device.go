package rtc

import (
	"context"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"
)

// Provider gives sessions their device's media. The service adapts the
// device package's Registry to it: one owner per device holds the
// device's capture, coders, fan-out, keyframe limiting, bit-rate control
// and input, and a session only joins it.
type Provider interface {
	// Join starts or joins a device's media for one viewer and returns
	// the viewer's feed. req.Codecs are the codecs the viewer's offer can
	// receive, best first; the provider picks the stream the viewer
	// watches. An unknown device is an error wrapping ErrUnknownDevice; a
	// device with no stream in any of the codecs, ErrCodecUnsupported.
	// ctx bounds this viewer's wait only: the device starts under the
	// provider's own context, so a viewer that gives up fails nobody else.
	Join(ctx context.Context, req JoinRequest) (Feed, error)
}

// JoinRequest asks for one viewer's feed of a device.
type JoinRequest struct {
	DeviceID string
	// ViewerID names the viewer (the session ID) in control and logs.
	ViewerID string
	// Codecs are what the viewer's offer can receive, best first.
	Codecs []media.Codec
}

// Media is a viewer's picture: one of its device's streams, fanned out
// by package fanout.
type Media interface {
	// Format is the codec and profile the feed sends. For pass-through
	// H.264 it is the device's own SPS's, known once Join has returned.
	Format() media.Format
	// Start begins writing the stream's units to w, from a keyframe. It
	// is called once, when the peer connection is up.
	Start(w fanout.Writer) error
	// Stats returns the viewer's queue counters.
	Stats() fanout.ViewerStats
	// Stop stops writing without waiting for the writer, which may be
	// blocked until the peer connection closes.
	Stop()
	// Close stops writing, waits for the writer, gives control back and
	// leaves the device (the device stops some time after its last viewer
	// left). It is idempotent.
	Close()
}

// Feedback is what a viewer's receiver reports to the device's owner.
// Neither call may block: they come from Pion's and the manager's
// goroutines.
type Feedback interface {
	// RequestKeyFrame asks for a keyframe (a PLI or FIR); the owner merges
	// and rate-limits the requests of all its viewers.
	RequestKeyFrame()
	// SetEstimate reports the viewer's bandwidth estimate in bits per
	// second; the owner sets its encoder's rate from its viewers'
	// estimates, and may move the viewer to another quality rung.
	SetEstimate(bps int)
}

// Control is a viewer's say over its device: input, by one viewer at a
// time (the rule is fanout.Control's).
type Control interface {
	// Input injects the viewer's input into the device, mapping its
	// coordinates (fractions of the picture) to the device's. A viewer
	// that does not hold control takes it when nobody does; otherwise the
	// input is refused with ErrNotController. ctx ends with the session.
	Input(ctx context.Context, in media.Input) error
	// TakeControl gives the viewer control of the device and returns the
	// viewer that lost it ("" when none did).
	TakeControl() (revoked string)
	// ReleaseControl gives control up and reports whether the viewer held
	// it.
	ReleaseControl() bool
	// Controller reports whether the viewer holds control.
	Controller() bool
	// Clipboard reads the device's clipboard. Only the on-device agent
	// can: with the shell's input command it fails with an error wrapping
	// media.ErrUnsupported.
	Clipboard(ctx context.Context) (string, error)
	// Notices calls fn with the device's input notices, first its input
	// state now, then every change of it and of the device's clipboard,
	// until stop is called. fn must not block.
	Notices(fn func(media.InputNotice)) (stop func())
}

// Feed is one viewer's link to its device. Its methods may be called
// from several goroutines at once.
type Feed interface {
	Media
	Feedback
	Control
}
