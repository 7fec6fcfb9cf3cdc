#include "shim.h"

#include <stdatomic.h>
#include <stdio.h>

#include "_cgo_export.h"

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

int ms_convert_frame(struct SwsContext **ctx, const AVFrame *src, AVFrame *dst) {
	int h, ret;

	*ctx = sws_getCachedContext(*ctx, src->width, src->height, src->format,
	                            dst->width, dst->height, dst->format,
	                            SWS_BILINEAR, NULL, NULL, NULL);
	if (!*ctx)
		return AVERROR(EINVAL);
	h = sws_scale(*ctx, (const uint8_t *const *)src->data, src->linesize,
	              0, src->height, dst->data, dst->linesize);
	if (h < 0)
		return h;
	ret = av_frame_copy_props(dst, src);
	return ret < 0 ? ret : 0;
}

static atomic_int ms_log_flags;

static void ms_log_callback(void *avcl, int level, const char *fmt, va_list vl) {
	int flags = atomic_load_explicit(&ms_log_flags, memory_order_relaxed);
	int to_go, to_capture;
	const char *item = "";
	char msg[1024];

	if (!(flags & MS_LOG_GO)) {
		va_list copy;
		va_copy(copy, vl);
		av_log_default_callback(avcl, level, fmt, copy);
		va_end(copy);
	}
	to_go = (flags & MS_LOG_GO) && level <= av_log_get_level();
	to_capture = (flags & MS_LOG_CAPTURE) && level <= AV_LOG_WARNING;
	if (!to_go && !to_capture)
		return;
	vsnprintf(msg, sizeof msg, fmt, vl);
	if (avcl) {
		const AVClass *cls = *(const AVClass **)avcl;
		if (cls && cls->item_name)
			item = cls->item_name(avcl);
	}
	goNativeLog(level, (char *)item, msg, to_go, to_capture);
}

void ms_log_install(void) {
	av_log_set_callback(ms_log_callback);
}

void ms_log_set_flags(int flags) {
	atomic_store_explicit(&ms_log_flags, flags, memory_order_relaxed);
}
