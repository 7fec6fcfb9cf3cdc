//go:build cgo

package native

/*
#include "shim.h"

// ms_frame_to_rgba converts src's picture (any system-memory format
// libswscale reads) to packed RGBA at dst_w x dst_h into dst (Go memory,
// written during the call only), with a context made for the call: area
// averaging when the picture shrinks (a thumbnail), bilinear otherwise.
// The source's range (yuvj420p, or color_range JPEG) and its matrix
// (BT.709 when it says so, else BT.601) are honoured. Returns 0 or a
// negative AVERROR.
static int ms_frame_to_rgba(const AVFrame *src, uint8_t *dst, int dst_stride, int dst_w, int dst_h) {
	int full = src->color_range == AVCOL_RANGE_JPEG;
	enum AVPixelFormat sf = src->format;
	switch (sf) {
	case AV_PIX_FMT_YUVJ420P: full = 1; sf = AV_PIX_FMT_YUV420P; break;
	case AV_PIX_FMT_YUVJ422P: full = 1; sf = AV_PIX_FMT_YUV422P; break;
	case AV_PIX_FMT_YUVJ444P: full = 1; sf = AV_PIX_FMT_YUV444P; break;
	default: break;
	}
	int flags = (dst_w < src->width || dst_h < src->height) ? SWS_AREA : SWS_BILINEAR;
	struct SwsContext *c = sws_getContext(src->width, src->height, sf, dst_w, dst_h, AV_PIX_FMT_RGBA,
	                                      flags | SWS_ACCURATE_RND, NULL, NULL, NULL);
	if (!c)
		return AVERROR(EINVAL);
	int cs = SWS_CS_DEFAULT;
	if (src->colorspace == AVCOL_SPC_BT709)
		cs = SWS_CS_ITU709;
	sws_setColorspaceDetails(c, sws_getCoefficients(cs), full, sws_getCoefficients(SWS_CS_DEFAULT), 1,
	                         0, 1 << 16, 1 << 16);
	uint8_t *dst_data[4] = {dst, NULL, NULL, NULL};
	int dst_linesize[4] = {dst_stride, 0, 0, 0};
	int h = sws_scale(c, (const uint8_t *const *)src->data, src->linesize, 0, src->height, dst_data, dst_linesize);
	sws_freeContext(c);
	return h < 0 ? h : 0;
}
*/
import "C"

import (
	"fmt"
	"image"
	"unsafe"
)

// RGBA returns the frame's picture as a new RGBA image of width x height
// in Go memory, converted (and scaled when the size differs, by area
// averaging when it shrinks) with libswscale: a screenshot, or its
// thumbnail. Any size from 1x1 to 8192x8192 is taken, odd ones included.
// A hardware frame is downloaded first ([Frame.Download]). The frame stays
// the caller's, unchanged.
func (f *Frame) RGBA(width, height int) (*image.RGBA, error) {
	if f == nil || f.released || f.c == nil {
		return nil, ErrFrameReleased
	}
	if width <= 0 || height <= 0 || width > 8192 || height > 8192 {
		return nil, fmt.Errorf("%w: RGBA size %dx%d out of range (1..8192 each)", ErrInvalidOptions, width, height)
	}
	if err := f.Download(); err != nil {
		return nil, err
	}
	if f.width <= 0 || f.height <= 0 {
		return nil, fmt.Errorf("%w: the frame has no picture", ErrInvalidOptions)
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	code := C.ms_frame_to_rgba(f.c, (*C.uint8_t)(unsafe.Pointer(&img.Pix[0])), C.int(img.Stride), C.int(width), C.int(height))
	if code < 0 {
		return nil, wrap(averr(code), "native: convert %dx%d %s to %dx%d rgba", f.width, f.height, f.avFormatName(), width, height)
	}
	return img, nil
}
