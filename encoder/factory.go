package encoder

import (
	"fmt"

	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// Choice is the encoding a device gets.
type Choice struct {
	Kind media.EncoderKind
	// Candidates are the libavcodec encoders to try, best first; a
	// pipeline falls back along them. Empty for pass-through.
	Candidates []string
	// Decode is set when H.264 capture must be decoded to be re-encoded.
	Decode bool
}

// Codec returns the codec the choice puts on the wire.
func (c Choice) Codec() media.Codec {
	if c.Kind == media.KindVP8 {
		return media.VP8
	}
	return media.H264
}

// RecommendedEncoderForCaptureFormat picks the encoding for a capture
// mode: the device's H.264 (screenrecord) is passed through; raw pictures
// go to the best H.264 encoder; VP8 is used when asked for. kind
// (VIDEO_ENCODER_TYPE) overrides the choice; h264 lists the working H.264
// encoders best first (from native.Prober), and libx264 ends every
// fallback chain.
func RecommendedEncoderForCaptureFormat(mode media.CaptureMode, kind media.EncoderKind, h264 []string) (Choice, error) {
	chain := fallbackChain(h264)
	switch kind {
	case media.KindAuto, "":
		if mode.Encoded() {
			return Choice{Kind: media.KindPassthrough}, nil
		}
		return Choice{Kind: media.KindH264, Candidates: chain}, nil
	case media.KindPassthrough:
		if !mode.Encoded() {
			return Choice{}, fmt.Errorf("%w: VIDEO_ENCODER_TYPE=passthrough needs H.264 capture (CAPTURE_MODE=screenrecord), not %s pictures", media.ErrConfig, mode)
		}
		return Choice{Kind: media.KindPassthrough}, nil
	case media.KindH264:
		return Choice{Kind: media.KindH264, Candidates: chain, Decode: mode.Encoded()}, nil
	case media.KindVP8:
		return Choice{Kind: media.KindVP8, Candidates: []string{native.CodecVP8}, Decode: mode.Encoded()}, nil
	}
	return Choice{}, fmt.Errorf("%w: VIDEO_ENCODER_TYPE=%q (want auto, passthrough, h264 or vp8)", media.ErrConfig, kind)
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

// H264Chain returns the H.264 encoders to try, best first: the probe's
// working ones (h264), with libx264 last, once.
func H264Chain(h264 []string) []string { return fallbackChain(h264) }
