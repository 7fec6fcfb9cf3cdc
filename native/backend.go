//go:build cgo

package native

//#include "shim.h"
import "C"

import (
	"strconv"
	"time"
)

// backend describes how one libavcodec encoder is driven. The settings
// all aim at the same thing: every frame in yields its packet before
// Encode returns (no lookahead, no B-frames, no frame queue), rate control
// at BitRate bounded by a VBV of VBVBuffer, IDRs (key frames) on request.
// The formats each encoder takes natively are those of [InputFormats].
type backend struct {
	// media is what the encoder produces: MediaCodecH264 or MediaCodecVP8.
	media string
	// vaapi: frames are uploaded into a VAAPI hardware frames context and
	// the encoder's pix_fmt is AV_PIX_FMT_VAAPI.
	vaapi bool
	// hwInput is the device type of the hardware frames the encoder takes
	// as they are, without a download ("cuda" for NVENC, "vaapi" for
	// VAAPI), or "" for none. See Encoder.Encode.
	hwInput string
	// dynamicRate: the encoder applies a change of bit_rate, rc_max_rate
	// and rc_buffer_size between frames. When false, SetBitRate reopens
	// the encoder, whose first packet is then a key frame.
	dynamicRate bool
	// cbr: rc_min_rate is set to the bit rate too (libvpx's CBR switch).
	cbr bool
	// fixedGOP: keyint_min is set to the keyframe interval, so that key
	// frames come at fixed intervals (libvpx's kf_min_dist).
	fixedGOP bool
	// options returns the encoder's private AVOptions for o.
	options func(o Options) [][2]string
}

func lookupBackend(codec string) (backend, bool) {
	switch codec {
	case CodecX264:
		return backend{media: MediaCodecH264, dynamicRate: true, options: x264Options}, true
	case CodecNVENC:
		return backend{media: MediaCodecH264, dynamicRate: true, hwInput: hwDeviceCUDA, options: nvencOptions}, true
	case CodecQSV:
		return backend{media: MediaCodecH264, dynamicRate: true, options: qsvOptions}, true
	case CodecVAAPI:
		return backend{media: MediaCodecH264, vaapi: true, hwInput: hwDeviceVAAPI, options: vaapiOptions}, true
	case CodecVP8:
		return backend{media: MediaCodecVP8, cbr: true, fixedGOP: true, options: vp8Options}, true
	}
	return backend{}, false
}

// x264Options: libx264 with tune zerolatency (no lookahead, no frame
// threading delay, no B-frames), forced frames as IDRs, SPS/PPS repeated
// before every IDR and no scene-cut keyframes.
func x264Options(o Options) [][2]string {
	return [][2]string{
		{"preset", o.Preset},
		{"tune", "zerolatency"},
		{"profile", o.Profile},
		// Frames forced to I become IDRs, and x264 repeats SPS/PPS before
		// every IDR, so a viewer can start at any forced keyframe.
		{"forced-idr", "1"},
		{"x264-params", "repeat-headers=1:scenecut=0:keyint_min=" + strconv.Itoa(o.KeyFrameInterval)},
	}
}

// nvencPreset maps a libx264 preset to NVENC's p1 (fastest) .. p4. The
// slower NVENC presets (p5..p7) add passes and latency; they are not used.
func nvencPreset(x264 string) string {
	switch x264 {
	case "ultrafast", "superfast":
		return "p1"
	case "veryfast":
		return "p2"
	case "faster", "fast":
		return "p3"
	}
	return "p4"
}

// nvencOptions: h264_nvenc in its ultra-low-latency configuration.
//   - tune ull: NV_ENC_TUNING_INFO_ULTRA_LOW_LATENCY;
//   - zerolatency 1: no reordering delay (rcParams.zeroReorderDelay);
//   - delay 0: FFmpeg's default (INT_MAX, clipped to the surface count)
//     holds packets back until its surface queue fills; 0 returns each
//     packet as soon as it is encoded;
//   - forced-idr 1: a frame with pict_type I becomes an IDR
//     (NV_ENC_PIC_FLAG_FORCEIDR), not just an intra frame;
//   - rc cbr with bit_rate, rc_max_rate and rc_buffer_size, which nvenc
//     reconfigures between frames (nvEncReconfigureEncoder) when they
//     change; it restarts the stream with an IDR then.
//
// B-frames are off through max_b_frames (bf 0), and rc-lookahead stays at
// its default 0. h264_nvenc repeats SPS and PPS before every IDR by itself
// (repeatSPSPPS, unless AV_CODEC_FLAG_GLOBAL_HEADER is set, which it is
// not here). Its smallest frame is 145x49 on current GPUs.
func nvencOptions(o Options) [][2]string {
	return [][2]string{
		{"preset", nvencPreset(o.Preset)},
		{"tune", "ull"},
		{"zerolatency", "1"},
		{"delay", "0"},
		{"forced-idr", "1"},
		{"rc", "cbr"},
		{"profile", o.Profile},
	}
}

