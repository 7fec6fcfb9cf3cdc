//go:build cgo

package native

//#include "shim.h"
import "C"

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// FramePool hands out AVFrames of one size and pixel format whose buffers
// live in C memory and are reused from frame to frame. Producers write into
// them in place; see the package documentation for the lifetime rules.
// A FramePool is safe for concurrent use.
type FramePool struct {
	width, height int
	format        PixelFormat
	avFormat      C.enum_AVPixelFormat
	max           int

	convMu sync.Mutex           // guards sws
	sws    *C.struct_SwsContext // conversion context, cached per source geometry

	mu       sync.Mutex
	free     []*Frame
	all      int // frames allocated and not yet freed
	isClosed bool
}

// Frame is a picture in C memory: a pooled frame that a producer fills
// ([FramePool.Get]), a decoded picture ([VideoDecoder.Decode]), a scaled
// one ([Scaler.Scale]) or another reference to any of them ([Frame.Ref]).
// Its planes are views of C memory, valid until the frame goes to
// Encoder.Encode or Release. A frame has one owner at a time; frames that
// share a picture (references) may be used from different goroutines, one
// each.
type Frame struct {
	// PTS is the frame's presentation time; Get sets it to NoPTS, a
	// decoder to the time its access unit was given.
	PTS time.Duration

	pool          *FramePool // nil for a reference to another's buffer
	av            *astiav.Frame
	c             *C.AVFrame
	width, height int
	format        PixelFormat // for a hardware frame, the format it downloads to
	hw            *hwPicture  // set while the frame is a hardware frame
	planes        [3][]byte
	strides       [3]int
	released      bool
}

// NewFramePool returns a pool of frames of the given size and planar format
// that holds at most max frames at once (0 means 8).
func NewFramePool(width, height int, format PixelFormat, max int) (*FramePool, error) {
	if width <= 0 || height <= 0 || width > 8192 || height > 8192 {
		return nil, fmt.Errorf("%w: frame size %dx%d out of range (1..8192 each)", ErrInvalidOptions, width, height)
	}
	if width%2 != 0 || height%2 != 0 {
		return nil, fmt.Errorf("%w: got %dx%d", ErrOddDimensions, width, height)
	}
	if !format.Planar() {
		return nil, fmt.Errorf("%w: pool format %s (want yuv420p or nv12)", ErrInvalidOptions, format)
	}
	avf, err := avPixFmt(format)
	if err != nil {
		return nil, err
	}
	if max <= 0 {
		max = 8
	}
	return &FramePool{width: width, height: height, format: format, avFormat: avf, max: max}, nil
}

func (p *FramePool) closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.isClosed
}

// Width returns the width of the pool's frames.
func (p *FramePool) Width() int { return p.width }

// Height returns the height of the pool's frames.
func (p *FramePool) Height() int { return p.height }

// Format returns the pixel format of the pool's frames.
func (p *FramePool) Format() PixelFormat { return p.format }

// Get returns a frame for one producer to fill. Its pixels hold whatever the
// previous user wrote. Get never blocks: with every frame in use it returns
// ErrPoolExhausted.
func (p *FramePool) Get() (*Frame, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed {
		return nil, ErrClosed
	}
	var f *Frame
	if n := len(p.free); n > 0 {
		f = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		if p.all >= p.max {
			return nil, fmt.Errorf("%w: %d frames in use", ErrPoolExhausted, p.all)
		}
		f = &Frame{pool: p, av: astiav.AllocFrame()}
		f.c = (*C.AVFrame)(f.av.UnsafePointer())
		p.all++
	}
	// An encoder may still hold a reference to the buffer (hardware
	// encoders can); then it gets a fresh one rather than being overwritten.
	if f.c.buf[0] == nil || C.av_frame_is_writable(f.c) == 0 {
		if err := f.allocBuffer(); err != nil {
			f.free()
			p.all--
			return nil, err
		}
	}
	f.PTS = NoPTS
	f.c.pict_type = C.AV_PICTURE_TYPE_NONE
	f.released = false
	return f, nil
}

func (f *Frame) allocBuffer() error {
	p := f.pool
	C.av_frame_unref(f.c)
	f.c.width = C.int(p.width)
	f.c.height = C.int(p.height)
	f.c.format = C.int(p.avFormat)
	f.width, f.height, f.format = p.width, p.height, p.format
	if code := C.av_frame_get_buffer(f.c, 0); code < 0 {
		return wrap(averr(code), "allocate %dx%d %s frame", p.width, p.height, p.format)
	}
	// BT.601 limited range, what swscale writes and the encoder signals.
	f.c.color_range = C.AVCOL_RANGE_MPEG
	f.c.colorspace = C.AVCOL_SPC_SMPTE170M
	for i := range f.planes {
		f.planes[i], f.strides[i] = nil, 0
		if f.c.data[i] == nil {
			continue
		}
		rows := p.height
		if i > 0 {
			rows = p.height / 2
		}
		f.strides[i] = int(f.c.linesize[i])
		f.planes[i] = unsafe.Slice((*byte)(unsafe.Pointer(f.c.data[i])), f.strides[i]*rows)
	}
	return nil
}

