package media

import "time"

// Codec is a video codec on the wire.
type Codec string

// Codecs the service sends.
const (
	H264 Codec = "h264"
	VP8  Codec = "vp8"
)

// Format is what one encoded stream carries: its codec and, for H.264,
// the profile-level-id of its SPS ("42e01f"), as SDP names it.
type Format struct {
	Codec          Codec
	ProfileLevelID string
}

// Unit is one encoded unit: an H.264 access unit in Annex-B form or a VP8
// frame. Its Data belongs to whoever receives the Unit; a receiver that
// hands it on (the fan-out to its viewers) must not change it.
type Unit struct {
	Data     []byte
	KeyFrame bool
	// PTS is the unit's presentation time from the start of its stream,
	// strictly increasing.
	PTS      time.Duration
	Duration time.Duration
	Codec    Codec
	// Encoder names what produced the unit ("libx264", "passthrough", ...).
	Encoder string
	// Captured is when the picture (or, in pass-through, the unit's last
	// byte) arrived from the device; zero when unknown.
	Captured time.Time
}

// PassthroughEncoder names the "encoder" of units that the device encoded
// itself and the service passes through.
const PassthroughEncoder = "passthrough"

// Default bit rates, in bits per second: an encoder's start
// (VIDEO_BITRATE), and the range that viewers' bandwidth estimates move
// it in (MIN_BITRATE, MAX_BITRATE).
const (
	DefaultBitRate    = 2_000_000
	DefaultMinBitRate = 150_000
	DefaultMaxBitRate = 8_000_000
)

// Frame rates a stream may be set to (VIDEO_FRAMERATE), in frames per
// second; the configuration checks the range where the setting is read,
// and every component takes the same bounds from here.
const (
	MinFrameRate     = 1
	MaxFrameRate     = 240
	DefaultFrameRate = 30
)
