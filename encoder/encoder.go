package encoder

import (
	"errors"
	"time"

	"github.com/cloudphone/media-service/native"
)

// Codec is a video codec on the wire.
type Codec string

// Codecs the service sends.
const (
	H264 Codec = "h264"
	VP8  Codec = "vp8"
)

// CodecOf returns the codec a libavcodec encoder produces.
func CodecOf(encoderName string) Codec {
	if encoderName == native.CodecVP8 {
		return VP8
	}
	return H264
}

// Unit is one encoded unit: an H.264 access unit in Annex-B form or a VP8
// frame. Its Data belongs to whoever receives the Unit.
type Unit struct {
	Data     []byte
	KeyFrame bool
	PTS      time.Duration
	Duration time.Duration
	Codec    Codec
	// Encoder names what produced the unit ("libx264", "passthrough", ...).
	Encoder string
}

// Encoder encodes raw frames. native.Encoder implements it; so do the
// test doubles that hang or fail on purpose.
type Encoder interface {
	// Encode takes ownership of f and calls emit for each packet ready.
	Encode(f *native.Frame, emit func(native.Packet) error) error
	// ForceKeyFrame makes the next output a keyframe.
	ForceKeyFrame() error
	// SetBitRate changes the target bit rate from the next frame.
	SetBitRate(bps int) error
	// Close frees the encoder; it is idempotent.
	Close() error
	// Name is the libavcodec encoder's name.
	Name() string
}

var _ Encoder = (*native.Encoder)(nil)

// Errors.
var (
	// ErrClosed is returned by a closed pipeline or pool.
	ErrClosed = errors.New("encoder: closed")
	// ErrNoEncoder is returned when every candidate encoder failed.
	ErrNoEncoder = errors.New("encoder: no encoder could be opened")
	// ErrUnsupported is returned for a control an encoder cannot honour
	// (the bit rate of pass-through H.264).
	ErrUnsupported = errors.New("encoder: not supported")
	// ErrConfig is returned for an encoder choice that cannot work with
	// the capture mode.
	ErrConfig = errors.New("encoder: invalid configuration")
)

// toUnit copies a packet into a Unit the receiver owns.
func toUnit(p native.Packet, name string) Unit {
	return Unit{
		Data:     append([]byte(nil), p.Data...),
		KeyFrame: p.KeyFrame,
		PTS:      p.PTS,
		Duration: p.Duration,
		Codec:    CodecOf(name),
		Encoder:  name,
	}
}
