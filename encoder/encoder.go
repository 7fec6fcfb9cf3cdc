package encoder

import (
	"errors"

	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// CodecOf returns the codec a libavcodec encoder produces.
func CodecOf(encoderName string) media.Codec {
	if native.MediaCodecOf(encoderName) == native.MediaCodecVP8 {
		return media.VP8
	}
	return media.H264
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
)

// toUnit copies a packet into a Unit the receiver owns.
func toUnit(p native.Packet, name string) media.Unit {
	return media.Unit{
		Data:     append([]byte(nil), p.Data...),
		KeyFrame: p.KeyFrame,
		PTS:      p.PTS,
		Duration: p.Duration,
		Codec:    CodecOf(name),
		Encoder:  name,
	}
}
