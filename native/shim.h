// Small C helpers for what Go cannot do without a copy or a cgo pointer
// violation. Each is a thin wrapper; ownership stays with the caller.
#ifndef MEDIA_SERVICE_NATIVE_SHIM_H
#define MEDIA_SERVICE_NATIVE_SHIM_H

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/frame.h>
#include <libavutil/hwcontext.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

// ms_convert converts one packed picture at src (Go memory, read during the
// call only) into dst's planes, which keep their size. *ctx is a cached
// SwsContext owned by the caller (sws_freeContext frees it); it is created or
// replaced as the source geometry requires. Returns 0 or a negative AVERROR.
int ms_convert(struct SwsContext **ctx, const uint8_t *src, int src_stride,
               int src_w, int src_h, enum AVPixelFormat src_fmt, AVFrame *dst);

// ms_convert_frame converts src's picture into dst, a frame of the same size
// in another planar format (YUV420P to NV12 or back), with the cached
// SwsContext *ctx as ms_convert does. It copies src's properties (pts,
// duration, pict_type, colour) to dst. Returns 0 or a negative AVERROR.
int ms_convert_frame(struct SwsContext **ctx, const AVFrame *src, AVFrame *dst);

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
