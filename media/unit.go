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
