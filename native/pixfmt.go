package native

import "fmt"

// PixelFormat names the pixel layouts the service moves between capture,
// conversion and encoding.
type PixelFormat int

// Pixel formats. YUV420P and NV12 are encoder inputs; RGBA, BGRA and RGB24
// are the packed layouts that screen capture produces and [Frame.WritePacked]
// converts from.
const (
	PixelFormatNone PixelFormat = iota
	PixelFormatYUV420P
	PixelFormatNV12
	PixelFormatRGBA
	PixelFormatBGRA
	PixelFormatRGB24
)

// CaptureFormat is the pixel format that the capture sources fill their
// frames in (FramePools of yuv420p), and so what encoders are fed on the
// service path; the probe ([ProbeEncoder]) feeds it too. It is the default
// of [Options.PixelFormat].
const CaptureFormat = PixelFormatYUV420P

var pixelFormatNames = [...]string{
	PixelFormatNone:    "none",
	PixelFormatYUV420P: "yuv420p",
	PixelFormatNV12:    "nv12",
	PixelFormatRGBA:    "rgba",
	PixelFormatBGRA:    "bgra",
	PixelFormatRGB24:   "rgb24",
}

// String returns FFmpeg's name for the format.
func (p PixelFormat) String() string {
	if p < 0 || int(p) >= len(pixelFormatNames) {
		return fmt.Sprintf("PixelFormat(%d)", int(p))
	}
	return pixelFormatNames[p]
}

// BytesPerPixel returns the size of one pixel of a packed format, or 0 for a
// planar one.
func (p PixelFormat) BytesPerPixel() int {
	switch p {
	case PixelFormatRGBA, PixelFormatBGRA:
		return 4
	case PixelFormatRGB24:
		return 3
	}
	return 0
}

// Planar reports whether the format is one an encoder takes as input.
func (p PixelFormat) Planar() bool {
	return p == PixelFormatYUV420P || p == PixelFormatNV12
}

// ParsePixelFormat returns the format with FFmpeg's name s.
func ParsePixelFormat(s string) (PixelFormat, error) {
	for i, n := range pixelFormatNames {
		if i != int(PixelFormatNone) && n == s {
			return PixelFormat(i), nil
		}
	}
	return PixelFormatNone, fmt.Errorf("%w: unknown pixel format %q (want yuv420p, nv12, rgba, bgra or rgb24)", ErrInvalidOptions, s)
}
