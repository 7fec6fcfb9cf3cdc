package device

import (
	"fmt"

	"github.com/cloudphone/media-service/media"
)

// plan is what a device serves, from CAPTURE_MODE and VIDEO_ENCODER_TYPE:
//
//   - passthrough: never re-encode; H.264 viewers get the device's own
//     stream, on one rung.
//   - auto: in screenrecord mode, H.264 viewers on rung 0 get the device's
//     own stream, and the stream is decoded here and re-encoded only for
//     those who need it (a VP8-only browser, a viewer on a lower rung); in
//     screencap and raw-frames modes, the best H.264 encoder, and libvpx
//     for VP8-only viewers.
//   - h264, vp8: every viewer gets this service's own encoding, decoded
//     from screenrecord in screenrecord mode.
type plan struct {
	// passthrough: H.264 viewers on rung 0 get the device's own stream.
	passthrough bool
	// h264 and vp8: viewers of the codec get an encoding of this service
	// (for h264 with passthrough: on the rungs below 0 only).
	h264, vp8 bool
	// decode: the device's H.264 is decoded here for the encoders.
	decode bool
	// primary is the output started with the device, whose first keyframe
	// tells the device's format and size.
	primary outputKey
}

func planFor(mode media.CaptureMode, kind media.EncoderKind) (plan, error) {
	sr := mode == media.CaptureScreenrecord
	if !sr && mode != media.CaptureScreencap && mode != media.CaptureRawFrames {
		return plan{}, fmt.Errorf("%w: capture mode %q", media.ErrConfig, mode)
	}
	h264 := outputKey{Codec: media.H264}
	switch kind {
	case media.KindPassthrough:
		if !sr {
			return plan{}, fmt.Errorf("%w: VIDEO_ENCODER_TYPE=passthrough needs CAPTURE_MODE=screenrecord, not %s", media.ErrConfig, mode)
		}
		return plan{passthrough: true, primary: h264}, nil
	case media.KindAuto, "":
		return plan{passthrough: sr, h264: true, vp8: true, decode: sr, primary: h264}, nil
	case media.KindH264:
		return plan{h264: true, decode: sr, primary: h264}, nil
	case media.KindVP8:
		return plan{vp8: true, decode: sr, primary: outputKey{Codec: media.VP8}}, nil
	}
	return plan{}, fmt.Errorf("%w: VIDEO_ENCODER_TYPE=%q (want auto, passthrough, h264 or vp8)", media.ErrConfig, kind)
}

// codecs are the codecs the plan sends, in the order the service prefers.
func (p plan) codecs() []media.Codec {
	var out []media.Codec
	if p.passthrough || p.h264 {
		out = append(out, media.H264)
	}
	if p.vp8 {
		out = append(out, media.VP8)
	}
	return out
}

// encodes reports whether the plan ever encodes here.
func (p plan) encodes() bool { return p.h264 || p.vp8 }

// serves reports whether the plan has an output for key, and whether it is
// the device's own stream.
func (p plan) serves(key outputKey, rungs int) (ok, passthrough bool) {
	if key.Rung < 0 || key.Rung >= rungs {
		return false, false
	}
	switch key.Codec {
	case media.H264:
		if p.passthrough && key.Rung == 0 {
			return true, true
		}
		if p.passthrough && !p.h264 {
			return false, false // pass-through has one rung
		}
		return p.h264, false
	case media.VP8:
		return p.vp8, false
	}
	return false, false
}
