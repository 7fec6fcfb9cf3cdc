package encoder

import "github.com/cloudphone/media-service/native"

// H264Chain returns the H.264 encoders to try, best first: the probe's
// working ones (h264), with libx264 last, once. What a device encodes,
// and for whom, is decided by the device package from CAPTURE_MODE and
// VIDEO_ENCODER_TYPE; this is only the order of the H.264 candidates.
func H264Chain(h264 []string) []string {
	var out []string
	for _, n := range h264 {
		if n != native.CodecX264 {
			out = append(out, n)
		}
	}
	return append(out, native.CodecX264)
}
