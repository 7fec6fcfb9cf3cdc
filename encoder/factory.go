package encoder

import (
	"fmt"

	"github.com/cloudphone/media-service/native"
)

// Kind is what VIDEO_ENCODER_TYPE asks for.
type Kind string

// Encoder kinds.
const (
	KindAuto        Kind = "auto"
	KindPassthrough Kind = "passthrough"
	KindH264        Kind = "h264"
	KindVP8         Kind = "vp8"
)

// CaptureFormat is what a capture source delivers.
type CaptureFormat int

// Capture formats.
const (
	// CaptureH264 is encoded H.264 (screenrecord).
	CaptureH264 CaptureFormat = iota
	// CaptureRaw is raw pictures (screencap, raw-frames).
	CaptureRaw
)

func (f CaptureFormat) String() string {
	if f == CaptureH264 {
		return "h264"
	}
	return "raw"
}

// Choice is the encoding a device gets.
type Choice struct {
	Kind Kind
	// Candidates are the libavcodec encoders to try, best first; a
	// pipeline falls back along them. Empty for pass-through.
	Candidates []string
	// Decode is set when H.264 capture must be decoded to be re-encoded
	// (VP8 for a client without H.264).
	Decode bool
}

// Codec returns the codec the choice puts on the wire.
func (c Choice) Codec() Codec {
	if c.Kind == KindVP8 {
		return VP8
	}
	return H264
}

// RecommendedEncoderForCaptureFormat picks the encoding for a capture
// format: H.264 capture is passed through; raw pictures go to the best
// H.264 encoder; VP8 is used when asked for. kind (VIDEO_ENCODER_TYPE)
// overrides the choice; h264 lists the working H.264 encoders best first
// (from native.Prober), and libx264 ends every fallback chain.
func RecommendedEncoderForCaptureFormat(format CaptureFormat, kind Kind, h264 []string) (Choice, error) {
	chain := fallbackChain(h264)
	switch kind {
	case KindAuto, "":
		if format == CaptureH264 {
			return Choice{Kind: KindPassthrough}, nil
		}
		return Choice{Kind: KindH264, Candidates: chain}, nil
	case KindPassthrough:
		if format != CaptureH264 {
			return Choice{}, fmt.Errorf("%w: VIDEO_ENCODER_TYPE=passthrough needs H.264 capture (CAPTURE_MODE=screenrecord), not %s pictures", ErrConfig, format)
		}
		return Choice{Kind: KindPassthrough}, nil
	case KindH264:
		return Choice{Kind: KindH264, Candidates: chain, Decode: format == CaptureH264}, nil
	case KindVP8:
		return Choice{Kind: KindVP8, Candidates: []string{native.CodecVP8}, Decode: format == CaptureH264}, nil
	}
	return Choice{}, fmt.Errorf("%w: VIDEO_ENCODER_TYPE=%q (want auto, passthrough, h264 or vp8)", ErrConfig, kind)
}

// fallbackChain returns h264 with libx264 last, once.
func fallbackChain(h264 []string) []string {
	var out []string
	for _, n := range h264 {
		if n != native.CodecX264 {
			out = append(out, n)
		}
	}
	return append(out, native.CodecX264)
}
