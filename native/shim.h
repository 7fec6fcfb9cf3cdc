// Small C helpers for what Go cannot do without a copy or a cgo pointer
// violation. Each is a thin wrapper; ownership stays with the caller.
#ifndef MEDIA_SERVICE_NATIVE_SHIM_H
#define MEDIA_SERVICE_NATIVE_SHIM_H

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/frame.h>
#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

// ms_convert converts one packed picture at src (Go memory, read during the
// call only) into dst's planes, which keep their size. *ctx is a cached
// SwsContext owned by the caller (sws_freeContext frees it); it is created or
// replaced as the source geometry requires. Returns 0 or a negative AVERROR.
int ms_convert(struct SwsContext **ctx, const uint8_t *src, int src_stride,
               int src_w, int src_h, enum AVPixelFormat src_fmt, AVFrame *dst);

// ms_sws is a SwsContext cached for one conversion: the source and
// destination geometry and formats, and the source's range. It lives in
// the caller's memory (it holds no Go pointer); zero it to start, and free
// its context with ms_sws_free.
typedef struct ms_sws {
	struct SwsContext *ctx;
	int src_w, src_h, src_fmt, src_full;
	int dst_w, dst_h, dst_fmt;
} ms_sws;

void ms_sws_free(ms_sws *s);

// ms_convert_frame converts src's picture (any system-memory format
// libswscale reads, at any size) into dst's size and format, with the
// context cached in *s, which it creates or replaces as src's geometry
// requires. A full-range source (yuvj420p, or color_range JPEG) becomes
// limited range, what the encoders signal. It copies src's properties
// (pts, duration, pict_type, side data) to dst, whose colour range and
// space it then sets to BT.601 limited. Returns 0 or a negative AVERROR.
int ms_convert_frame(ms_sws *s, const AVFrame *src, AVFrame *dst);

// ms_needs_convert reports whether src must go through ms_convert_frame to
// become a frame of format fmt: another format, or full range.
int ms_needs_convert(const AVFrame *src, enum AVPixelFormat fmt);

// ms_want_format makes ctx's get_format callback pick fmt among the formats
// the decoder offers and fail (AV_PIX_FMT_NONE, with an error logged) when
// fmt is not among them, so that a hardware decoder never falls back to
// software decoding behind the caller's back. fmt is kept in ctx->opaque.
void ms_want_format(AVCodecContext *ctx, enum AVPixelFormat fmt);

// ms_frames_ctx returns the hardware frames context of a frame, or NULL.
static inline AVHWFramesContext *ms_frames_ctx(const AVFrame *f) {
	return f->hw_frames_ctx ? (AVHWFramesContext *)f->hw_frames_ctx->data : NULL;
}

// Log routing. ms_log_install makes ms_log_callback FFmpeg's log callback
// (av_log_set_callback); it stays installed for the life of the process.
// What the callback does with a line depends on the flags:
//   - without MS_LOG_GO it passes the line to av_log_default_callback,
//     FFmpeg's own stderr output;
//   - with MS_LOG_GO it hands lines at or below av_log_get_level() to Go
//     (goNativeLog) for the slog logger instead;
//   - with MS_LOG_CAPTURE it also hands warnings and errors, whatever the
//     log level, to Go, which keeps those of the threads being captured.
enum {
	MS_LOG_GO      = 1,
	MS_LOG_CAPTURE = 2,
};
void ms_log_install(void);
void ms_log_set_flags(int flags);

#endif
