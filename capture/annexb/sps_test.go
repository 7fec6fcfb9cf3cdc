package annexb

import (
	"bytes"
	"errors"
	"testing"
)

// spsSpec describes a sequence parameter set for the writer below, field by
// field in syntax order (H.264 7.3.2.1.1). Fields a profile does not code
// are ignored.
type spsSpec struct {
	profile, constraints, level uint8
	id                          uint64
	chroma                      uint64
	separate                    bool
	depthLuma, depthChroma      uint64 // minus 8
	bypass                      bool
	scaling                     [][]int64 // nil: no matrix; else per list nil (absent) or its delta_scale values
	frameNum                    uint64    // log2_max_frame_num_minus4
	poc                         uint64
	pocLsb                      uint64 // log2_max_pic_order_cnt_lsb_minus4
	pocAlwaysZero               bool
	pocNonRef, pocTopBottom     int64
	pocCycle                    []int64
	refs                        uint64
	gaps                        bool
	wMbs, hMapUnits             uint64 // minus 1
	fieldsAllowed               bool   // !frame_mbs_only_flag
	mbaff                       bool
	direct8x8                   bool
	crop                        []uint64 // left, right, top, bottom, or nil
	vui                         *vuiSpec
}

type vuiSpec struct {
	arIDC           uint8
	sarW, sarH      uint16
	overscan        bool
	signal          bool
	fullRange       bool
	colour          []uint8 // primaries, transfer, matrix, or nil
	chromaLoc       bool
	timing          bool
	tick, scale     uint32
	fixed           bool
	nalHRD, vclHRD  int // cpb_cnt_minus1 + 1, 0 for none
	picStruct       bool
	restriction     bool
	reorder, decBuf uint64
}

// rbsp writes the SPS payload (after the header byte) without trailing bits.
func (s spsSpec) write(w *bitWriter) {
	w.u(8, uint64(s.profile))
	w.u(8, uint64(s.constraints))
	w.u(8, uint64(s.level))
	w.ue(s.id)
	if hasHighProfileFields(s.profile) {
		w.ue(s.chroma)
		if s.chroma == 3 {
			w.flag(s.separate)
		}
		w.ue(s.depthLuma)
		w.ue(s.depthChroma)
		w.flag(s.bypass)
		w.flag(s.scaling != nil)
		if s.scaling != nil {
			n := 8
			if s.chroma == 3 {
				n = 12
			}
			for i := range n {
				var list []int64
				if i < len(s.scaling) {
					list = s.scaling[i]
				}
				w.flag(list != nil)
				for _, d := range list {
					w.se(d)
				}
			}
		}
	}
	w.ue(s.frameNum)
	w.ue(s.poc)
	switch s.poc {
	case 0:
		w.ue(s.pocLsb)
	case 1:
		w.flag(s.pocAlwaysZero)
		w.se(s.pocNonRef)
		w.se(s.pocTopBottom)
		w.ue(uint64(len(s.pocCycle)))
		for _, o := range s.pocCycle {
			w.se(o)
		}
	}
	w.ue(s.refs)
	w.flag(s.gaps)
	w.ue(s.wMbs)
	w.ue(s.hMapUnits)
	w.flag(!s.fieldsAllowed)
	if s.fieldsAllowed {
		w.flag(s.mbaff)
	}
	w.flag(s.direct8x8)
	w.flag(s.crop != nil)
	for _, c := range s.crop {
		w.ue(c)
	}
	w.flag(s.vui != nil)
	if v := s.vui; v != nil {
		w.flag(v.arIDC != 0)
		if v.arIDC != 0 {
			w.u(8, uint64(v.arIDC))
			if v.arIDC == 255 {
				w.u(16, uint64(v.sarW))
				w.u(16, uint64(v.sarH))
			}
		}
		w.flag(v.overscan)
		if v.overscan {
			w.flag(true)
		}
		w.flag(v.signal)
		if v.signal {
			w.u(3, 5)
			w.flag(v.fullRange)
			w.flag(v.colour != nil)
			for _, c := range v.colour {
				w.u(8, uint64(c))
			}
		}
		w.flag(v.chromaLoc)
		if v.chromaLoc {
			w.ue(1)
			w.ue(1)
		}
		w.flag(v.timing)
		if v.timing {
			w.u(32, uint64(v.tick))
			w.u(32, uint64(v.scale))
			w.flag(v.fixed)
		}
		for _, n := range []int{v.nalHRD, v.vclHRD} {
			w.flag(n > 0)
			if n > 0 {
				w.ue(uint64(n - 1))
				w.u(4, 2)
				w.u(4, 3)
				for i := range n {
					w.ue(uint64(1000 * (i + 1)))
					w.ue(uint64(4000 * (i + 1)))
					w.flag(i == 0)
				}
				w.u(5, 23)
				w.u(5, 23)
				w.u(5, 23)
				w.u(5, 24)
			}
		}
		if v.nalHRD > 0 || v.vclHRD > 0 {
			w.flag(false) // low_delay_hrd_flag
		}
		w.flag(v.picStruct)
		w.flag(v.restriction)
		if v.restriction {
			w.flag(true)
			w.ue(2)
			w.ue(1)
			w.ue(16)
			w.ue(16)
			w.ue(v.reorder)
			w.ue(v.decBuf)
		}
	}
}

