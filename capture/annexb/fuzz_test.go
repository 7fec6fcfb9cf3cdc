package annexb

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// chunkCuts turns fuzzed chunk sizes into cut positions: chunk i has
// sizes[i % len(sizes)]+1 bytes; no sizes means one chunk.
func chunkCuts(length int, sizes []byte) []int {
	if len(sizes) == 0 {
		return nil
	}
	var cuts []int
	for c, i := 0, 0; ; i++ {
		c += int(sizes[i%len(sizes)]) + 1
		if c >= length {
			return cuts
		}
		cuts = append(cuts, c)
	}
}

// framerSeeds are the fuzz seeds for FuzzFramer: the unit tests' streams
// and the first bytes of each real stream, with a few chunkings.
func framerSeeds(t testing.TB) (seeds []struct{ stream, sizes []byte }) {
	chunkings := [][]byte{nil, {0}, {2, 6}, {30, 0, 200}}
	add := func(stream []byte) {
		for _, s := range chunkings {
			seeds = append(seeds, struct{ stream, sizes []byte }{stream, s})
		}
	}
	for _, c := range framerCases {
		add(c.stream)
	}
	for _, rs := range realStreams {
		add(realSeed(readStream(t, rs.file)))
	}
	// One real stream as it is, up to its third access unit.
	b := readStream(t, "high_interlaced_320x180.h264")
	add(b[:1963+156+20])
	rng := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		add(randomStream(rng))
	}
	return seeds
}

// realSeed returns the first access units of a real stream, small enough
// for a fuzz seed: without SEI (x264's is 600 bytes of text) and with each
// NAL unit cut to 100 bytes.
func realSeed(stream []byte) []byte {
	var b []byte
	i := 0
	for nal := range NALUnits(stream) {
		if IsVCL(NALType(nal)) {
			i++
		}
		if i > 6 {
			break
		}
		if NALType(nal) != NALSEI {
			b = append(b, unit(nal[:min(len(nal), 100)])...)
		}
	}
	return b
}

// spsSeeds are the fuzz seeds for FuzzParseSPS: the synthetic SPSs and the
// SPS of each real stream.
func spsSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, c := range spsCases {
		seeds = append(seeds, c.nal)
	}
	for _, rs := range realStreams {
		for nal := range NALUnits(readStream(t, rs.file)) {
			if NALType(nal) == NALSPS {
				seeds = append(seeds, nal)
				break
			}
		}
	}
	return seeds
}

func FuzzFramer(f *testing.F) {
	for _, s := range framerSeeds(f) {
		f.Add(s.stream, s.sizes)
	}
	f.Fuzz(func(t *testing.T, stream, sizes []byte) {
		checkFramerInvariants(t, stream, chunkCuts(len(stream), sizes))
	})
}

// checkFramerInvariants frames stream in the chunks that cuts give and
// checks what must hold for any input.
func checkFramerInvariants(t *testing.T, stream []byte, cuts []int) {
	t.Helper()
	got, errs := frameChunked(stream, cuts, true, Options{})
	for _, err := range errs {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
	}
	total := 0
	for i, a := range got {
		total += len(a.data)
		if !bytes.HasPrefix(a.data, sc3) && !bytes.HasPrefix(a.data, sc4) {
			t.Fatalf("access unit %d does not start with a start code: % x", i, a.data[:min(len(a.data), 8)])
		}
		vcl, idr, sps, pps := false, false, false, false
		for nal := range NALUnits(a.data) {
			typ := NALType(nal)
			vcl = vcl || IsVCL(typ)
			idr = idr || typ == NALIDR
			sps = sps || typ == NALSPS
			pps = pps || typ == NALPPS
		}
		if !vcl {
			t.Fatalf("access unit %d has no slice: % x", i, a.data)
		}
		if a.key != idr || a.both != (sps && pps) {
			t.Fatalf("access unit %d: KeyFrame %v HasParams %v for % x", i, a.key, a.both, a.data)
		}
	}
	if total > len(stream) {
		t.Fatalf("emitted %d bytes of %d", total, len(stream))
	}
	// Access units are the stream's own bytes, in order, stamped with the
	// arrival of their last byte.
	checkArrival(t, stream, cuts, got)
	// Chunking changes nothing.
	if cuts != nil {
		whole, _ := frameChunked(stream, nil, true, Options{})
		if d := sameAUs(got, asWant(whole)); d != "" {
			t.Fatalf("chunked and whole framing differ: %s", d)
		}
	}
}

