//go:build cgo

package native

//#include "shim.h"
import "C"

import (
	"errors"
	"sync"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// Frames that reference another's buffer: a decoder's pictures and the
// references that Ref makes. Such a frame owns an AVFrame of its own (its
// pts, pict_type and the rest are its own), whose buffers are references
// to the shared picture: releasing it drops them, and the picture is freed
// with the last one. No pixel is copied to make or hand over such a frame.

// hwPicture is what the references to one hardware picture share: its
// download to system memory, made once by the first consumer that needs it
// and kept until the last reference is released.
type hwPicture struct {
	device string // "cuda" or "vaapi"

	mu   sync.Mutex
	refs int        // frames referencing the picture as a hardware frame
	sw   *C.AVFrame // the download, or nil
}

// drop gives up one reference; the last frees the download.
func (h *hwPicture) drop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refs--
	if h.refs == 0 && h.sw != nil {
		C.av_frame_free(&h.sw)
	}
}

// adoptFrame moves src's picture (av_frame_move_ref, no copy) into a new
// frame that the caller owns, leaving src blank. A picture in a hardware
// format becomes a hardware frame of device.
func adoptFrame(src *C.AVFrame, device string) (*Frame, error) {
	av := astiav.AllocFrame()
	if av == nil {
		C.av_frame_unref(src)
		return nil, errors.New("native: allocate frame: out of memory")
	}
	f := &Frame{av: av, c: (*C.AVFrame)(av.UnsafePointer()), PTS: NoPTS}
	C.av_frame_move_ref(f.c, src)
	if f.c.hw_frames_ctx != nil {
		f.hw = &hwPicture{device: device, refs: 1}
	}
	f.setView()
	return f, nil
}

// setView sets the frame's size, format and plane views from its AVFrame.
// A hardware frame has no planes.
func (f *Frame) setView() {
	c := f.c
	f.width, f.height = int(c.width), int(c.height)
	f.planes, f.strides = [3][]byte{}, [3]int{}
	avf := C.enum_AVPixelFormat(c.format)
	if fc := C.ms_frames_ctx(c); fc != nil {
		f.format = pixelFormatFromAV(fc.sw_format)
		return
	}
	f.format = pixelFormatFromAV(avf)
	desc := C.av_pix_fmt_desc_get(avf)
	if desc == nil {
		return
	}
	for i := range f.planes {
		if c.data[i] == nil || c.linesize[i] <= 0 {
			continue
		}
		rows := f.height
		if i > 0 && desc.flags&C.AV_PIX_FMT_FLAG_RGB == 0 {
			rows = (f.height + (1 << desc.log2_chroma_h) - 1) >> desc.log2_chroma_h
		}
		row := int(C.av_image_get_linesize(avf, c.width, C.int(i)))
		if rows <= 0 || row <= 0 {
			continue
		}
		// Up to the end of the last row's pixels: a cropped picture's
		// planes start inside the buffer, so stride*rows could run past it.
		f.strides[i] = int(c.linesize[i])
		f.planes[i] = unsafe.Slice((*byte)(unsafe.Pointer(c.data[i])), f.strides[i]*(rows-1)+row)
	}
}

// Ref returns another reference to the frame's picture, for a second
// consumer: no pixel is copied. Each reference is released on its own (or
// handed to Encoder.Encode, which releases it), in any order, and stays
// valid until then; the picture is freed with the last. The new frame
// starts with the same PTS. A pooled frame's buffer is not reused while a
// reference to it lives (the pool gives the next Get a new buffer).
//
// Frames that share a picture must not be written to: the pixels are the
// same memory.
func (f *Frame) Ref() (*Frame, error) {
	if f == nil || f.released || f.c == nil {
		return nil, ErrFrameReleased
	}
	av := astiav.AllocFrame()
	if av == nil {
		return nil, errors.New("native: allocate frame: out of memory")
	}
	r := &Frame{av: av, c: (*C.AVFrame)(av.UnsafePointer()), PTS: f.PTS}
	if code := C.av_frame_ref(r.c, f.c); code < 0 {
		av.Free()
		return nil, wrap(averr(code), "native: reference frame")
	}
	if f.hw != nil {
		f.hw.mu.Lock()
		f.hw.refs++
		f.hw.mu.Unlock()
		r.hw = f.hw
	}
	r.setView()
	return r, nil
}

// Hardware returns the device type of a hardware frame, whose picture is
// in a GPU's memory ("cuda" for NVDEC, "vaapi" for VA-API), or "" for a
// frame in system memory. A hardware frame has no planes until
// [Frame.Download].
func (f *Frame) Hardware() string {
	if f == nil || f.hw == nil {
		return ""
	}
	return f.hw.device
}

// Download makes a hardware frame a system-memory frame (nv12, as the
// hardware decoders produce), with av_hwframe_transfer_data. The picture
// is transferred once, by the first of the references that share it to
// call Download; the others reuse that copy. It does nothing to a
// system-memory frame. Encoder.Encode and Scaler.Scale call it when they
// cannot take the hardware frame as it is.
func (f *Frame) Download() error {
	if f == nil || f.released {
		return ErrFrameReleased
	}
	h := f.hw
	if h == nil {
		return nil
	}
	h.mu.Lock()
	if h.sw == nil {
		sw := C.av_frame_alloc()
		if sw == nil {
			h.mu.Unlock()
			return errors.New("native: allocate frame: out of memory")
		}
		code := C.av_hwframe_transfer_data(sw, f.c, 0)
		if code >= 0 {
			code = C.av_frame_copy_props(sw, f.c)
		}
		if code < 0 {
			C.av_frame_free(&sw)
			h.mu.Unlock()
			return wrap(averr(code), "native: download %dx%d %s frame", f.width, f.height, h.device)
		}
		h.sw = sw
	}
	// This frame now references the download instead of the surface.
	C.av_frame_unref(f.c)
	code := C.av_frame_ref(f.c, h.sw)
	h.mu.Unlock()
	h.drop()
	f.hw = nil
	if code < 0 {
		f.setView()
		return wrap(averr(code), "native: reference downloaded frame")
	}
	f.setView()
	return nil
}

// ptsFromAV converts a timestamp in the microsecond clock to a duration.
func ptsFromAV(ts C.int64_t) time.Duration {
	if ts == C.AV_NOPTS_VALUE {
		return NoPTS
	}
	return time.Duration(ts) * time.Microsecond
}

// ptsToAV converts a duration to the microsecond clock.
func ptsToAV(pts time.Duration) C.int64_t {
	if pts == NoPTS {
		return C.AV_NOPTS_VALUE
	}
	return C.int64_t(pts / time.Microsecond)
}

// sharesPicture reports whether f and g reference the same picture buffer.
func (f *Frame) sharesPicture(g *Frame) bool {
	return f.c != nil && g.c != nil && f.c.buf[0] != nil && g.c.buf[0] != nil &&
		f.c.buf[0].buffer == g.c.buf[0].buffer
}

// pictureRefs returns the number of references to f's first buffer: the
// frames that share it and what the decoder or encoder keeps.
func (f *Frame) pictureRefs() int {
	if f.c == nil || f.c.buf[0] == nil {
		return 0
	}
	return int(C.av_buffer_get_ref_count(f.c.buf[0]))
}

// avFormatName returns libavutil's name of f's AVFrame format.
func (f *Frame) avFormatName() string {
	return C.GoString(C.av_get_pix_fmt_name(C.enum_AVPixelFormat(f.c.format)))
}
