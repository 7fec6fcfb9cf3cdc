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

void ms_sws_free(ms_sws *s) {
	sws_freeContext(s->ctx);
	s->ctx = NULL;
}

// ms_unjpeg maps the deprecated full-range J formats to their plain
// equivalents, setting *full.
static enum AVPixelFormat ms_unjpeg(enum AVPixelFormat f, int *full) {
	switch (f) {
	case AV_PIX_FMT_YUVJ420P: *full = 1; return AV_PIX_FMT_YUV420P;
	case AV_PIX_FMT_YUVJ422P: *full = 1; return AV_PIX_FMT_YUV422P;
	case AV_PIX_FMT_YUVJ444P: *full = 1; return AV_PIX_FMT_YUV444P;
	case AV_PIX_FMT_YUVJ440P: *full = 1; return AV_PIX_FMT_YUV440P;
	case AV_PIX_FMT_YUVJ411P: *full = 1; return AV_PIX_FMT_YUV411P;
	default: return f;
	}
}

int ms_needs_convert(const AVFrame *src, enum AVPixelFormat fmt) {
	return src->format != fmt || src->color_range == AVCOL_RANGE_JPEG;
}

int ms_convert_frame(ms_sws *s, const AVFrame *src, AVFrame *dst) {
	int full = src->color_range == AVCOL_RANGE_JPEG;
	enum AVPixelFormat sf = ms_unjpeg(src->format, &full);
	int h, ret;

	if (!s->ctx || s->src_w != src->width || s->src_h != src->height ||
	    s->src_fmt != sf || s->src_full != full || s->dst_w != dst->width ||
	    s->dst_h != dst->height || s->dst_fmt != dst->format) {
		struct SwsContext *c;
		ms_sws_free(s);
		// The range must be known when the context is initialized: it
		// decides whether a plain copy may do (same format and size).
		if (!(c = sws_alloc_context()))
			return AVERROR(ENOMEM);
		if ((ret = av_opt_set_int(c, "srcw", src->width, 0)) < 0 ||
		    (ret = av_opt_set_int(c, "srch", src->height, 0)) < 0 ||
		    (ret = av_opt_set_int(c, "src_format", sf, 0)) < 0 ||
		    (ret = av_opt_set_int(c, "dstw", dst->width, 0)) < 0 ||
		    (ret = av_opt_set_int(c, "dsth", dst->height, 0)) < 0 ||
		    (ret = av_opt_set_int(c, "dst_format", dst->format, 0)) < 0 ||
		    (ret = av_opt_set_int(c, "sws_flags", SWS_BILINEAR, 0)) < 0 ||
		    (ret = av_opt_set_int(c, "src_range", full, 0)) < 0 ||
		    (ret = av_opt_set_int(c, "dst_range", 0, 0)) < 0 ||
		    (ret = sws_init_context(c, NULL, NULL)) < 0) {
			sws_freeContext(c);
			return ret < 0 ? ret : AVERROR(EINVAL);
		}
		s->ctx = c;
		s->src_w = src->width, s->src_h = src->height, s->src_fmt = sf, s->src_full = full;
		s->dst_w = dst->width, s->dst_h = dst->height, s->dst_fmt = dst->format;
	}
	h = sws_scale(s->ctx, (const uint8_t *const *)src->data, src->linesize,
	              0, src->height, dst->data, dst->linesize);
	if (h < 0)
		return h;
	ret = av_frame_copy_props(dst, src);
	dst->color_range = AVCOL_RANGE_MPEG;
	dst->colorspace = AVCOL_SPC_SMPTE170M;
	return ret < 0 ? ret : 0;
}

static enum AVPixelFormat ms_get_format(AVCodecContext *ctx, const enum AVPixelFormat *fmts) {
	enum AVPixelFormat want = (enum AVPixelFormat)(intptr_t)ctx->opaque;
	const enum AVPixelFormat *p;

	for (p = fmts; *p != AV_PIX_FMT_NONE; p++)
		if (*p == want)
			return want;
	av_log(ctx, AV_LOG_ERROR, "no %s output for this stream (the hardware decoder cannot take it)\n",
	       av_get_pix_fmt_name(want));
	return AV_PIX_FMT_NONE;
}

void ms_want_format(AVCodecContext *ctx, enum AVPixelFormat fmt) {
	ctx->opaque = (void *)(intptr_t)fmt;
	ctx->get_format = ms_get_format;
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