// nal returns the SPS NAL unit, escaped.
func (s spsSpec) nal() []byte {
	var w bitWriter
	s.write(&w)
	return nalUnit(NALSPS, w.trailing())
}

// flat16 and flat64 are delta_scale lists that code every coefficient.
var (
	flat16 = append([]int64{8}, make([]int64, 15)...)
	ramp64 = func() []int64 {
		d := make([]int64, 64)
		for i := range d {
			d[i] = int64(i%7) - 3 // stays away from zero
		}
		d[0] = 20
		d[10] = 127
		d[11] = -128
		return d
	}()
)

type spsCase struct {
	name string
	nal  []byte
	want SPS
}

// spsCases are synthetic SPSs covering what the x264 streams in testdata do
// not: pic_order_cnt_type 1, scaling matrices, monochrome, separate colour
// planes, field coding with cropping, and a full VUI with HRD parameters.
// Each NAL unit was checked once against FFmpeg 5.1's reading of it (the
// trace_headers bitstream filter, with the SPS spliced into a real stream),
// which printed the same syntax element values.
var spsCases = []spsCase{
	{
		name: "baseline 1280x720 poc type 1",
		nal: spsSpec{
			profile: 66, constraints: 0xe0, level: 31, poc: 1, pocAlwaysZero: false,
			pocNonRef: -2, pocTopBottom: 1, pocCycle: []int64{2, -2, 4}, refs: 1,
			wMbs: 79, hMapUnits: 44, direct8x8: true,
		}.nal(),
		want: SPS{
			ProfileIDC: 66, ConstraintFlags: 0xe0, LevelIDC: 31, ChromaFormatIDC: 1, ChromaArrayType: 1,
			BitDepthLuma: 8, BitDepthChroma: 8, Log2MaxFrameNum: 4, PicOrderCntType: 1,
			NumRefFramesInPOCCycle: 3, MaxNumRefFrames: 1, FrameMbsOnly: true, Direct8x8Inference: true,
			WidthInMbs: 80, HeightInMbs: 45, CodedWidth: 1280, CodedHeight: 720, Width: 1280, Height: 720,
		},
	},
	{
		name: "high 4:4:4 scaling matrices, 12 lists",
		nal: spsSpec{
			profile: 244, level: 40, id: 31, chroma: 3, depthLuma: 2, depthChroma: 4, bypass: true,
			scaling:  [][]int64{{-8}, nil, flat16, nil, nil, {3, -11}, ramp64, {-8}, nil, ramp64, nil, {-8}},
			frameNum: 12, poc: 0, pocLsb: 12, refs: 16, gaps: true, wMbs: 119, hMapUnits: 67,
			direct8x8: true, crop: []uint64{0, 1, 0, 8},
		}.nal(),
		want: SPS{
			ProfileIDC: 244, LevelIDC: 40, ID: 31, ChromaFormatIDC: 3, ChromaArrayType: 3,
			BitDepthLuma: 10, BitDepthChroma: 12, TransformBypass: true, ScalingMatrixPresent: true,
			HighProfileFieldsPresent: true, Log2MaxFrameNum: 16, Log2MaxPicOrderCntLsb: 16,
			MaxNumRefFrames: 16, GapsInFrameNumAllowed: true, FrameMbsOnly: true, Direct8x8Inference: true,
			WidthInMbs: 120, HeightInMbs: 68, CodedWidth: 1920, CodedHeight: 1088,
			CropRight: 1, CropBottom: 8, Width: 1919, Height: 1080,
		},
	},
	{
		name: "high 4:2:0 scaling matrices, 8 lists",
		nal: spsSpec{
			profile: 100, level: 41, chroma: 1,
			scaling: [][]int64{flat16, flat16, {-8}, nil, nil, nil, ramp64, {-8}},
			poc:     2, refs: 4, wMbs: 119, hMapUnits: 67, direct8x8: true, crop: []uint64{0, 0, 0, 4},
		}.nal(),
		want: SPS{
			ProfileIDC: 100, LevelIDC: 41, ChromaFormatIDC: 1, ChromaArrayType: 1, BitDepthLuma: 8, BitDepthChroma: 8,
			ScalingMatrixPresent: true, HighProfileFieldsPresent: true, Log2MaxFrameNum: 4, PicOrderCntType: 2,
			MaxNumRefFrames: 4, FrameMbsOnly: true, Direct8x8Inference: true,
			WidthInMbs: 120, HeightInMbs: 68, CodedWidth: 1920, CodedHeight: 1088, CropBottom: 8,
			Width: 1920, Height: 1080,
		},
	},
	{
		name: "monochrome fields with cropping",
		nal: spsSpec{
			profile: 110, level: 30, chroma: 0, depthLuma: 0, depthChroma: 0, poc: 0, pocLsb: 2, refs: 2,
			wMbs: 44, hMapUnits: 17, fieldsAllowed: true, crop: []uint64{1, 2, 3, 4},
		}.nal(),
		want: SPS{
			ProfileIDC: 110, LevelIDC: 30, ChromaFormatIDC: 0, ChromaArrayType: 0, BitDepthLuma: 8, BitDepthChroma: 8,
			HighProfileFieldsPresent: true, Log2MaxFrameNum: 4, Log2MaxPicOrderCntLsb: 6, MaxNumRefFrames: 2,
			WidthInMbs: 45, HeightInMbs: 36, CodedWidth: 720, CodedHeight: 576,
			CropLeft: 1, CropRight: 2, CropTop: 6, CropBottom: 8, Width: 717, Height: 562,
		},
	},
	{
		name: "separate colour planes crop like monochrome",
		nal: spsSpec{
			profile: 244, level: 51, chroma: 3, separate: true, poc: 2, refs: 1,
			wMbs: 9, hMapUnits: 9, direct8x8: true, crop: []uint64{1, 1, 1, 1},
		}.nal(),
		want: SPS{
			ProfileIDC: 244, LevelIDC: 51, ChromaFormatIDC: 3, SeparateColourPlane: true, ChromaArrayType: 0,
			BitDepthLuma: 8, BitDepthChroma: 8, HighProfileFieldsPresent: true, Log2MaxFrameNum: 4,
			PicOrderCntType: 2, MaxNumRefFrames: 1, FrameMbsOnly: true, Direct8x8Inference: true,
			WidthInMbs: 10, HeightInMbs: 10, CodedWidth: 160, CodedHeight: 160,
			CropLeft: 1, CropRight: 1, CropTop: 1, CropBottom: 1, Width: 158, Height: 158,
		},
	},
	{
		name: "4:2:2 interlaced crop units 2x2",
		nal: spsSpec{
			profile: 122, level: 40, chroma: 2, depthLuma: 2, depthChroma: 2, poc: 0, pocLsb: 4, refs: 4,
			wMbs: 119, hMapUnits: 33, fieldsAllowed: true, mbaff: true, direct8x8: true, crop: []uint64{0, 0, 0, 4},
		}.nal(),
		want: SPS{
			ProfileIDC: 122, LevelIDC: 40, ChromaFormatIDC: 2, ChromaArrayType: 2, BitDepthLuma: 10, BitDepthChroma: 10,
			HighProfileFieldsPresent: true, Log2MaxFrameNum: 4, Log2MaxPicOrderCntLsb: 8, MaxNumRefFrames: 4,
			MbAdaptiveFrameField: true, Direct8x8Inference: true,
			WidthInMbs: 120, HeightInMbs: 68, CodedWidth: 1920, CodedHeight: 1088, CropBottom: 8,
			Width: 1920, Height: 1080,
		},
	},
	{
		name: "full vui with hrd",
		nal: spsSpec{
			profile: 77, constraints: 0x40, level: 30, poc: 2, refs: 1, wMbs: 39, hMapUnits: 29, direct8x8: true,
			vui: &vuiSpec{
				arIDC: 255, sarW: 4, sarH: 3, overscan: true, signal: true, fullRange: true,
				colour: []uint8{1, 13, 5}, chromaLoc: true, timing: true, tick: 1001, scale: 60000, fixed: true,
				nalHRD: 2, vclHRD: 1, picStruct: true, restriction: true, reorder: 0, decBuf: 1,
			},
		}.nal(),
		want: SPS{
			ProfileIDC: 77, ConstraintFlags: 0x40, LevelIDC: 30, ChromaFormatIDC: 1, ChromaArrayType: 1,
			BitDepthLuma: 8, BitDepthChroma: 8, Log2MaxFrameNum: 4, PicOrderCntType: 2, MaxNumRefFrames: 1,
			FrameMbsOnly: true, Direct8x8Inference: true,
			WidthInMbs: 40, HeightInMbs: 30, CodedWidth: 640, CodedHeight: 480, Width: 640, Height: 480,
			VUIPresent: true, AspectRatioIDC: 255, SARWidth: 4, SARHeight: 3, VideoFullRange: true,
			ColourPrimaries: 1, TransferCharacteristics: 13, MatrixCoefficients: 5,
			TimingInfoPresent: true, NumUnitsInTick: 1001, TimeScale: 60000, FixedFrameRate: true,
			NALHRD: true, VCLHRD: true, PicStructPresent: true, BitstreamRestriction: true, MaxDecFrameBuffering: 1,
		},
	},
	{
		name: "vui with table sar",
		nal: spsSpec{
			profile: 66, constraints: 0xc0, level: 31, poc: 2, refs: 1, wMbs: 44, hMapUnits: 79, direct8x8: true,
			vui: &vuiSpec{arIDC: 14, signal: true, restriction: true, reorder: 0, decBuf: 1},
		}.nal(),
		want: SPS{
			ProfileIDC: 66, ConstraintFlags: 0xc0, LevelIDC: 31, ChromaFormatIDC: 1, ChromaArrayType: 1,
			BitDepthLuma: 8, BitDepthChroma: 8, Log2MaxFrameNum: 4, PicOrderCntType: 2, MaxNumRefFrames: 1,
			FrameMbsOnly: true, Direct8x8Inference: true,
			WidthInMbs: 45, HeightInMbs: 80, CodedWidth: 720, CodedHeight: 1280, Width: 720, Height: 1280,
			VUIPresent: true, AspectRatioIDC: 14, SARWidth: 4, SARHeight: 3,
			ColourPrimaries: 2, TransferCharacteristics: 2, MatrixCoefficients: 2,
			BitstreamRestriction: true, MaxDecFrameBuffering: 1,
		},
	},
}

