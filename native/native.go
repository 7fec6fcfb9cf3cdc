//go:build cgo

package native

// The package's only #cgo directive: the FFmpeg libraries this package calls
// directly. go-astiav brings in the rest.

//#cgo pkg-config: libavcodec libavutil libswscale
//#include "shim.h"
import "C"

import (
	"fmt"

	"github.com/asticode/go-astiav"
)

// averr turns a negative AVERROR code into a Go error that errors.Is
// matches against go-astiav's sentinels (astiav.ErrEagain, ...).
func averr(code C.int) error {
	if code >= 0 {
		return nil
	}
	return astiav.Error(code)
}

// wrap adds context to a libavcodec error.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// errAgain and errEOF are the flow-control codes of the send/receive API.
var (
	errAgain = C.int(-C.EAGAIN)
	errEOF   = C.int(C.AVERROR_EOF)
)

// avPixFmt maps a PixelFormat to libavutil's enum.
func avPixFmt(p PixelFormat) (C.enum_AVPixelFormat, error) {
	switch p {
	case PixelFormatYUV420P:
		return C.AV_PIX_FMT_YUV420P, nil
	case PixelFormatNV12:
		return C.AV_PIX_FMT_NV12, nil
	case PixelFormatRGBA:
		return C.AV_PIX_FMT_RGBA, nil
	case PixelFormatBGRA:
		return C.AV_PIX_FMT_BGRA, nil
	case PixelFormatRGB24:
		return C.AV_PIX_FMT_RGB24, nil
	}
	return C.AV_PIX_FMT_NONE, fmt.Errorf("%w: pixel format %s", ErrInvalidOptions, p)
}

// pixelFormatFromAV maps libavutil's enum back; unknown formats map to
// PixelFormatNone.
func pixelFormatFromAV(f C.enum_AVPixelFormat) PixelFormat {
	switch f {
	case C.AV_PIX_FMT_YUV420P, C.AV_PIX_FMT_YUVJ420P:
		return PixelFormatYUV420P
	case C.AV_PIX_FMT_NV12:
		return PixelFormatNV12
	case C.AV_PIX_FMT_RGBA:
		return PixelFormatRGBA
	case C.AV_PIX_FMT_BGRA:
		return PixelFormatBGRA
	case C.AV_PIX_FMT_RGB24:
		return PixelFormatRGB24
	}
	return PixelFormatNone
}
