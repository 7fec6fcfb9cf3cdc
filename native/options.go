package native

import (
	"fmt"
	"slices"
	"time"
)

// Codec names of the encoders this package opens.
const (
	CodecX264 = "libx264"
)

// x264Presets are libx264's presets, fastest first.
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
	// Codec is the libavcodec encoder name. Default libx264.
	Codec string
	// Width and Height of the frames, in pixels. Both must be even.
	Width, Height int
	// PixelFormat of the input frames: yuv420p (default) or nv12.
	PixelFormat PixelFormat
	// FrameRate is the nominal rate in frames per second (VIDEO_FRAMERATE).
	// Default 30. Frames may arrive at a variable rate; their PTS rules.
	FrameRate int
	// BitRate is the target rate in bits per second (VIDEO_BITRATE).
	// Default 2,000,000. It is also the VBV's maximum rate.
	BitRate int
	// VBVBuffer is the size of the VBV in time at BitRate. Default 500 ms.
	// A smaller buffer bounds the size of each frame more tightly, at some
	// cost in quality around keyframes.
	VBVBuffer time.Duration
	// Preset is libx264's preset (H264_PRESET). Default faster.
	Preset string
	// Profile limits the H.264 profile: baseline (default), main or high.
	Profile string
	// KeyFrameInterval is the maximum number of frames between IDRs.
	// Default two seconds of frames (2 × FrameRate).
	KeyFrameInterval int
	// Threads is the number of encoder threads; 0 lets libx264 choose.
	Threads int
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.Codec == "" {
		o.Codec = CodecX264
	}
	if o.PixelFormat == PixelFormatNone {
		o.PixelFormat = PixelFormatYUV420P
	}
	if o.FrameRate == 0 {
		o.FrameRate = 30
	}
	if o.BitRate == 0 {
		o.BitRate = 2_000_000
	}
	if o.VBVBuffer == 0 {
		o.VBVBuffer = 500 * time.Millisecond
	}
	if o.Preset == "" {
		o.Preset = "faster"
	}
	if o.Profile == "" {
		o.Profile = "baseline"
	}
	if o.KeyFrameInterval == 0 {
		o.KeyFrameInterval = 2 * o.FrameRate
	}
	return o
}

// Validate reports the first option that the encoder cannot take, naming the
// option and the values it allows.
func (o Options) Validate() error {
	if o.Codec != CodecX264 {
		return fmt.Errorf("%w: codec %q is not supported (want %s)", ErrInvalidOptions, o.Codec, CodecX264)
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
	if o.FrameRate < 1 || o.FrameRate > 240 {
		return fmt.Errorf("%w: frame rate %d out of range (1..240)", ErrInvalidOptions, o.FrameRate)
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
	if !slices.Contains(x264Profiles, o.Profile) {
		return fmt.Errorf("%w: profile %q unknown (want one of %v)", ErrInvalidOptions, o.Profile, x264Profiles)
	}
	if o.KeyFrameInterval < 1 {
		return fmt.Errorf("%w: keyframe interval %d must be at least 1 frame", ErrInvalidOptions, o.KeyFrameInterval)
	}
	if o.Threads < 0 || o.Threads > 64 {
		return fmt.Errorf("%w: threads %d out of range (0..64)", ErrInvalidOptions, o.Threads)
	}
	return nil
}

func validBitRate(bps int) error {
	if bps < 10_000 || bps > 200_000_000 {
		return fmt.Errorf("%w: bit rate %d b/s out of range (10000..200000000)", ErrInvalidOptions, bps)
	}
	return nil
}

// Packet is one encoded access unit.
type Packet struct {
	// Data is the access unit in Annex-B form. It is a view of C memory,
	// valid only during the callback that receives it.
	Data []byte
	// KeyFrame is set for an IDR, which the encoder precedes with SPS and PPS.
	KeyFrame bool
	// PTS is the presentation time of the frame the unit encodes.
	PTS time.Duration
	// Duration is how long the frame is shown.
	Duration time.Duration
}

// NoPTS marks a frame whose presentation time the encoder should assign:
// one frame interval after the previous frame.
const NoPTS = time.Duration(-1 << 63)