func TestParseSPSSynthetic(t *testing.T) {
	for _, c := range spsCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseSPS(c.nal)
			if err != nil {
				t.Fatalf("ParseSPS(% x): %v", c.nal, err)
			}
			if got != c.want {
				t.Fatalf("ParseSPS(% x):\n got  %+v\n want %+v", c.nal, got, c.want)
			}
			// Trailing zero bytes (the next start code's zero_byte, or
			// trailing_zero_8bits) change nothing.
			if again, err := ParseSPS(append(bytes.Clone(c.nal), 0, 0)); err != nil || again != got {
				t.Fatalf("with trailing zeros: %+v, %v", again, err)
			}
			checkPrefixes(t, c.nal, got)
		})
	}
}

// checkPrefixes checks that every prefix of nal either fails with
// ErrTruncated or parses as want: shorter prefixes fail, and once a prefix
// holds every field it parses like the whole NAL unit.
func checkPrefixes(t *testing.T, nal []byte, want SPS) {
	t.Helper()
	parsed := false
	for n := 0; n < len(nal); n++ {
		got, err := ParseSPS(nal[:n])
		switch {
		case err == nil:
			if got != want {
				t.Fatalf("prefix of %d bytes parses as %+v", n, got)
			}
			parsed = true
		case parsed:
			t.Fatalf("prefix of %d bytes fails after a shorter one parsed: %v", n, err)
		case !errors.Is(err, ErrTruncated) || !errors.Is(err, ErrMalformed):
			t.Fatalf("prefix of %d bytes: %v, want ErrTruncated", n, err)
		}
	}
	// Only the last byte, rbsp_stop_one_bit and alignment, may be missing.
	if _, err := ParseSPS(nal[:len(nal)-2]); err == nil {
		t.Fatalf("prefix of %d bytes of %d parses", len(nal)-2, len(nal))
	}
}

