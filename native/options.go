package native

import (
	"fmt"
	"github.com/cloudphone/media-service/media"
	"slices"
	"strings"
	"time"
)

// Codec names of the encoders this package opens: the libavcodec encoder
// names, which [Options.Codec] selects.
const (
	// CodecX264 is libx264, in software.
	CodecX264 = "libx264"
	// CodecNVENC is NVIDIA's NVENC (h264_nvenc), through the CUDA driver.
	CodecNVENC = "h264_nvenc"
	// CodecQSV is Intel Quick Sync Video (h264_qsv), through oneVPL.
	CodecQSV = "h264_qsv"
	// CodecVAAPI is VA-API (h264_vaapi), on a DRM render node.
	CodecVAAPI = "h264_vaapi"
	// CodecVP8 is libvpx's VP8 encoder, in software.
	CodecVP8 = "libvpx"
)

// Media codecs, what an encoder puts on the wire: the RTP payload format a
// caller packetizes its packets with ([Encoder.MediaCodec], [MediaCodecOf]).
const (
	MediaCodecH264 = "h264"
	MediaCodecVP8  = "vp8"
)

// codecNames lists every encoder NewEncoder accepts: the H.264 encoders in
// probing order, then VP8.
func codecNames() []string {
	return []string{CodecNVENC, CodecQSV, CodecVAAPI, CodecX264, CodecVP8}
}

// MediaCodecOf returns the media codec that the named encoder produces
// (MediaCodecH264 or MediaCodecVP8), or "" for an encoder this package does
// not open.
func MediaCodecOf(codec string) string {
	switch codec {
	case CodecX264, CodecNVENC, CodecQSV, CodecVAAPI:
		return MediaCodecH264
	case CodecVP8:
		return MediaCodecVP8
	}
	return ""
}

// IsHardware reports whether the named encoder runs on a GPU or a media
// engine, and so may be missing on a given machine even though FFmpeg has
// it compiled in.
func IsHardware(codec string) bool {
	return codec == CodecNVENC || codec == CodecQSV || codec == CodecVAAPI
}

// DefaultVAAPIDevice is the DRM render node that h264_vaapi opens when
// [Options.VAAPIDevice] is empty: the first GPU's.
const DefaultVAAPIDevice = "/dev/dri/renderD128"

// x264Presets are libx264's presets, fastest first. Every H.264 backend
// takes them ([Options.Preset] says how each maps them).
var x264Presets = []string{
	"ultrafast", "superfast", "veryfast", "faster", "fast",
	"medium", "slow", "slower", "veryslow", "placebo",
}

// x264Profiles are the H.264 profiles the encoder may be limited to.
// "baseline" yields Constrained Baseline, WebRTC's mandatory profile.
var x264Profiles = []string{"baseline", "main", "high"}

