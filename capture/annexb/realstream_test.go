package annexb

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// realStream is a stream from testdata (see testdata/generate.sh) and what
// ffprobe reports for it: packet sizes and key frames (-show_packets, the
// h264 parser's access units, in decode order) and the SPS fields
// (-bsf:v trace_headers).
type realStream struct {
	file   string
	sizes  []int // access unit sizes
	keys   []int // indexes of the key frames
	slices int   // slices per picture
	sps    SPS
	plid   string
	fps    float64
}

// x264VUI fills the VUI that x264 writes: square pixels, timing at
// time_scale/2 frames per second, bitstream restriction.
func x264VUI(s SPS, timeScale uint32, fixed bool, reorder, decBuf uint32) SPS {
	s.VUIPresent = true
	s.AspectRatioIDC, s.SARWidth, s.SARHeight = 1, 1, 1
	s.ColourPrimaries, s.TransferCharacteristics, s.MatrixCoefficients = 2, 2, 2
	s.TimingInfoPresent, s.NumUnitsInTick, s.TimeScale, s.FixedFrameRate = true, 1, timeScale, fixed
	s.BitstreamRestriction, s.MaxNumReorderFrames, s.MaxDecFrameBuffering = true, reorder, decBuf
	return s
}

var realStreams = []realStream{
	{
		file:   "baseline_320x240.h264",
		sizes:  []int{3175, 129, 145, 110, 134, 121, 118, 133, 161, 134, 2895, 140, 96, 128, 123, 114, 142, 131, 135, 158, 2853, 154, 130, 122, 121, 149, 111, 137, 97, 84},
		keys:   []int{0, 10, 20},
		slices: 1,
		sps: x264VUI(SPS{
			ProfileIDC: 66, ConstraintFlags: 0xc0, LevelIDC: 13, ChromaFormatIDC: 1, ChromaArrayType: 1,
			BitDepthLuma: 8, BitDepthChroma: 8, Log2MaxFrameNum: 4, PicOrderCntType: 2, MaxNumRefFrames: 3,
			FrameMbsOnly: true, Direct8x8Inference: true, WidthInMbs: 20, HeightInMbs: 15,
			CodedWidth: 320, CodedHeight: 240, Width: 320, Height: 240,
		}, 60, false, 0, 3),
		plid: "42c00d",
		fps:  30,
	},
	{
		file:   "main_slices4_aud_320x240.h264",
		sizes:  []int{3056, 166, 178, 183, 171, 164, 188, 156, 198, 173, 2669, 184, 163, 163, 170, 173, 206, 176, 191, 178, 2636, 182, 160, 183, 167, 175, 149, 172, 161, 151},
		keys:   []int{0, 10, 20},
		slices: 4,
		sps: x264VUI(SPS{
			ProfileIDC: 77, ConstraintFlags: 0x40, LevelIDC: 13, ChromaFormatIDC: 1, ChromaArrayType: 1,
			BitDepthLuma: 8, BitDepthChroma: 8, Log2MaxFrameNum: 4, PicOrderCntType: 2, MaxNumRefFrames: 3,
			FrameMbsOnly: true, Direct8x8Inference: true, WidthInMbs: 20, HeightInMbs: 15,
			CodedWidth: 320, CodedHeight: 240, Width: 320, Height: 240,
		}, 60, false, 0, 3),
		plid: "4d400d",
		fps:  30,
	},
	{
		file:   "high_1366x768_bframes.h264",
		sizes:  []int{4392, 578, 202, 83, 3673, 461, 112, 71},
		keys:   []int{0, 4},
		slices: 1,
		sps: x264VUI(SPS{
			ProfileIDC: 100, LevelIDC: 32, ChromaFormatIDC: 1, ChromaArrayType: 1, HighProfileFieldsPresent: true,
			BitDepthLuma: 8, BitDepthChroma: 8, Log2MaxFrameNum: 4, PicOrderCntType: 0, Log2MaxPicOrderCntLsb: 6,
			MaxNumRefFrames: 4, FrameMbsOnly: true, Direct8x8Inference: true, WidthInMbs: 86, HeightInMbs: 48,
			CodedWidth: 1376, CodedHeight: 768, CropRight: 10, Width: 1366, Height: 768,
		}, 60, false, 2, 4),
		plid: "640020",
		fps:  30,
	},
	{
		file:   "high_interlaced_320x180.h264",
		sizes:  []int{1963, 156, 135, 129, 116, 1486, 109, 113, 106, 91},
		keys:   []int{0, 5},
		slices: 1,
		sps: func() SPS {
			s := x264VUI(SPS{
				ProfileIDC: 100, LevelIDC: 21, ChromaFormatIDC: 1, ChromaArrayType: 1, HighProfileFieldsPresent: true,
				BitDepthLuma: 8, BitDepthChroma: 8, Log2MaxFrameNum: 4, PicOrderCntType: 0, Log2MaxPicOrderCntLsb: 4,
				MaxNumRefFrames: 3, FrameMbsOnly: false, MbAdaptiveFrameField: true, Direct8x8Inference: true,
				WidthInMbs: 20, HeightInMbs: 12, CodedWidth: 320, CodedHeight: 192, CropBottom: 12,
				Width: 320, Height: 180,
			}, 50, false, 0, 3)
			s.PicStructPresent = true
			return s
		}(),
		plid: "640015",
		fps:  25,
	},
	{
		file:   "high444_321x241.h264",
		sizes:  []int{2668, 195, 164, 2103, 159, 109},
		keys:   []int{0, 3},
		slices: 1,
		sps: x264VUI(SPS{
			ProfileIDC: 244, LevelIDC: 13, ChromaFormatIDC: 3, ChromaArrayType: 3, HighProfileFieldsPresent: true,
			BitDepthLuma: 8, BitDepthChroma: 8, Log2MaxFrameNum: 4, PicOrderCntType: 2, MaxNumRefFrames: 3,
			FrameMbsOnly: true, Direct8x8Inference: true, WidthInMbs: 21, HeightInMbs: 16,
			CodedWidth: 336, CodedHeight: 256, CropRight: 15, CropBottom: 15, Width: 321, Height: 241,
		}, 60, false, 0, 3),
		plid: "f4000d",
		fps:  30,
	},
	{
		file:   "high422p10_322x241.h264",
		sizes:  []int{2971, 194, 211, 2505, 164, 153},
		keys:   []int{0, 3},
		slices: 1,
		sps: x264VUI(SPS{
			ProfileIDC: 122, LevelIDC: 13, ChromaFormatIDC: 2, ChromaArrayType: 2, HighProfileFieldsPresent: true,
			BitDepthLuma: 10, BitDepthChroma: 10, Log2MaxFrameNum: 4, PicOrderCntType: 2, MaxNumRefFrames: 3,
			FrameMbsOnly: true, Direct8x8Inference: true, WidthInMbs: 21, HeightInMbs: 16,
			CodedWidth: 336, CodedHeight: 256, CropRight: 14, CropBottom: 15, Width: 322, Height: 241,
		}, 60, false, 0, 3),
		plid: "7a000d",
		fps:  30,
	},
	{
		file:   "portrait_720x1280.h264",
		sizes:  []int{8577, 636, 443, 452, 536, 425, 575, 358, 488, 443, 536, 486, 589, 419, 540, 542, 398, 640, 426, 540},
		keys:   []int{0},
		slices: 2, // zerolatency: one slice per thread
		sps: x264VUI(SPS{
			ProfileIDC: 66, ConstraintFlags: 0xc0, LevelIDC: 31, ChromaFormatIDC: 1, ChromaArrayType: 1,
			BitDepthLuma: 8, BitDepthChroma: 8, Log2MaxFrameNum: 4, PicOrderCntType: 2, MaxNumRefFrames: 3,
			FrameMbsOnly: true, Direct8x8Inference: true, WidthInMbs: 45, HeightInMbs: 80,
			CodedWidth: 720, CodedHeight: 1280, Width: 720, Height: 1280,
		}, 60, true, 0, 3),
		plid: "42c01f",
		fps:  30,
	},
}

