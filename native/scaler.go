//go:build cgo

package native

//#include "shim.h"
import "C"

import (
	"fmt"
	"sync"
)

// Scaler converts frames to one size and planar format with libswscale,
// into frames of its own pool: a quality rung's smaller picture, or a
// format an encoder needs. It is safe for concurrent use; the conversions
// run one at a time.
type Scaler struct {
	pool *FramePool
	avf  C.enum_AVPixelFormat

	mu     sync.Mutex // guards sws and closed
	sws    C.ms_sws   // cached per source geometry
	closed bool
}

// NewScaler returns a Scaler to width x height (even, as the encoders
// need) in format (yuv420p or nv12), whose results come from a pool of at
// most poolFrames frames (0 means 8) that are in use at once.
func NewScaler(width, height int, format PixelFormat, poolFrames int) (*Scaler, error) {
	pool, err := NewFramePool(width, height, format, poolFrames)
	if err != nil {
		return nil, err
	}
	avf, err := avPixFmt(format)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &Scaler{pool: pool, avf: avf}, nil
}

// Width returns the width of the frames the Scaler makes.
func (s *Scaler) Width() int { return s.pool.width }

// Height returns the height of the frames the Scaler makes.
func (s *Scaler) Height() int { return s.pool.height }

// Format returns the pixel format of the frames the Scaler makes.
func (s *Scaler) Format() PixelFormat { return s.pool.format }

// Scale returns src at the Scaler's size and format, as a new frame that
// the caller owns (release it, or hand it to Encoder.Encode), with src's
// PTS. src stays the caller's: Scale neither consumes nor changes its
// picture, except that a hardware frame is downloaded in place first
// ([Frame.Download]). libswscale runs only when something must change:
// a src already at the size and format, in limited range, comes back as
// another reference to its picture ([Frame.Ref]), without a copy. A
// full-range source (yuvj420p) is converted to limited range.
//
// The size is fixed: a source of another aspect ratio (a device that
// rotated) is stretched to it; make a Scaler for the new orientation.
func (s *Scaler) Scale(src *Frame) (*Frame, error) {
	if src == nil || src.released {
		return nil, ErrFrameReleased
	}
	if err := src.Download(); err != nil {
		return nil, err
	}
	if src.width == s.pool.width && src.height == s.pool.height && C.ms_needs_convert(src.c, s.avf) == 0 {
		return src.Ref()
	}
	dst, err := s.pool.Get()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		dst.Release()
		return nil, ErrClosed
	}
	if code := C.ms_convert_frame(&s.sws, src.c, dst.c); code < 0 {
		dst.Release()
		return nil, wrap(averr(code), "native: scale %dx%d %s to %dx%d %s", src.width, src.height,
			C.GoString(C.av_get_pix_fmt_name(C.enum_AVPixelFormat(src.c.format))), s.pool.width, s.pool.height, s.pool.format)
	}
	dst.PTS = src.PTS
	return dst, nil
}

// Close frees the Scaler and its pool; frames it made are freed when they
// are released. Close is idempotent.
func (s *Scaler) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		C.ms_sws_free(&s.sws)
	}
	s.mu.Unlock()
	return s.pool.Close()
}

// String describes the Scaler.
func (s *Scaler) String() string {
	return fmt.Sprintf("scaler to %dx%d %s", s.pool.width, s.pool.height, s.pool.format)
}
