package native

import (
	"errors"
	"fmt"
)

// MuxerOptions configures [NewMuxer].
type MuxerOptions struct {
	// Path is the file written; it is created, or truncated when it
	// exists. Its directory must exist.
	Path string
	// Codec is the stream's media codec: [MediaCodecH264] writes a
	// fragmented MP4 (mp4 muxer), [MediaCodecVP8] a WebM file (webm
	// muxer).
	Codec string
	// Width and Height are the picture's size, written in the header.
	Width, Height int
	// ParameterSets are, for H.264, the stream's SPS and PPS in Annex-B
	// form (each NAL unit after a start code), as they precede an IDR.
	// The mp4 muxer turns them into the avcC box (ff_isom_write_avcc)
	// and the Annex-B access units into length-prefixed samples. Required
	// for H.264; unused for VP8.
	ParameterSets []byte
}

// MuxerFormat returns the container a media codec is recorded in: "mp4"
// for H.264, "webm" for VP8, "" for any other.
func MuxerFormat(codec string) string {
	switch codec {
	case MediaCodecH264:
		return "mp4"
	case MediaCodecVP8:
		return "webm"
	}
	return ""
}

// MuxerExtension returns a recording file's extension for a media codec,
// with its dot: ".mp4" or ".webm" ("" for a codec that is not recorded).
func MuxerExtension(codec string) string {
	if f := MuxerFormat(codec); f != "" {
		return "." + f
	}
	return ""
}

// ErrMuxerNotFound is returned when the linked FFmpeg lacks the muxer or
// the file protocol (an FFmpeg built before third_party/build-ffmpeg.sh
// enabled them: rebuild it).
var ErrMuxerNotFound = errors.New("native: muxer not compiled into FFmpeg (rebuild it with third_party/build-ffmpeg.sh)")

// Validate reports the first option that a muxer cannot take.
func (o MuxerOptions) Validate() error {
	if o.Path == "" {
		return fmt.Errorf("%w: muxer: no path", ErrInvalidOptions)
	}
	if MuxerFormat(o.Codec) == "" {
		return fmt.Errorf("%w: muxer: codec %q (want %s or %s)", ErrInvalidOptions, o.Codec, MediaCodecH264, MediaCodecVP8)
	}
	if o.Width <= 0 || o.Height <= 0 || o.Width > 16384 || o.Height > 16384 {
		return fmt.Errorf("%w: muxer: size %dx%d out of range (1..16384 each)", ErrInvalidOptions, o.Width, o.Height)
	}
	if o.Codec == MediaCodecH264 && len(o.ParameterSets) == 0 {
		return fmt.Errorf("%w: muxer: H.264 needs the SPS and PPS (ParameterSets)", ErrInvalidOptions)
	}
	return nil
}