func TestParseSPSErrors(t *testing.T) {
	base := spsSpec{profile: 100, level: 31, chroma: 1, poc: 0, refs: 1, wMbs: 19, hMapUnits: 14, direct8x8: true}
	with := func(change func(*spsSpec)) []byte {
		s := base
		change(&s)
		return s.nal()
	}
	tests := []struct {
		name string
		nal  []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"only zeros", []byte{0, 0, 0}, ErrTruncated},
		{"header only", []byte{0x67}, ErrTruncated},
		{"forbidden bit", []byte{0xe7, 0x42, 0, 0x1e}, ErrMalformed},
		{"pps", []byte{0x68, 0xce, 0x3c, 0x80}, ErrNotSPS},
		{"sps id", with(func(s *spsSpec) { s.id = 32 }), ErrMalformed},
		{"chroma format", with(func(s *spsSpec) { s.chroma = 4 }), ErrMalformed},
		{"bit depth", with(func(s *spsSpec) { s.depthLuma = 7 }), ErrMalformed},
		{"scaling delta", with(func(s *spsSpec) { s.scaling = [][]int64{{-129}} }), ErrMalformed},
		{"log2 frame num", with(func(s *spsSpec) { s.frameNum = 13 }), ErrMalformed},
		{"poc type", with(func(s *spsSpec) { s.poc = 3 }), ErrMalformed},
		{"poc lsb", with(func(s *spsSpec) { s.pocLsb = 13 }), ErrMalformed},
		{"poc cycle", with(func(s *spsSpec) { s.poc = 1; s.pocCycle = make([]int64, 256) }), ErrMalformed},
		{"ref frames", with(func(s *spsSpec) { s.refs = 17 }), ErrMalformed},
		{"width", with(func(s *spsSpec) { s.wMbs = 1 << 12 }), ErrMalformed},
		{"height", with(func(s *spsSpec) { s.hMapUnits = 1<<32 - 2 }), ErrMalformed},
		{"crop width", with(func(s *spsSpec) { s.crop = []uint64{80, 80, 0, 0} }), ErrMalformed},
		{"crop height", with(func(s *spsSpec) { s.crop = []uint64{0, 0, 1<<32 - 2, 1<<32 - 2} }), ErrMalformed},
		{"hrd cpb count", with(func(s *spsSpec) { s.vui = &vuiSpec{nalHRD: 33} }), ErrMalformed},
		{"exp-golomb longer than 32 bits", []byte{0x67, 0x42, 0x00, 0x1e, 0, 0, 3, 0, 0, 3, 0, 0, 3, 0, 0x80}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSPS(tt.nal)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseSPS(% x) = %+v, %v; want %v", tt.nal, s, err, tt.want)
			}
			if s != (SPS{}) {
				t.Fatalf("ParseSPS returned %+v with its error", s)
			}
		})
	}
}

