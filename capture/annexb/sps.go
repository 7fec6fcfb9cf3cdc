package annexb

import "fmt"

// SPS holds the fields of a sequence parameter set (H.264 7.3.2.1.1) that a
// streaming service needs: the picture size, profile and level, and the VUI
// timing, aspect ratio, colour and reordering information.
type SPS struct {
	ProfileIDC      uint8 // profile_idc: 66 Baseline, 77 Main, 100 High, ...
	ConstraintFlags uint8 // constraint_set0_flag..constraint_set5_flag and reserved_zero_2bits, as the byte after profile_idc
	LevelIDC        uint8 // level_idc: 10 × the level number (9 for level 1b in some profiles)
	ID              uint32

	ChromaFormatIDC          uint8 // 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4
	SeparateColourPlane      bool
	BitDepthLuma             uint8 // 8 to 14
	BitDepthChroma           uint8 // 8 to 14
	TransformBypass          bool  // qpprime_y_zero_transform_bypass_flag
	ScalingMatrixPresent     bool  // seq_scaling_matrix_present_flag
	Log2MaxFrameNum          uint8 // log2_max_frame_num_minus4 + 4
	PicOrderCntType          uint8 // 0, 1 or 2
	Log2MaxPicOrderCntLsb    uint8 // for PicOrderCntType 0
	DeltaPicOrderAlwaysZero  bool  // for PicOrderCntType 1
	NumRefFramesInPOCCycle   uint8 // for PicOrderCntType 1
	MaxNumRefFrames          uint32
	GapsInFrameNumAllowed    bool
	FrameMbsOnly             bool // false: the stream may code fields (interlaced)
	MbAdaptiveFrameField     bool // MBAFF
	Direct8x8Inference       bool
	WidthInMbs, HeightInMbs  int // coded size in macroblocks (HeightInMbs counts frame macroblock rows)
	CropLeft, CropRight      int // frame cropping in luma samples
	CropTop, CropBottom      int
	Width, Height            int // display size after frame cropping
	VUIPresent               bool
	AspectRatioIDC           uint8  // 0 unspecified, 1 square, ..., 255 SARWidth:SARHeight
	SARWidth, SARHeight      uint16 // sample aspect ratio, 0:0 if unspecified
	VideoFullRange           bool
	ColourPrimaries          uint8 // 2 (unspecified) unless signalled
	TransferCharacteristics  uint8 // 2 (unspecified) unless signalled
	MatrixCoefficients       uint8 // 2 (unspecified) unless signalled
	TimingInfoPresent        bool
	NumUnitsInTick           uint32
	TimeScale                uint32
	FixedFrameRate           bool
	NALHRD, VCLHRD           bool // nal_hrd_parameters_present_flag, vcl_hrd_parameters_present_flag
	PicStructPresent         bool
	BitstreamRestriction     bool
	MaxNumReorderFrames      uint32 // frames a decoder may hold back for reordering (B-frames); valid if BitstreamRestriction
	MaxDecFrameBuffering     uint32 // valid if BitstreamRestriction
	ChromaArrayType          uint8  // ChromaFormatIDC, or 0 with SeparateColourPlane
	CodedWidth, CodedHeight  int    // size in luma samples before cropping
	HighProfileFieldsPresent bool   // the SPS carries chroma_format_idc and the fields after it
}

// Limits beyond which ParseSPS reports a malformed SPS. The spec's own
// limits are tighter for sps_id, bit depths and the log2 fields; the picture
// size limit keeps every product in an int.
const (
	maxSPSID         = 31
	maxBitDepthMinus = 6
	maxLog2Minus4    = 12
	maxPOCCycle      = 255
	maxRefFrames     = 16
	maxSizeInMbs     = 1 << 12 // 65536 luma samples a side
)

