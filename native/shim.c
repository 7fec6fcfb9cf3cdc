#include "shim.h"

int ms_convert(struct SwsContext **ctx, const uint8_t *src, int src_stride,
               int src_w, int src_h, enum AVPixelFormat src_fmt, AVFrame *dst) {
	const uint8_t *planes[4] = {src, NULL, NULL, NULL};
	const int strides[4] = {src_stride, 0, 0, 0};
	int h;

	*ctx = sws_getCachedContext(*ctx, src_w, src_h, src_fmt,
	                            dst->width, dst->height, dst->format,
	                            SWS_BILINEAR, NULL, NULL, NULL);
	if (!*ctx)
		return AVERROR(EINVAL);
	h = sws_scale(*ctx, planes, strides, 0, src_h, dst->data, dst->linesize);
	return h < 0 ? h : 0;
}
