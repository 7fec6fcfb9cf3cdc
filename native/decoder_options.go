package native

import (
	"fmt"
	"slices"
	"strings"
)

// Decoder backends: how a [VideoDecoder] decodes H.264.
const (
	// BackendAuto tries DecoderBackends in order and takes the first that
	// works, falling back along the chain when one fails (see
	// [VideoDecoder.Decode]).
	BackendAuto = "auto"
	// BackendNVDEC is NVIDIA's NVDEC through libavcodec's h264 decoder
	// with the nvdec hwaccel, on a CUDA device: "cuda" hardware frames.
	BackendNVDEC = "nvdec"
	// BackendCUVID is NVIDIA's NVDEC through the h264_cuvid decoder (its
	// own parser and surface queue), on a CUDA device: "cuda" hardware
	// frames. Only when named: BackendAuto uses BackendNVDEC.
	BackendCUVID = "cuvid"
	// BackendQSV is Intel Quick Sync Video (the h264_qsv decoder, through
	// oneVPL), with system-memory nv12 frames.
	BackendQSV = "qsv"
	// BackendVAAPI is VA-API through the h264 decoder's vaapi hwaccel, on
	// the DRM render node DecoderOptions.VAAPIDevice: "vaapi" hardware
	// frames.
	BackendVAAPI = "vaapi"
	// BackendSoftware is libavcodec's h264 decoder on the CPU.
	BackendSoftware = "software"
)

// DecoderBackends are the decoder backends that BackendAuto tries, and
// [Prober.Decoders] probes, in order of preference: the hardware ones
// first, software last.
var DecoderBackends = []string{BackendNVDEC, BackendQSV, BackendVAAPI, BackendSoftware}

// decoderBackendNames lists every backend NewVideoDecoder accepts.
func decoderBackendNames() []string {
	return []string{BackendAuto, BackendNVDEC, BackendCUVID, BackendQSV, BackendVAAPI, BackendSoftware}
}

// IsHardwareDecoder reports whether the named decoder backend runs on a
// GPU or a media engine, and so may be missing on a given machine.
func IsHardwareDecoder(backend string) bool {
	switch backend {
	case BackendNVDEC, BackendCUVID, BackendQSV, BackendVAAPI:
		return true
	}
	return false
}

// DecoderOptions configures a [VideoDecoder]. The zero value decodes
// H.264 with the first backend that works.
type DecoderOptions struct {
	// Codec is the stream's codec: DecoderH264 ("h264", the default), the
	// only one for now.
	Codec string
	// Backend is BackendAuto (the default, also for "") or one backend
	// by name: BackendNVDEC, BackendCUVID, BackendQSV, BackendVAAPI or
	// BackendSoftware. A named backend is used alone, without fallback.
	Backend string
	// VAAPIDevice is the DRM render node that BackendVAAPI opens. Default
	// /dev/dri/renderD128 ([DefaultVAAPIDevice]).
	VAAPIDevice string
	// Threads is the number of slice threads of the software decoder
	// (libavcodec's h264); 0 means 1. Frame threading, which delays every
	// picture by a frame per thread, is never used. The hardware backends
	// ignore it.
	Threads int
}

// WithDefaults returns o with every zero field set to its default.
func (o DecoderOptions) WithDefaults() DecoderOptions {
	if o.Codec == "" {
		o.Codec = DecoderH264
	}
	if o.Backend == "" {
		o.Backend = BackendAuto
	}
	if o.VAAPIDevice == "" {
		o.VAAPIDevice = DefaultVAAPIDevice
	}
	if o.Threads == 0 {
		o.Threads = 1
	}
	return o
}

// Validate reports the first option that the decoder cannot take.
func (o DecoderOptions) Validate() error {
	if o.Codec != DecoderH264 {
		return fmt.Errorf("%w: decoder codec %q is not supported (want %s)", ErrInvalidOptions, o.Codec, DecoderH264)
	}
	if !slices.Contains(decoderBackendNames(), o.Backend) {
		return fmt.Errorf("%w: decoder backend %q unknown (want one of %s)", ErrInvalidOptions, o.Backend, strings.Join(decoderBackendNames(), ", "))
	}
	if !strings.HasPrefix(o.VAAPIDevice, "/") {
		return fmt.Errorf("%w: VAAPI device %q must be the absolute path of a DRM render node (such as %s)", ErrInvalidOptions, o.VAAPIDevice, DefaultVAAPIDevice)
	}
	if o.Threads < 0 || o.Threads > 64 {
		return fmt.Errorf("%w: decoder threads %d out of range (0..64)", ErrInvalidOptions, o.Threads)
	}
	return nil
}

// chain returns the backends a decoder with these options tries, in order.
func (o DecoderOptions) chain() []string {
	if o.Backend == BackendAuto {
		return slices.Clone(DecoderBackends)
	}
	return []string{o.Backend}
}

// H.264 access units, as far as a decoder's fallback needs them.

// auInfo describes an Annex-B access unit: whether it holds an IDR slice,
// and its SPS and PPS NAL units (with start codes), if any.
type auInfo struct {
	idr    bool
	params []byte // SPS and PPS NAL units, each after a 4-byte start code
	hasSPS bool
}

// scanAU reads the NAL unit headers of an Annex-B access unit up to its
// first slice: parameter sets precede the slices, and the first slice
// says whether the picture is an IDR. The slices are not read.
func scanAU(au []byte) auInfo {
	var info auInfo
	for i := 0; ; {
		start, hdr := nextNAL(au, i)
		if start < 0 {
			return info
		}
		end, _ := nextNAL(au, hdr)
		if end < 0 {
			end = len(au)
		}
		switch au[hdr] & 0x1f {
		case 1, 2, 3, 4: // a non-IDR slice
			return info
		case 5:
			info.idr = true
			return info
		case 7, 8:
			info.hasSPS = info.hasSPS || au[hdr]&0x1f == 7
			nal := au[hdr:end]
			// Trailing zero bytes belong to the next start code.
			for len(nal) > 1 && nal[len(nal)-1] == 0 {
				nal = nal[:len(nal)-1]
			}
			info.params = append(append(info.params, 0, 0, 0, 1), nal...)
		}
		i = hdr
	}
}

// nextNAL finds the first start code (00 00 01) at or after i; it returns
// the start code's offset and that of the NAL header after it, or -1.
func nextNAL(b []byte, i int) (start, hdr int) {
	for ; i+3 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			start = i
			if i > 0 && b[i-1] == 0 {
				start = i - 1
			}
			return start, i + 3
		}
		if b[i+2] > 1 {
			i += 2 // no start code can begin at i+1 or i+2
		}
	}
	return -1, -1
}