// hasHighProfileFields reports whether an SPS of a profile carries
// chroma_format_idc, bit depths and scaling matrices.
func hasHighProfileFields(profile uint8) bool {
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// ParseSPS parses a sequence parameter set. nal is one NAL unit without its
// start code, header byte included, with emulation prevention bytes as they
// are in the stream; trailing zero bytes are allowed. It reports an error
// wrapping [ErrNotSPS], [ErrTruncated] or [ErrMalformed] for anything it
// cannot read; it never panics.
func ParseSPS(nal []byte) (SPS, error) {
	var s SPS
	nal = trimZeros(nal)
	if len(nal) == 0 {
		return s, fmt.Errorf("%w: empty nal unit", ErrTruncated)
	}
	if nal[0]&0x80 != 0 {
		return s, wrapMalformed("sps forbidden_zero_bit set")
	}
	if t := NALType(nal); t != NALSPS {
		return s, fmt.Errorf("%w: nal_unit_type %d", ErrNotSPS, t)
	}
	var scratch [128]byte
	r := bitReader{b: AppendRBSP(scratch[:0], nal[1:])}
	if err := s.parse(&r); err != nil {
		return SPS{}, err
	}
	return s, nil
}

// parse reads the SPS body from r, positioned after the NAL header.
func (s *SPS) parse(r *bitReader) error {
	s.ProfileIDC = uint8(r.u(8))
	s.ConstraintFlags = uint8(r.u(8))
	s.LevelIDC = uint8(r.u(8))
	s.ID = r.ue()
	if err := check(r, "profile, level and id", s.ID <= maxSPSID); err != nil {
		return err
	}

	s.ChromaFormatIDC, s.BitDepthLuma, s.BitDepthChroma = 1, 8, 8
	if hasHighProfileFields(s.ProfileIDC) {
		s.HighProfileFieldsPresent = true
		cf := r.ue()
		if err := check(r, "chroma_format_idc", cf <= 3); err != nil {
			return err
		}
		s.ChromaFormatIDC = uint8(cf)
		if cf == 3 {
			s.SeparateColourPlane = r.flag()
		}
		luma, chroma := r.ue(), r.ue()
		if err := check(r, "bit depth", luma <= maxBitDepthMinus && chroma <= maxBitDepthMinus); err != nil {
			return err
		}
		s.BitDepthLuma, s.BitDepthChroma = uint8(luma+8), uint8(chroma+8)
		s.TransformBypass = r.flag()
		s.ScalingMatrixPresent = r.flag()
		if s.ScalingMatrixPresent {
			lists := 8
			if cf == 3 {
				lists = 12
			}
			for i := range lists {
				if r.flag() {
					size := 16
					if i >= 6 {
						size = 64
					}
					if err := skipScalingList(r, size); err != nil {
						return err
					}
				}
			}
		}
		if err := check(r, "scaling matrices", true); err != nil {
			return err
		}
	}
	s.ChromaArrayType = s.ChromaFormatIDC
	if s.SeparateColourPlane {
		s.ChromaArrayType = 0
	}

	frameNum := r.ue()
	if err := check(r, "log2_max_frame_num_minus4", frameNum <= maxLog2Minus4); err != nil {
		return err
	}
	s.Log2MaxFrameNum = uint8(frameNum + 4)
	poc := r.ue()
	if err := check(r, "pic_order_cnt_type", poc <= 2); err != nil {
		return err
	}
	s.PicOrderCntType = uint8(poc)
	switch poc {
	case 0:
		lsb := r.ue()
		if err := check(r, "log2_max_pic_order_cnt_lsb_minus4", lsb <= maxLog2Minus4); err != nil {
			return err
		}
		s.Log2MaxPicOrderCntLsb = uint8(lsb + 4)
	case 1:
		s.DeltaPicOrderAlwaysZero = r.flag()
		r.se() // offset_for_non_ref_pic
		r.se() // offset_for_top_to_bottom_field
		n := r.ue()
		if err := check(r, "num_ref_frames_in_pic_order_cnt_cycle", n <= maxPOCCycle); err != nil {
			return err
		}
		s.NumRefFramesInPOCCycle = uint8(n)
		for range n {
			r.se() // offset_for_ref_frame[i]
		}
	}

	s.MaxNumRefFrames = r.ue()
	if err := check(r, "max_num_ref_frames", s.MaxNumRefFrames <= maxRefFrames); err != nil {
		return err
	}
	s.GapsInFrameNumAllowed = r.flag()
	w, h := r.ue(), r.ue()
	if err := check(r, "picture size", w < maxSizeInMbs && h < maxSizeInMbs); err != nil {
		return err
	}
	s.FrameMbsOnly = r.flag()
	if !s.FrameMbsOnly {
		s.MbAdaptiveFrameField = r.flag()
	}
	s.Direct8x8Inference = r.flag()
	fieldFactor := 1
	if !s.FrameMbsOnly {
		fieldFactor = 2
	}
	s.WidthInMbs = int(w) + 1
	s.HeightInMbs = (int(h) + 1) * fieldFactor
	s.CodedWidth, s.CodedHeight = s.WidthInMbs*16, s.HeightInMbs*16

	// Crop units (7.4.2.1.1, equations 7-19 to 7-22).
	cropX, cropY := 1, fieldFactor
	if s.ChromaArrayType != 0 {
		subW, subH := 2, 2
		switch s.ChromaArrayType {
		case 2:
			subH = 1
		case 3:
			subW, subH = 1, 1
		}
		cropX, cropY = subW, subH*fieldFactor
	}
	if r.flag() { // frame_cropping_flag
		l, rt, t, b := r.ue(), r.ue(), r.ue(), r.ue()
		if err := check(r, "frame cropping", true); err != nil {
			return err
		}
		// Each offset is below 2^32 and each unit at most 4, so the sums fit
		// an int64; compare before narrowing.
		cw := int64(cropX) * (int64(l) + int64(rt))
		ch := int64(cropY) * (int64(t) + int64(b))
		if cw >= int64(s.CodedWidth) || ch >= int64(s.CodedHeight) {
			return wrapMalformed("sps frame cropping %d,%d,%d,%d leaves no picture of %dx%d", l, rt, t, b, s.CodedWidth, s.CodedHeight)
		}
		s.CropLeft, s.CropRight = cropX*int(l), cropX*int(rt)
		s.CropTop, s.CropBottom = cropY*int(t), cropY*int(b)
	}
	s.Width = s.CodedWidth - s.CropLeft - s.CropRight
	s.Height = s.CodedHeight - s.CropTop - s.CropBottom

	s.VUIPresent = r.flag()
	if err := check(r, "frame size", true); err != nil {
		return err
	}
	if s.VUIPresent {
		return s.parseVUI(r)
	}
	return nil
}

// parseVUI reads vui_parameters() (Annex E.1.1).
func (s *SPS) parseVUI(r *bitReader) error {
	s.ColourPrimaries, s.TransferCharacteristics, s.MatrixCoefficients = 2, 2, 2
	if r.flag() { // aspect_ratio_info_present_flag
		s.AspectRatioIDC = uint8(r.u(8))
		switch {
		case s.AspectRatioIDC == 255: // Extended_SAR
			s.SARWidth, s.SARHeight = uint16(r.u(16)), uint16(r.u(16))
		case int(s.AspectRatioIDC) < len(sampleAspectRatios):
			sar := sampleAspectRatios[s.AspectRatioIDC]
			s.SARWidth, s.SARHeight = sar[0], sar[1]
		}
	}
	if r.flag() { // overscan_info_present_flag
		r.flag() // overscan_appropriate_flag
	}
	if r.flag() { // video_signal_type_present_flag
		r.u(3) // video_format
		s.VideoFullRange = r.flag()
		if r.flag() { // colour_description_present_flag
			s.ColourPrimaries = uint8(r.u(8))
			s.TransferCharacteristics = uint8(r.u(8))
			s.MatrixCoefficients = uint8(r.u(8))
		}
	}
	if r.flag() { // chroma_loc_info_present_flag
		r.ue() // chroma_sample_loc_type_top_field
		r.ue() // chroma_sample_loc_type_bottom_field
	}
	s.TimingInfoPresent = r.flag()
	if s.TimingInfoPresent {
		s.NumUnitsInTick = r.u(32)
		s.TimeScale = r.u(32)
		s.FixedFrameRate = r.flag()
	}
	if err := check(r, "vui", true); err != nil {
		return err
	}
	s.NALHRD = r.flag()
	if s.NALHRD {
		if err := skipHRD(r); err != nil {
			return err
		}
	}
	s.VCLHRD = r.flag()
	if s.VCLHRD {
		if err := skipHRD(r); err != nil {
			return err
		}
	}
	if s.NALHRD || s.VCLHRD {
		r.flag() // low_delay_hrd_flag
	}
	s.PicStructPresent = r.flag()
	s.BitstreamRestriction = r.flag()
	if s.BitstreamRestriction {
		r.flag() // motion_vectors_over_pic_boundaries_flag
		r.ue()   // max_bytes_per_pic_denom
		r.ue()   // max_bits_per_mb_denom
		r.ue()   // log2_max_mv_length_horizontal
		r.ue()   // log2_max_mv_length_vertical
		s.MaxNumReorderFrames = r.ue()
		s.MaxDecFrameBuffering = r.ue()
	}
	return check(r, "vui", true)
}

// sampleAspectRatios is Table E-1, indexed by aspect_ratio_idc.
var sampleAspectRatios = [...][2]uint16{
	{0, 0}, {1, 1}, {12, 11}, {10, 11}, {16, 11}, {40, 33}, {24, 11}, {20, 11},
	{32, 11}, {80, 33}, {18, 11}, {15, 11}, {64, 33}, {160, 99}, {4, 3}, {3, 2}, {2, 1},
}

// skipHRD reads hrd_parameters() (Annex E.1.2).
func skipHRD(r *bitReader) error {
	n := r.ue() // cpb_cnt_minus1
	if err := check(r, "hrd cpb_cnt_minus1", n <= 31); err != nil {
		return err
	}
	r.u(4) // bit_rate_scale
	r.u(4) // cpb_size_scale
	for range n + 1 {
		r.ue()   // bit_rate_value_minus1
		r.ue()   // cpb_size_value_minus1
		r.flag() // cbr_flag
	}
	r.u(5) // initial_cpb_removal_delay_length_minus1
	r.u(5) // cpb_removal_delay_length_minus1
	r.u(5) // dpb_output_delay_length_minus1
	r.u(5) // time_offset_length
	return check(r, "hrd", true)
}

// skipScalingList reads scaling_list() (7.3.2.1.1.1) of size coefficients.
func skipScalingList(r *bitReader, size int) error {
	last, next := int32(8), int32(8)
	for j := 0; j < size && next != 0; j++ {
		delta := r.se()
		if r.fail != readOK {
			break
		}
		if delta < -128 || delta > 127 {
			return wrapMalformed("sps delta_scale %d out of range", delta)
		}
		next = (last + delta + 256) % 256
		if next != 0 {
			last = next
		}
	}
	return check(r, "scaling list", true)
}

// check turns the reader's error, or a failed range check, into an error
// naming the field.
func check(r *bitReader, field string, ok bool) error {
	switch r.fail {
	case readExhausted:
		return fmt.Errorf("%w: sps ends in %s", ErrTruncated, field)
	case readTooLong:
		return wrapMalformed("sps %s: exp-Golomb code longer than 32 bits", field)
	}
	if !ok {
		return wrapMalformed("sps %s out of range", field)
	}
	return nil
}

// FrameRate returns the frame rate the VUI timing signals, time_scale /
// (2 × num_units_in_tick), and whether the SPS signals one. For a stream that
// codes one frame per access unit this is frames per second; it is a maximum
// when FixedFrameRate is false.
func (s SPS) FrameRate() (float64, bool) {
	if !s.TimingInfoPresent || s.NumUnitsInTick == 0 || s.TimeScale == 0 {
		return 0, false
	}
	return float64(s.TimeScale) / (2 * float64(s.NumUnitsInTick)), true
}

// ProfileLevelID returns the SDP profile-level-id (RFC 6184 8.1): profile_idc,
// the constraint flags byte and level_idc as six lowercase hex digits, for
// example "42e01f".
func (s SPS) ProfileLevelID() string {
	const hex = "0123456789abcdef"
	b := [6]byte{
		hex[s.ProfileIDC>>4], hex[s.ProfileIDC&15],
		hex[s.ConstraintFlags>>4], hex[s.ConstraintFlags&15],
		hex[s.LevelIDC>>4], hex[s.LevelIDC&15],
	}
	return string(b[:])
}