// Options configures an [Encoder]. The zero value of every field selects
// the default that [Options.WithDefaults] documents.
type Options struct {
	// Codec is the libavcodec encoder: libx264 (the default), h264_nvenc,
	// h264_qsv, h264_vaapi or libvpx (VP8). See the Codec constants.
	Codec string
	// Width and Height of the frames, in pixels. Both must be even.
	Width, Height int
	// PixelFormat is the planar format, yuv420p or nv12, that the caller
	// will mostly feed: a hint, not a limit. The default is yuv420p
	// ([CaptureFormat], what the capture sources fill) for every encoder.
	// [Encoder.Encode] takes frames of either format: one in the encoder's
	// native input format ([Encoder.InputFormat]) goes straight in,
	// another is converted by libswscale into an internal frame first (a
	// copy per frame). The input format is PixelFormat when the backend
	// takes it natively, else the first of the backend's input formats
	// (nv12 for h264_qsv and h264_vaapi, yuv420p for libvpx); in that case
	// the conversion frame is allocated when the encoder opens rather than
	// at the first frame.
	PixelFormat PixelFormat
	// InputFormats, when not empty, restricts the formats the encoder
	// takes natively to those of its backend's inputs ([InputFormats])
	// that it lists, in the backend's order; frames in the other planar
	// format are converted. It must leave at least one. Empty means all
	// the backend's. Limiting libx264 to nv12 makes it take frames as
	// h264_qsv and h264_vaapi do, so that a machine without them still
	// runs the conversion they need.
	InputFormats []PixelFormat
	// FrameRate is the nominal rate in frames per second (VIDEO_FRAMERATE).
	// Default 30. Frames may arrive at a variable rate; their PTS rules.
	FrameRate int
	// BitRate is the target rate in bits per second (VIDEO_BITRATE).
	// Default 2,000,000. It is also the VBV's maximum rate.
	BitRate int
	// VBVBuffer is the size of the VBV (the rate control's buffer) in time
	// at BitRate. Default 500 ms. A smaller buffer bounds the size of each
	// frame more tightly, at some cost in quality around keyframes.
	VBVBuffer time.Duration
	// Preset is a libx264 preset name (H264_PRESET). Default faster.
	// h264_nvenc maps it to its own presets: ultrafast and superfast to
	// p1, veryfast to p2, faster and fast to p3, medium and slower ones to
	// p4 (p5 to p7 cost latency that a live screen cannot afford).
	// h264_qsv maps it to its target usages (ultrafast, superfast and
	// veryfast to veryfast; placebo to veryslow; the others by name).
	// h264_vaapi and libvpx have no presets and ignore it; libvpx runs at
	// a fixed realtime speed (see [NewEncoder]).
	Preset string
	// Profile limits the H.264 profile: baseline (default), main or high.
	// It applies to the H.264 encoders only; VP8 ignores it.
	Profile string
	// KeyFrameInterval is the maximum number of frames between keyframes.
	// Default two seconds of frames (2 × FrameRate).
	KeyFrameInterval int
	// Threads is the number of encoder threads; 0 lets the encoder choose.
	// The hardware encoders ignore it.
	Threads int
	// VAAPIDevice is the DRM render node h264_vaapi opens. Default
	// /dev/dri/renderD128 ([DefaultVAAPIDevice]); the other encoders
	// ignore it.
	VAAPIDevice string
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.Codec == "" {
		o.Codec = CodecX264
	}
	if o.PixelFormat == PixelFormatNone {
		o.PixelFormat = CaptureFormat
	}
	if o.FrameRate == 0 {
		o.FrameRate = media.DefaultFrameRate
	}
	if o.BitRate == 0 {
		o.BitRate = media.DefaultBitRate
	}
	if o.VBVBuffer == 0 {
		o.VBVBuffer = 500 * time.Millisecond
	}
	if o.Preset == "" {
		o.Preset = "faster"
	}
	if o.Profile == "" && MediaCodecOf(o.Codec) != MediaCodecVP8 {
		o.Profile = "baseline"
	}
	if o.KeyFrameInterval == 0 {
		o.KeyFrameInterval = 2 * o.FrameRate
	}
	if o.VAAPIDevice == "" && o.Codec == CodecVAAPI {
		o.VAAPIDevice = DefaultVAAPIDevice
	}
	return o
}