func (f *Frame) free() {
	f.av.Free()
	f.c = nil
	f.planes = [3][]byte{}
}

// Release gives the frame back to its pool without encoding it, or, for a
// decoded, scaled-through or referenced frame, drops this reference to its
// picture (the last reference frees it). Releasing twice is harmless.
func (f *Frame) Release() {
	if f == nil || f.released {
		return
	}
	f.released = true
	if f.hw != nil {
		f.hw.drop()
		f.hw = nil
	}
	p := f.pool
	if p == nil {
		f.free()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed {
		f.free()
		p.all--
		return
	}
	p.free = append(p.free, f)
}

// Close frees the frames in the pool. Frames still out are freed when they
// are released. Close is idempotent.
func (p *FramePool) Close() error {
	p.mu.Lock()
	if p.isClosed {
		p.mu.Unlock()
		return nil
	}
	p.isClosed = true
	for _, f := range p.free {
		f.free()
		p.all--
	}
	p.free = nil
	p.mu.Unlock()

	// Lock order: convMu is never taken while holding mu.
	p.convMu.Lock()
	C.sws_freeContext(p.sws)
	p.sws = nil
	p.convMu.Unlock()
	return nil
}

// Width returns the frame's width in pixels: its pool's, or the decoded
// picture's (which changes when the stream's size does).
func (f *Frame) Width() int { return f.width }

// Height returns the frame's height in pixels.
func (f *Frame) Height() int { return f.height }

// Format returns the frame's pixel format. A decoder's picture in a format
// this package has no name for is PixelFormatNone (Encode and Scale still
// convert it); a full-range yuvj420p picture is PixelFormatYUV420P. For a
// hardware frame it is the format the picture downloads to (nv12).
func (f *Frame) Format() PixelFormat { return f.format }

// Plane returns plane i (0: Y; 1: U, or interleaved UV for NV12; 2: V) as a
// view of the frame's C buffer: Stride(i) bytes per row, including padding.
// The slice is valid until the frame is encoded or released. It is nil for a
// plane the format does not have.
func (f *Frame) Plane(i int) []byte {
	if f.released || i < 0 || i >= len(f.planes) {
		return nil
	}
	return f.planes[i]
}

// Stride returns the number of bytes per row of plane i.
func (f *Frame) Stride(i int) int {
	if i < 0 || i >= len(f.strides) {
		return 0
	}
	return f.strides[i]
}

// WritePacked converts a packed RGBA, BGRA or RGB24 picture into the frame's
// planes with libswscale, scaling when its size differs from the frame's.
// src is read during the call only.
//
// Only a pooled frame can be written: a decoded or referenced frame shares
// its picture, and WritePacked refuses it.
func (f *Frame) WritePacked(src []byte, width, height, stride int, format PixelFormat) error {
	if f.released {
		return ErrFrameReleased
	}
	if f.pool == nil {
		return fmt.Errorf("%w: WritePacked into a decoded or referenced frame, which is read-only", ErrInvalidOptions)
	}
	bpp := format.BytesPerPixel()
	if bpp == 0 {
		return fmt.Errorf("%w: %s is not a packed RGB format (want rgba, bgra or rgb24)", ErrInvalidOptions, format)
	}
	if width <= 0 || height <= 0 || stride < width*bpp {
		return fmt.Errorf("%w: source %dx%d with stride %d", ErrInvalidOptions, width, height, stride)
	}
	if need := stride*(height-1) + width*bpp; len(src) < need {
		return fmt.Errorf("%w: source has %d bytes, %dx%d %s needs %d", ErrInvalidOptions, len(src), width, height, format, need)
	}
	avf, err := avPixFmt(format)
	if err != nil {
		return err
	}
	p := f.pool
	p.convMu.Lock()
	defer p.convMu.Unlock()
	if p.closed() {
		return ErrClosed
	}
	code := C.ms_convert(&p.sws, (*C.uint8_t)(unsafe.Pointer(&src[0])), C.int(stride),
		C.int(width), C.int(height), avf, f.c)
	return wrap(averr(code), "convert %dx%d %s to %s", width, height, format, f.pool.format)
}
