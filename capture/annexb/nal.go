package annexb

import (
	"bytes"
	"iter"
)

// NAL unit types (H.264 Table 7-1).
const (
	NALUnspecified   = 0  // unspecified
	NALSlice         = 1  // coded slice of a non-IDR picture
	NALSliceA        = 2  // coded slice data partition A
	NALSliceB        = 3  // coded slice data partition B
	NALSliceC        = 4  // coded slice data partition C
	NALIDR           = 5  // coded slice of an IDR picture
	NALSEI           = 6  // supplemental enhancement information
	NALSPS           = 7  // sequence parameter set
	NALPPS           = 8  // picture parameter set
	NALAUD           = 9  // access unit delimiter
	NALEndSeq        = 10 // end of sequence
	NALEndStream     = 11 // end of stream
	NALFiller        = 12 // filler data
	NALSPSExt        = 13 // sequence parameter set extension
	NALPrefix        = 14 // prefix NAL unit (SVC, MVC)
	NALSubsetSPS     = 15 // subset sequence parameter set
	NALDPS           = 16 // depth parameter set
	NALAuxSlice      = 19 // coded slice of an auxiliary coded picture
	NALSliceExt      = 20 // coded slice extension (SVC, MVC)
	NALSliceExtDepth = 21 // coded slice extension for a depth view
)

// startCode is the three-byte start code prefix, start_code_prefix_one_3bytes.
var startCode = []byte{0, 0, 1}

// NALType returns the nal_unit_type of nal, a NAL unit without its start
// code, or -1 if nal is empty.
func NALType(nal []byte) int {
	if len(nal) == 0 {
		return -1
	}
	return int(nal[0] & 0x1f)
}

// IsVCL reports whether NAL unit type t carries a coded slice of the primary
// picture (types 1 to 5).
func IsVCL(t int) bool { return t >= NALSlice && t <= NALIDR }

// beginsAccessUnit reports whether a NAL unit of type t, following a VCL NAL
// unit, starts a new access unit whatever its content (7.4.1.2.3): access
// unit delimiters, parameter sets, SEI and types 14 to 18.
func beginsAccessUnit(t int) bool {
	switch t {
	case NALSEI, NALSPS, NALPPS, NALAUD:
		return true
	}
	return t >= 14 && t <= 18
}

// NALUnits returns an iterator over the NAL units of b, an Annex-B buffer.
// Each NAL unit is yielded without its start code and without trailing zero
// bytes, as a subslice of b; empty NAL units and bytes before the first start
// code are skipped.
func NALUnits(b []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		i := bytes.Index(b, startCode)
		for i >= 0 {
			start := i + 3
			end := len(b)
			next := bytes.Index(b[start:], startCode)
			if next >= 0 {
				end = start + next
			}
			if nal := trimZeros(b[start:end]); len(nal) > 0 && !yield(nal) {
				return
			}
			if next < 0 {
				return
			}
			i = end
		}
	}
}

// trimZeros returns b without its trailing zero bytes. A NAL unit never ends
// with a zero byte (its last byte holds rbsp_stop_one_bit, or the 03 of an
// emulated cabac_zero_word), so trailing zeros are trailing_zero_8bits or the
// zero_byte of the next start code.
func trimZeros(b []byte) []byte {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return b[:n]
}

// AppendRBSP appends to dst the raw byte sequence payload of ebsp, which is
// NAL unit bytes with emulation prevention: every 03 that follows two zero
// bytes (00 00 03) is removed. It returns the extended buffer.
func AppendRBSP(dst, ebsp []byte) []byte {
	zeros := 0
	for len(ebsp) > 0 {
		if zeros >= 2 {
			if ebsp[0] == 3 {
				ebsp = ebsp[1:]
				zeros = 0
				continue
			}
		} else if zeros == 0 {
			i := bytes.Index(ebsp, startCode[:2])
			if i < 0 {
				// No 00 00 ahead: the rest needs no unescaping.
				return append(dst, ebsp...)
			}
			if i > 0 {
				// ebsp[i-1] is not zero, or 00 00 would start there.
				dst = append(dst, ebsp[:i]...)
				ebsp = ebsp[i:]
			}
		}
		c := ebsp[0]
		dst = append(dst, c)
		ebsp = ebsp[1:]
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}
