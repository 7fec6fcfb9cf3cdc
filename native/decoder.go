//go:build cgo

package native

//#include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// Decoder is a libavcodec decoder for whole packets: H.264 access units in
// Annex-B form, PNG images or VP8 frames. It is safe for concurrent use, one
// call at a time.
type Decoder struct {
	name string

	mu     sync.Mutex
	cc     *astiav.CodecContext
	ccC    *C.AVCodecContext
	pkt    *C.AVPacket
	frame  *C.AVFrame
	closed bool
}

// NewDecoder opens the named decoder with low-delay settings: no frame
// threading, so each packet's picture comes out of the call that sent it.
func NewDecoder(name string) (_ *Decoder, err error) {
	c := astiav.FindDecoderByName(name)
	if c == nil {
		return nil, fmt.Errorf("native: decoder %q not compiled into FFmpeg", name)
	}
	d := &Decoder{name: name, cc: astiav.AllocCodecContext(c)}
	if d.cc == nil {
		return nil, errors.New("native: allocate codec context: out of memory")
	}
	defer func() {
		if err != nil {
			d.free()
		}
	}()
	d.ccC = (*C.AVCodecContext)(d.cc.UnsafePointer())
	d.cc.SetFlags(d.cc.Flags().Add(astiav.CodecContextFlagLowDelay))
	d.cc.SetThreadType(astiav.ThreadTypeSlice)
	if err := d.cc.Open(c, nil); err != nil {
		return nil, wrap(err, "native: open decoder %s", name)
	}
	if d.pkt = C.av_packet_alloc(); d.pkt == nil {
		return nil, errors.New("native: allocate packet: out of memory")
	}
	if d.frame = C.av_frame_alloc(); d.frame == nil {
		return nil, errors.New("native: allocate frame: out of memory")
	}
	return d, nil
}

// Decode sends one packet and calls fn for each picture it completes. data
// is copied into a padded AVPacket, as the decoders require.
func (d *Decoder) Decode(data []byte, fn func(*Picture) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if len(data) == 0 {
		return nil
	}
	if code := C.av_new_packet(d.pkt, C.int(len(data))); code < 0 {
		return wrap(averr(code), "native: allocate %d-byte packet", len(data))
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(d.pkt.data)), len(data)), data)
	code := C.avcodec_send_packet(d.ccC, d.pkt)
	C.av_packet_unref(d.pkt)
	if code < 0 && code != errAgain {
		return wrap(averr(code), "native: %s decode", d.name)
	}
	return d.receive(fn)
}

// Flush returns the pictures the decoder still holds. The decoder takes no
// packets after Flush.
func (d *Decoder) Flush(fn func(*Picture) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if code := C.avcodec_send_packet(d.ccC, nil); code < 0 && code != errEOF {
		return wrap(averr(code), "native: %s flush", d.name)
	}
	return d.receive(fn)
}

func (d *Decoder) receive(fn func(*Picture) error) error {
	for {
		code := C.avcodec_receive_frame(d.ccC, d.frame)
		if code == errAgain || code == errEOF {
			return nil
		}
		if code < 0 {
			return wrap(averr(code), "native: %s receive frame", d.name)
		}
		pic := d.picture()
		err := fn(&pic)
		C.av_frame_unref(d.frame)
		if err != nil {
			return err
		}
	}
}

func (d *Decoder) picture() Picture {
	f := d.frame
	pic := Picture{
		Width:    int(f.width),
		Height:   int(f.height),
		AVFormat: int(f.format),
		Format:   pixelFormatFromAV(C.enum_AVPixelFormat(f.format)),
		KeyFrame: f.flags&C.AV_FRAME_FLAG_KEY != 0,
	}
	desc := C.av_pix_fmt_desc_get(C.enum_AVPixelFormat(f.format))
	for i := range pic.Planes {
		if f.data[i] == nil || f.linesize[i] <= 0 {
			continue
		}
		rows := pic.Height
		if i > 0 && desc != nil && desc.flags&C.AV_PIX_FMT_FLAG_RGB == 0 {
			// chroma planes: ceil(height / 2^log2_chroma_h)
			rows = (pic.Height + (1 << desc.log2_chroma_h) - 1) >> desc.log2_chroma_h
		}
		pic.Strides[i] = int(f.linesize[i])
		pic.Planes[i] = unsafe.Slice((*byte)(unsafe.Pointer(f.data[i])), pic.Strides[i]*rows)
	}
	return pic
}

// Close frees the decoder. It is idempotent.
func (d *Decoder) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.free()
	return nil
}

func (d *Decoder) free() {
	if d.frame != nil {
		C.av_frame_free(&d.frame)
	}
	if d.pkt != nil {
		C.av_packet_free(&d.pkt)
	}
	if d.cc != nil {
		d.cc.Free()
		d.cc, d.ccC = nil, nil
	}
}