// Validate reports the first option that the encoder cannot take, naming the
// option and the values it allows.
func (o Options) Validate() error {
	if MediaCodecOf(o.Codec) == "" {
		return fmt.Errorf("%w: codec %q is not supported (want one of %s)", ErrInvalidOptions, o.Codec, strings.Join(codecNames(), ", "))
	}
	if o.Width <= 0 || o.Height <= 0 || o.Width > 8192 || o.Height > 8192 {
		return fmt.Errorf("%w: size %dx%d out of range (1..8192 each)", ErrInvalidOptions, o.Width, o.Height)
	}
	if o.Width%2 != 0 || o.Height%2 != 0 {
		return fmt.Errorf("%w: got %dx%d; crop or pad to %dx%d", ErrOddDimensions, o.Width, o.Height, o.Width&^1, o.Height&^1)
	}
	if !o.PixelFormat.Planar() {
		return fmt.Errorf("%w: pixel format %s cannot be encoded (want yuv420p or nv12)", ErrInvalidOptions, o.PixelFormat)
	}
	for _, f := range o.InputFormats {
		if !f.Planar() {
			return fmt.Errorf("%w: InputFormats: %s is not an encoder input format (want yuv420p or nv12)", ErrInvalidOptions, f)
		}
	}
	if len(o.InputFormats) > 0 && len(o.nativeInputs()) == 0 {
		return fmt.Errorf("%w: InputFormats %v: %s takes none of them natively (it takes %v)", ErrInvalidOptions, o.InputFormats, o.Codec, InputFormats(o.Codec))
	}
	if o.FrameRate < media.MinFrameRate || o.FrameRate > media.MaxFrameRate {
		return fmt.Errorf("%w: frame rate %d out of range (%d..%d)", ErrInvalidOptions, o.FrameRate, media.MinFrameRate, media.MaxFrameRate)
	}
	if err := validBitRate(o.BitRate); err != nil {
		return err
	}
	if o.VBVBuffer < 0 || o.VBVBuffer > 10*time.Second {
		return fmt.Errorf("%w: VBV buffer %s out of range (0..10s)", ErrInvalidOptions, o.VBVBuffer)
	}
	if !slices.Contains(x264Presets, o.Preset) {
		return fmt.Errorf("%w: preset %q unknown (want one of %v)", ErrInvalidOptions, o.Preset, x264Presets)
	}
	if MediaCodecOf(o.Codec) == MediaCodecH264 && !slices.Contains(x264Profiles, o.Profile) {
		return fmt.Errorf("%w: profile %q unknown (want one of %v)", ErrInvalidOptions, o.Profile, x264Profiles)
	}
	if o.KeyFrameInterval < 1 {
		return fmt.Errorf("%w: keyframe interval %d must be at least 1 frame", ErrInvalidOptions, o.KeyFrameInterval)
	}
	if o.Threads < 0 || o.Threads > 64 {
		return fmt.Errorf("%w: threads %d out of range (0..64)", ErrInvalidOptions, o.Threads)
	}
	if o.Codec == CodecVAAPI && !strings.HasPrefix(o.VAAPIDevice, "/") {
		return fmt.Errorf("%w: VAAPI device %q must be the absolute path of a DRM render node (such as %s)", ErrInvalidOptions, o.VAAPIDevice, DefaultVAAPIDevice)
	}
	return nil
}

// InputFormats returns the system-memory pixel formats that the named
// encoder takes natively, in its order of preference: yuv420p and nv12 for
// libx264 and h264_nvenc, nv12 for h264_qsv and h264_vaapi (which then
// uploads frames to its device's surfaces), yuv420p for libvpx. It returns
// nil for an encoder this package does not open. [Encoder.Encode] converts
// a frame in any other planar format to the encoder's input format first.
func InputFormats(codec string) []PixelFormat {
	switch codec {
	case CodecX264, CodecNVENC:
		return []PixelFormat{PixelFormatYUV420P, PixelFormatNV12}
	case CodecQSV, CodecVAAPI:
		return []PixelFormat{PixelFormatNV12}
	case CodecVP8:
		return []PixelFormat{PixelFormatYUV420P}
	}
	return nil
}

// nativeInputs returns the formats the encoder takes natively: its
// backend's, limited to InputFormats when that is set, in the backend's
// order.
func (o Options) nativeInputs() []PixelFormat {
	in := InputFormats(o.Codec)
	if len(o.InputFormats) == 0 {
		return in
	}
	return slices.DeleteFunc(in, func(f PixelFormat) bool { return !slices.Contains(o.InputFormats, f) })
}

// inputFormat returns the format the encoder is opened with, which frames
// in another format are converted to: PixelFormat when the encoder takes it
// natively, else the first of its native formats. Options must be valid.
func (o Options) inputFormat() PixelFormat {
	in := o.nativeInputs()
	if slices.Contains(in, o.PixelFormat) {
		return o.PixelFormat
	}
	return in[0]
}

func validBitRate(bps int) error {
	if bps < 10_000 || bps > 200_000_000 {
		return fmt.Errorf("%w: bit rate %d b/s out of range (10000..200000000)", ErrInvalidOptions, bps)
	}
	return nil
}

// Packet is one encoded picture.
type Packet struct {
	// Data is the encoded picture: for H.264 an access unit in Annex-B
	// form (start codes, SPS and PPS before every IDR); for VP8 one
	// compressed frame as libvpx writes it (what RFC 7741 packetizes). It
	// is a view of C memory, valid only during the callback that receives
	// it.
	Data []byte
	// KeyFrame is set for an H.264 IDR, which the encoder precedes with SPS
	// and PPS, and for a VP8 key frame.
	KeyFrame bool
	// PTS is the presentation time of the frame the packet encodes.
	PTS time.Duration
	// Duration is how long the frame is shown.
	Duration time.Duration
}

// NoPTS marks a frame whose presentation time the encoder should assign:
// one frame interval after the previous frame.
const NoPTS = time.Duration(-1 << 63)
