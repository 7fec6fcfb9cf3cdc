package media

import (
	"fmt"
	"strconv"
	"strings"
)

// CaptureMode is how a device's screen is captured (CAPTURE_MODE).
type CaptureMode string

// Capture modes.
const (
	// CaptureScreenrecord is the device's own H.264 (screenrecord).
	CaptureScreenrecord CaptureMode = "screenrecord"
	// CaptureScreencap is PNG screenshots in a loop (screencap -p).
	CaptureScreencap CaptureMode = "screencap"
	// CaptureRawFrames is RGB888 pictures (screenrecord
	// --output-format=raw-frames).
	CaptureRawFrames CaptureMode = "raw-frames"
)

// CaptureModes lists the capture modes.
var CaptureModes = []CaptureMode{CaptureScreenrecord, CaptureScreencap, CaptureRawFrames}

// Encoded reports whether the mode delivers encoded H.264 (rather than raw
// pictures for an encoder here).
func (m CaptureMode) Encoded() bool { return m == CaptureScreenrecord }

// EncoderKind is what VIDEO_ENCODER_TYPE asks for.
type EncoderKind string

// Encoder kinds.
const (
	KindAuto        EncoderKind = "auto"
	KindPassthrough EncoderKind = "passthrough"
	KindH264        EncoderKind = "h264"
	KindVP8         EncoderKind = "vp8"
)

// EncoderKinds lists the encoder kinds.
var EncoderKinds = []EncoderKind{KindAuto, KindPassthrough, KindH264, KindVP8}

// Size is a picture's width and height in pixels.
type Size struct{ Width, Height int }

// String returns "WIDTHxHEIGHT".
func (s Size) String() string { return strconv.Itoa(s.Width) + "x" + strconv.Itoa(s.Height) }

// MaxDimension bounds a picture's width and height.
const MaxDimension = 16384

// Validate reports an error for a size outside 1..MaxDimension in either
// axis.
func (s Size) Validate() error {
	if s.Width < 1 || s.Height < 1 || s.Width > MaxDimension || s.Height > MaxDimension {
		return fmt.Errorf("%w: size %dx%d (each 1..%d)", ErrInvalidArgument, s.Width, s.Height, MaxDimension)
	}
	return nil
}

// ParseSize parses "WIDTHxHEIGHT" with both in 1..MaxDimension.
func ParseSize(s string) (Size, error) {
	w, h, ok := strings.Cut(s, "x")
	if !ok {
		return Size{}, fmt.Errorf("%w: size %q (want WIDTHxHEIGHT)", ErrInvalidArgument, s)
	}
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	sz := Size{wi, hi}
	if err1 != nil || err2 != nil || sz.Validate() != nil {
		return Size{}, fmt.Errorf("%w: size %q (want WIDTHxHEIGHT, each 1..%d)", ErrInvalidArgument, s, MaxDimension)
	}
	return sz, nil
}