// randomStream builds a stream from the pieces real and broken streams are
// made of: parameter sets, SEI, delimiters, slices that begin a picture or
// continue one, end of sequence, three- and four-byte start codes, trailing
// zeros, garbage, NAL units with forbidden_zero_bit set, cut-off slices and
// empty NAL units.
func randomStream(rng *rand.Rand) []byte {
	var b []byte
	for range 1 + rng.IntN(30) {
		if rng.IntN(2) == 0 {
			b = append(b, sc3...)
		} else {
			b = append(b, sc4...)
		}
		tag := byte(rng.IntN(256))
		switch rng.IntN(16) {
		case 0:
			b = append(b, tSPS...)
		case 1:
			b = append(b, tPPS...)
		case 2:
			b = append(b, tSEI...)
		case 3:
			b = append(b, tAUD...)
		case 4, 5:
			b = append(b, tIDR(uint64(rng.IntN(2)*rng.IntN(100)), tag)...)
		case 6, 7, 8:
			b = append(b, tP(uint64(rng.IntN(2)*rng.IntN(100)), tag)...)
		case 9:
			b = append(b, tEndSeq...)
		case 10:
			b = append(b, make([]byte, rng.IntN(6))...) // trailing zeros or an empty NAL unit
		case 11:
			b = append(b, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(4))) // garbage
		case 12:
			b = append(b, 0x80|byte(rng.IntN(32)), tag) // forbidden_zero_bit
		case 13:
			// A slice cut off in first_mb_in_slice, or just after it.
			b = append(b, byte(0x41+rng.IntN(2)*4))
			for range rng.IntN(3) {
				b = append(b, byte(rng.IntN(8)))
			}
		case 14:
			b = append(b, longFirstMB...)
		case 15:
			b = append(b, bigSlice(NALSlice, uint64(rng.IntN(2)), rng.IntN(300))...)
		}
	}
	return b
}

func TestFramerRandomStreams(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for range n {
		stream := randomStream(rng)
		var cuts []int
		for c := 1 + rng.IntN(8); c < len(stream); c += 1 + rng.IntN(12) {
			cuts = append(cuts, c)
		}
		checkFramerInvariants(t, stream, cuts)
	}
}

func FuzzParseSPS(f *testing.F) {
	for _, s := range spsSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, nal []byte) {
		s, err := ParseSPS(nal)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotSPS) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if s != (SPS{}) {
				t.Fatalf("SPS %+v returned with error %v", s, err)
			}
			return
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width+s.CropLeft+s.CropRight != s.CodedWidth ||
			s.Height+s.CropTop+s.CropBottom != s.CodedHeight || s.CodedWidth != 16*s.WidthInMbs ||
			s.CodedHeight != 16*s.HeightInMbs {
			t.Fatalf("inconsistent size: %+v", s)
		}
		if s.ChromaFormatIDC > 3 || s.BitDepthLuma < 8 || s.BitDepthLuma > 14 || s.PicOrderCntType > 2 {
			t.Fatalf("field out of range: %+v", s)
		}
		if id := s.ProfileLevelID(); len(id) != 6 {
			t.Fatalf("ProfileLevelID %q", id)
		}
		// Trailing zero bytes change nothing.
		if again, err := ParseSPS(append(bytes.Clone(nal), 0)); err != nil || again != s {
			t.Fatalf("with a trailing zero: %+v, %v", again, err)
		}
	})
}

// TestWriteFuzzCorpus writes the seeds as the committed corpus under
// testdata/fuzz, in the `go test fuzz v1` format, when
// ANNEXB_WRITE_CORPUS=1. The seeds are added by the fuzz targets anyway;
// the files keep them visible to `go test -fuzz` runs elsewhere and hold
// any crasher found.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("ANNEXB_WRITE_CORPUS") != "1" {
		t.Skip("set ANNEXB_WRITE_CORPUS=1 to rewrite testdata/fuzz seeds")
	}
	write := func(target string, i int, values ...[]byte) {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, v := range values {
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		}
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range framerSeeds(t) {
		if s.sizes == nil || len(s.sizes) == 1 { // two chunkings per stream are enough on disk
			write("FuzzFramer", i, s.stream, s.sizes)
		}
	}
	for i, s := range spsSeeds(t) {
		write("FuzzParseSPS", i, s)
	}
}