func TestParseSPSErrorText(t *testing.T) {
	_, err := ParseSPS([]byte{0x67, 0x42, 0xc0})
	if got, want := err.Error(), "annexb: truncated: sps ends in profile, level and id"; got != want {
		t.Errorf("truncated: %q, want %q", got, want)
	}
	_, err = ParseSPS(spsSpec{profile: 66, level: 31, poc: 3}.nal())
	if got, want := err.Error(), "annexb: malformed: sps pic_order_cnt_type out of range"; got != want {
		t.Errorf("out of range: %q, want %q", got, want)
	}
	_, err = ParseSPS([]byte{0x68})
	if got, want := err.Error(), "annexb: not a sequence parameter set: nal_unit_type 8"; got != want {
		t.Errorf("not sps: %q, want %q", got, want)
	}
}

func TestProfileLevelID(t *testing.T) {
	tests := []struct {
		s    SPS
		want string
	}{
		{SPS{ProfileIDC: 66, ConstraintFlags: 0xe0, LevelIDC: 31}, "42e01f"},
		{SPS{ProfileIDC: 66, ConstraintFlags: 0xc0, LevelIDC: 13}, "42c00d"},
		{SPS{ProfileIDC: 100, LevelIDC: 51}, "640033"},
		{SPS{ProfileIDC: 244, ConstraintFlags: 0x0f, LevelIDC: 255}, "f40fff"},
		{SPS{}, "000000"},
	}
	for _, tt := range tests {
		if got := tt.s.ProfileLevelID(); got != tt.want {
			t.Errorf("ProfileLevelID(%d, %#x, %d) = %q, want %q", tt.s.ProfileIDC, tt.s.ConstraintFlags, tt.s.LevelIDC, got, tt.want)
		}
	}
}

func TestFrameRate(t *testing.T) {
	if _, ok := (SPS{}).FrameRate(); ok {
		t.Error("FrameRate without timing info reports a rate")
	}
	if r, ok := (SPS{TimingInfoPresent: true, NumUnitsInTick: 1001, TimeScale: 60000}).FrameRate(); !ok || r < 29.97 || r > 29.971 {
		t.Errorf("FrameRate = %v, %v; want 29.97", r, ok)
	}
}

func TestAllocsParseSPS(t *testing.T) {
	nal := spsCases[0].nal
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseSPS(nal) }); n != 0 {
		t.Errorf("ParseSPS allocates %v times, want 0", n)
	}
}
