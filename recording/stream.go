package recording

import (
	"bytes"
	"fmt"

	"github.com/cloudphone/media-service/capture/annexb"
	"github.com/cloudphone/media-service/media"
)

// params is what a segment's header is made of: the codec, the picture
// size and, for H.264, the SPS and PPS (Annex-B, start codes included).
type params struct {
	codec         media.Codec
	width, height int
	sets          []byte
}

func (p params) same(q params) bool {
	return p.codec == q.codec && p.width == q.width && p.height == q.height && bytes.Equal(p.sets, q.sets)
}

// keyParams reads a keyframe's parameters. An H.264 keyframe without SPS
// and PPS keeps those of prev (of the same codec); ok is false when none
// are known.
func keyParams(u media.Unit, prev params) (params, bool, error) {
	switch u.Codec {
	case media.H264:
		return h264Params(u.Data, prev)
	case media.VP8:
		w, h, err := vp8Size(u.Data)
		if err != nil {
			return params{}, false, err
		}
		return params{codec: media.VP8, width: w, height: h}, true, nil
	}
	return params{}, false, fmt.Errorf("codec %q cannot be recorded", u.Codec)
}

// h264Params returns the SPS and PPS of an access unit and the size its
// SPS says.
func h264Params(au []byte, prev params) (params, bool, error) {
	var sps, pps []byte
	for nal := range annexb.NALUnits(au) {
		switch annexb.NALType(nal) {
		case annexb.NALSPS:
			if sps == nil {
				sps = nal
			}
		case annexb.NALPPS:
			if pps == nil {
				pps = nal
			}
		}
	}
	if sps == nil || pps == nil {
		if prev.codec == media.H264 && prev.sets != nil {
			return prev, true, nil
		}
		return params{}, false, nil
	}
	s, err := annexb.ParseSPS(sps)
	if err != nil {
		return params{}, false, fmt.Errorf("keyframe SPS: %w", err)
	}
	sets := make([]byte, 0, 8+len(sps)+len(pps))
	sets = append(append(append(append(sets, 0, 0, 0, 1), sps...), 0, 0, 0, 1), pps...)
	return params{codec: media.H264, width: s.Width, height: s.Height, sets: sets}, true, nil
}

// stripParams returns au without its SPS, PPS and access unit delimiters
// (the segment's avcC holds the parameter sets); au itself when it has
// none.
func stripParams(au []byte) []byte {
	drop := false
	for nal := range annexb.NALUnits(au) {
		if t := annexb.NALType(nal); t == annexb.NALSPS || t == annexb.NALPPS || t == annexb.NALAUD {
			drop = true
			break
		}
	}
	if !drop {
		return au
	}
	out := make([]byte, 0, len(au))
	for nal := range annexb.NALUnits(au) {
		if t := annexb.NALType(nal); t == annexb.NALSPS || t == annexb.NALPPS || t == annexb.NALAUD {
			continue
		}
		out = append(append(out, 0, 0, 0, 1), nal...)
	}
	return out
}

// vp8Size reads a VP8 key frame's picture size (RFC 6386 9.1).
func vp8Size(f []byte) (int, int, error) {
	if len(f) < 10 || f[0]&1 != 0 {
		return 0, 0, fmt.Errorf("not a VP8 key frame")
	}
	if f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, fmt.Errorf("VP8 key frame without its start code")
	}
	w := int(f[6]) | int(f[7]&0x3f)<<8
	h := int(f[8]) | int(f[9]&0x3f)<<8
	if w == 0 || h == 0 {
		return 0, 0, fmt.Errorf("VP8 key frame of size %dx%d", w, h)
	}
	return w, h, nil
}
