//go:build !cgo

package native

import (
	"log/slog"
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

// SetLogger does nothing without cgo.
func SetLogger(l *slog.Logger) {}

func logger() *slog.Logger { return nil }

// withLogCapture runs fn: without FFmpeg there is nothing to capture.
func withLogCapture(_ *lineSink, fn func() error) error { return fn() }
