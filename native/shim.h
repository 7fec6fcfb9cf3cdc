// Small C helpers for what Go cannot do without a copy or a cgo pointer
// violation. Each is a thin wrapper; ownership stays with the caller.
#ifndef MEDIA_SERVICE_NATIVE_SHIM_H
#define MEDIA_SERVICE_NATIVE_SHIM_H

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

// ms_convert converts one packed picture at src (Go memory, read during the
// call only) into dst's planes, which keep their size. *ctx is a cached
// SwsContext owned by the caller (sws_freeContext frees it); it is created or
// replaced as the source geometry requires. Returns 0 or a negative AVERROR.
int ms_convert(struct SwsContext **ctx, const uint8_t *src, int src_stride,
               int src_w, int src_h, enum AVPixelFormat src_fmt, AVFrame *dst);

#endif