// qsvPreset maps a libx264 preset to a QSV target usage.
func qsvPreset(x264 string) string {
	switch x264 {
	case "ultrafast", "superfast", "veryfast":
		return "veryfast"
	case "placebo":
		return "veryslow"
	}
	return x264
}

// qsvOptions: h264_qsv with system-memory NV12 frames.
//   - async_depth 1: one frame in flight (the default 4 queues frames);
//   - forced_idr 1: frames with pict_type I become IDRs;
//   - low_delay_brc 1: the rate control strictly obeys the average frame
//     size (mfxExtCodingOption3.LowDelayBRC);
//   - look_ahead 0, adaptive_i 0, adaptive_b 0: no lookahead and no
//     scene-cut I- or B-frame placement.
//
// rc_max_rate equal to bit_rate selects MFX_RATECONTROL_CBR; qsvenc resets
// the encoder with the new rate when bit_rate changes between frames.
func qsvOptions(o Options) [][2]string {
	return [][2]string{
		{"preset", qsvPreset(o.Preset)},
		{"async_depth", "1"},
		{"forced_idr", "1"},
		{"low_delay_brc", "1"},
		{"look_ahead", "0"},
		{"adaptive_i", "0"},
		{"adaptive_b", "0"},
		{"profile", o.Profile},
	}
}

// vaapiOptions: h264_vaapi with async_depth 1 (one frame in flight instead
// of 2), constant bit rate (rc_mode CBR), every I-frame an IDR
// (idr_interval 0), and Constrained Baseline for "baseline". vaapi_encode
// puts the sequence and picture parameter sets before every IDR. It does
// not take a new bit rate while open, so SetBitRate reopens it.
func vaapiOptions(o Options) [][2]string {
	profile := o.Profile
	if profile == "baseline" {
		profile = "constrained_baseline"
	}
	return [][2]string{
		{"async_depth", "1"},
		{"rc_mode", "CBR"},
		{"idr_interval", "0"},
		{"profile", profile},
	}
}

// vp8CPUUsed is libvpx's cpu-used for VP8 (VP8E_SET_CPUUSED, -16..16). In
// VP8's realtime mode its sign matters: a negative value fixes the speed at
// its magnitude, while a value n >= 0 makes libvpx pick the speed frame by
// frame from a CPU budget of (16-n)/16 of the frame interval
// (vp8_auto_select_speed), so that the same input encodes differently on a
// loaded machine. The encoder uses fixed speed 6 (-6, WebRTC's desktop
// default), the fastest speed that keeps the rate on target: measured on
// the textured test pattern at 2 Mb/s, speed 6 encodes 720p at about 170
// fps on one core, while speeds 7 and up overshoot the rate two to five
// times and fall to 24 dB. Speeds above 6 are fast only on content that
// is cheap to code anyway.
const vp8CPUUsed = -6

// vp8Options: libvpx VP8 for real-time streaming.
//   - deadline realtime (VPX_DL_REALTIME) and cpu-used -6 (vp8CPUUsed);
//   - lag-in-frames 0: no lookahead, no alt-ref frames, so each frame's
//     packet comes out of the call that encodes it;
//   - error-resilient default (VPX_ERROR_RESILIENT_DEFAULT): a lost frame
//     does not corrupt the decoding of the following ones as much.
//
// Rate control is CBR (rc_min_rate = rc_max_rate = bit_rate) with a buffer
// of VBVBuffer, 90% full at the start; keyframes come every
// KeyFrameInterval frames exactly (kf_min_dist = kf_max_dist) and on
// request (pict_type I sets VPX_EFLAG_FORCE_KF).
//
// FFmpeg 7.1's libvpxenc reconfigures the encoder between frames only when
// qmax changes (vpx_codec_enc_config_set in vpx_encode); a new bit_rate is
// ignored until the encoder is reopened. SetBitRate therefore reopens it
// on the next frame (see backend.dynamicRate): the stream goes on with a
// key frame at the new rate.
func vp8Options(Options) [][2]string {
	return [][2]string{
		{"deadline", "realtime"},
		{"cpu-used", strconv.Itoa(vp8CPUUsed)},
		{"lag-in-frames", "0"},
		{"error-resilient", "default"},
	}
}

// setRate writes the rate-control fields of cc for bps: the target, the
// VBV's maximum rate and its size, and for CBR encoders the minimum rate.
func (b backend) setRate(cc *C.AVCodecContext, bps int64, vbv time.Duration) {
	cc.bit_rate = C.int64_t(bps)
	cc.rc_max_rate = C.int64_t(bps)
	size := bps * int64(vbv) / int64(time.Second)
	cc.rc_buffer_size = C.int(size)
	if b.cbr {
		cc.rc_min_rate = C.int64_t(bps)
		cc.rc_initial_buffer_occupancy = C.int(size * 9 / 10)
	}
}
