//go:build !cgo

package native

import (
	"fmt"
	"image"
	"log/slog"
	"sync/atomic"
	"time"
)

// Available reports whether FFmpeg is linked into this binary.
const Available = false

// FFmpegVersion returns "" without cgo.
func FFmpegVersion() string { return "" }

// LibraryVersions returns nil without cgo.
func LibraryVersions() map[string]string { return nil }

// VideoEncoders returns nil without cgo.
func VideoEncoders() []string { return nil }

// VideoDecoders returns nil without cgo.
func VideoDecoders() []string { return nil }

// HardwareAccels returns nil without cgo.
func HardwareAccels(decoder string) []string { return nil }

// FramePool is unavailable without cgo.
type FramePool struct{}

// NewFramePool returns ErrUnavailable without cgo.
func NewFramePool(width, height int, format PixelFormat, max int) (*FramePool, error) {
	return nil, ErrUnavailable
}

func (p *FramePool) Width() int           { return 0 }
func (p *FramePool) Height() int          { return 0 }
func (p *FramePool) Format() PixelFormat  { return PixelFormatNone }
func (p *FramePool) Get() (*Frame, error) { return nil, ErrUnavailable }
func (p *FramePool) Close() error         { return nil }

// Frame is unavailable without cgo.
type Frame struct{ PTS time.Duration }

func (f *Frame) Release()            {}
func (f *Frame) Width() int          { return 0 }
func (f *Frame) Height() int         { return 0 }
func (f *Frame) Format() PixelFormat { return PixelFormatNone }
func (f *Frame) Plane(i int) []byte  { return nil }
func (f *Frame) Stride(i int) int    { return 0 }
func (f *Frame) WritePacked(src []byte, width, height, stride int, format PixelFormat) error {
	return ErrUnavailable
}
func (f *Frame) Ref() (*Frame, error) { return nil, ErrUnavailable }
func (f *Frame) Hardware() string     { return "" }
func (f *Frame) Download() error      { return ErrUnavailable }

// RGBA returns ErrUnavailable without cgo.
func (f *Frame) RGBA(width, height int) (*image.RGBA, error) { return nil, ErrUnavailable }

// VideoDecoder is unavailable without cgo.
type VideoDecoder struct{}

// NewVideoDecoder returns ErrUnavailable without cgo.
func NewVideoDecoder(o DecoderOptions) (*VideoDecoder, error) { return nil, ErrUnavailable }

func (d *VideoDecoder) Backend() string                               { return "" }
func (d *VideoDecoder) Decode(au []byte, fn func(*Frame) error) error { return ErrUnavailable }
func (d *VideoDecoder) DecodeAt(au []byte, pts time.Duration, fn func(*Frame) error) error {
	return ErrUnavailable
}
func (d *VideoDecoder) Flush(fn func(*Frame) error) error { return ErrUnavailable }
func (d *VideoDecoder) Close() error                      { return nil }

// Scaler is unavailable without cgo.
type Scaler struct{}

// NewScaler returns ErrUnavailable without cgo.
func NewScaler(width, height int, format PixelFormat, poolFrames int) (*Scaler, error) {
	return nil, ErrUnavailable
}

func (s *Scaler) Width() int                       { return 0 }
func (s *Scaler) Height() int                      { return 0 }
func (s *Scaler) Format() PixelFormat              { return PixelFormatNone }
func (s *Scaler) Scale(src *Frame) (*Frame, error) { return nil, ErrUnavailable }
func (s *Scaler) Close() error                     { return nil }
func (s *Scaler) String() string                   { return "scaler (unavailable without cgo)" }

// Encoder is unavailable without cgo.
type Encoder struct{}

// NewEncoder returns ErrUnavailable without cgo.
func NewEncoder(opts Options) (*Encoder, error) { return nil, ErrUnavailable }

func (e *Encoder) Options() Options                               { return Options{} }
func (e *Encoder) Name() string                                   { return "" }
func (e *Encoder) MediaCodec() string                             { return "" }
func (e *Encoder) InputFormat() PixelFormat                       { return PixelFormatNone }
func (e *Encoder) ForceKeyFrame() error                           { return ErrUnavailable }
func (e *Encoder) SetBitRate(bps int) error                       { return ErrUnavailable }
func (e *Encoder) Encode(f *Frame, emit func(Packet) error) error { return ErrUnavailable }
func (e *Encoder) Flush(emit func(Packet) error) error            { return ErrUnavailable }
func (e *Encoder) Close() error                                   { return nil }

// Decoder is unavailable without cgo.
type Decoder struct{}

// NewDecoder returns ErrUnavailable without cgo.
func NewDecoder(name string) (*Decoder, error) { return nil, ErrUnavailable }

func (d *Decoder) Decode(data []byte, fn func(*Picture) error) error { return ErrUnavailable }
func (d *Decoder) Flush(fn func(*Picture) error) error               { return ErrUnavailable }
func (d *Decoder) Close() error                                      { return nil }

// Muxer is unavailable without cgo: recordings need FFmpeg's muxers.
type Muxer struct{}

// NewMuxer returns an error wrapping ErrUnavailable without cgo.
func NewMuxer(o MuxerOptions) (*Muxer, error) {
	return nil, fmt.Errorf("%w: recording needs FFmpeg's mp4 and webm muxers", ErrUnavailable)
}

func (m *Muxer) Options() MuxerOptions { return MuxerOptions{} }
func (m *Muxer) WritePacket(data []byte, pts, dts, duration time.Duration, keyFrame bool) error {
	return ErrUnavailable
}
func (m *Muxer) Flush() error   { return ErrUnavailable }
func (m *Muxer) Size() int64    { return 0 }
func (m *Muxer) Packets() int64 { return 0 }
func (m *Muxer) Close() error   { return nil }

// stubLogger is the logger SetLogger set: without FFmpeg, only the
// results of probes ([Prober]) are logged.
var stubLogger atomic.Pointer[slog.Logger]

// SetLogger sends the results of probes ([Prober]) to l at info level,
// one line each; without cgo there is no FFmpeg log to send.
func SetLogger(l *slog.Logger) { stubLogger.Store(l) }

func logger() *slog.Logger { return stubLogger.Load() }

// withLogCapture runs fn: without FFmpeg there is nothing to capture.
func withLogCapture(_ *lineSink, fn func() error) error { return fn() }
