//go:build cgo

package native

//#include "shim.h"
import "C"

import (
	"fmt"
	"slices"

	"github.com/asticode/go-astiav"
)

// Available reports whether FFmpeg is linked into this binary.
const Available = true

// FFmpegVersion returns the version of the linked libavutil's FFmpeg
// release, as av_version_info reports it (for example "7.1.5").
func FFmpegVersion() string { return C.GoString(C.av_version_info()) }

// LibraryVersions returns the linked FFmpeg libraries' versions.
func LibraryVersions() map[string]string {
	v := func(n C.uint) string { return fmt.Sprintf("%d.%d.%d", n>>16, (n>>8)&0xff, n&0xff) }
	return map[string]string{
		"libavcodec": v(C.avcodec_version()),
		"libavutil":  v(C.avutil_version()),
		"libswscale": v(C.swscale_version()),
	}
}

// VideoEncoders returns the names of the video encoders compiled into the
// linked FFmpeg, sorted.
func VideoEncoders() []string {
	var out []string
	for _, c := range astiav.Codecs() {
		if c.IsEncoder() && c.ID().MediaType() == astiav.MediaTypeVideo {
			out = append(out, c.Name())
		}
	}
	slices.Sort(out)
	return out
}

// VideoDecoders returns the names of the video decoders compiled into the
// linked FFmpeg, sorted (h264, h264_cuvid, h264_qsv, ...).
func VideoDecoders() []string {
	var out []string
	for _, c := range astiav.Codecs() {
		if c.IsDecoder() && c.ID().MediaType() == astiav.MediaTypeVideo {
			out = append(out, c.Name())
		}
	}
	slices.Sort(out)
	return out
}

// HardwareAccels returns the hardware device types ("cuda", "vaapi",
// "qsv") that the named decoder can decode on through a device context, as
// compiled in: libavcodec's h264 lists one per hwaccel built. nil for a
// decoder that is not compiled in or has none.
func HardwareAccels(decoder string) []string {
	c := astiav.FindDecoderByName(decoder)
	if c == nil {
		return nil
	}
	var out []string
	for _, hc := range c.HardwareConfigs() {
		if hc.MethodFlags().Has(astiav.CodecHardwareConfigMethodFlagHwDeviceCtx) {
			out = append(out, hc.HardwareDeviceType().String())
		}
	}
	return out
}