func TestRealStreams(t *testing.T) {
	for _, rs := range realStreams {
		t.Run(rs.file, func(t *testing.T) {
			stream := readStream(t, rs.file)
			got, errs := frameChunked(stream, nil, true, Options{})
			if len(errs) != 0 {
				t.Fatal(errs)
			}
			if len(got) != len(rs.sizes) {
				t.Fatalf("%d access units, want %d (ffprobe's frame count)", len(got), len(rs.sizes))
			}
			for i, a := range got {
				if len(a.data) != rs.sizes[i] {
					t.Errorf("access unit %d: %d bytes, want %d (ffprobe's packet size)", i, len(a.data), rs.sizes[i])
				}
				key := slices.Contains(rs.keys, i)
				if a.key != key {
					t.Errorf("access unit %d: KeyFrame %v, want %v", i, a.key, key)
				}
				// x264 repeats SPS and PPS before every IDR.
				if a.both != key {
					t.Errorf("access unit %d: HasParams %v, want %v", i, a.both, key)
				}
				if !bytes.HasPrefix(a.data, sc3) && !bytes.HasPrefix(a.data, sc4) {
					t.Errorf("access unit %d starts with % x", i, a.data[:4])
				}
				n := 0
				for nal := range NALUnits(a.data) {
					if IsVCL(NALType(nal)) {
						n++
					}
				}
				if n != rs.slices {
					t.Errorf("access unit %d: %d slices, want %d", i, n, rs.slices)
				}
			}
			for i, k := range rs.keys {
				checkSPS(t, rs, got[k].data, i == 0)
			}
		})
	}
}

// checkSPS parses the SPS in an access unit and compares it with what
// ffprobe reported; first also checks the SPS's prefixes.
func checkSPS(t *testing.T, rs realStream, data []byte, first bool) {
	t.Helper()
	for nal := range NALUnits(data) {
		if NALType(nal) != NALSPS {
			continue
		}
		if !bytes.Contains(nal, []byte{0, 0, 3}) {
			t.Errorf("SPS % x has no emulation prevention byte to test", nal)
		}
		s, err := ParseSPS(nal)
		if err != nil {
			t.Fatalf("ParseSPS(% x): %v", nal, err)
		}
		if s != rs.sps {
			t.Fatalf("ParseSPS(% x):\n got  %+v\n want %+v", nal, s, rs.sps)
		}
		if got := s.ProfileLevelID(); got != rs.plid {
			t.Errorf("ProfileLevelID = %q, want %q", got, rs.plid)
		}
		if fps, ok := s.FrameRate(); !ok || fps != rs.fps {
			t.Errorf("FrameRate = %v, %v; want %v", fps, ok, rs.fps)
		}
		if first {
			checkPrefixes(t, nal, s)
		}
		return
	}
	t.Fatal("no SPS in the key frame")
}

func TestRealStreamsChunked(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, rs := range realStreams {
		t.Run(rs.file, func(t *testing.T) {
			stream := readStream(t, rs.file)
			whole, _ := frameChunked(stream, nil, true, Options{})
			want := asWant(whole)
			check := func(cuts []int) {
				t.Helper()
				got, errs := frameChunked(stream, cuts, true, Options{})
				if len(errs) != 0 {
					t.Fatal(errs)
				}
				if d := sameAUs(got, want); d != "" {
					t.Fatalf("%d cuts from %v: %s", len(cuts), cuts[:min(len(cuts), 5)], d)
				}
				checkArrival(t, stream, cuts, got)
			}
			for _, n := range []int{1, 2, 3, 4, 5, 7, 188, 1400, 1500, 4096, 65536} {
				check(fixedCuts(len(stream), n))
			}
			// Random chunk sizes.
			for range 20 {
				var cuts []int
				for c := 1 + rng.IntN(64); c < len(stream); c += 1 + rng.IntN(3000) {
					cuts = append(cuts, c)
				}
				check(cuts)
			}
			// Every single cut, in a short run only through the first few
			// access units.
			limit := len(stream)
			if testing.Short() {
				limit = min(limit, 4000)
			}
			for k := 1; k < limit; k++ {
				check([]int{k})
			}
		})
	}
}
