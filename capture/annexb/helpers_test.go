package annexb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bitWriter writes bits most significant first, the inverse of bitReader.
type bitWriter struct {
	b []byte
	n int // bits written
}

func (w *bitWriter) u(bits int, v uint64) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>uint(i)&1 == 1 {
			w.b[len(w.b)-1] |= 0x80 >> uint(w.n%8)
		}
		w.n++
	}
}

func (w *bitWriter) flag(b bool) {
	if b {
		w.u(1, 1)
	} else {
		w.u(1, 0)
	}
}

func (w *bitWriter) ue(v uint64) {
	v++
	l := 0
	for x := v; x > 1; x >>= 1 {
		l++
	}
	w.u(l, 0)
	w.u(l+1, v)
}

func (w *bitWriter) se(v int64) {
	if v > 0 {
		w.ue(uint64(2*v - 1))
	} else {
		w.ue(uint64(-2 * v))
	}
}

// trailing writes rbsp_trailing_bits and returns the RBSP.
func (w *bitWriter) trailing() []byte {
	w.u(1, 1)
	for w.n%8 != 0 {
		w.u(1, 0)
	}
	return w.b
}

// escape adds emulation prevention to an RBSP, giving NAL unit payload.
func escape(rbsp []byte) []byte {
	var out []byte
	zeros := 0
	for _, c := range rbsp {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	if zeros >= 2 {
		out = append(out, 3) // a final cabac_zero_word: a NAL unit never ends with 00
	}
	return out
}

// nalUnit returns a NAL unit: header byte (nal_ref_idc 3 unless type 6, 9,
// 10, 11, 12) and the escaped RBSP.
func nalUnit(t int, rbsp []byte) []byte {
	ref := byte(3 << 5)
	switch t {
	case NALSEI, NALAUD, NALEndSeq, NALEndStream, NALFiller:
		ref = 0
	}
	return append([]byte{ref | byte(t)}, escape(rbsp)...)
}

// sliceNAL returns a slice NAL unit of type t whose first_mb_in_slice is
// firstMB, followed by tag bytes so that slices differ.
func sliceNAL(t int, firstMB uint64, tag byte) []byte {
	var w bitWriter
	w.ue(firstMB)
	w.ue(7) // slice_type I (all)
	w.ue(0) // pic_parameter_set_id
	w.u(8, uint64(tag))
	w.u(8, 0xa5)
	return nalUnit(t, w.trailing())
}

// paramNAL returns a short non-VCL NAL unit of type t.
func paramNAL(t int, tag byte) []byte {
	return nalUnit(t, []byte{tag, 0x80})
}

var (
	sc3 = []byte{0, 0, 1}
	sc4 = []byte{0, 0, 0, 1}
)

// unit prefixes a NAL unit with a four-byte start code.
func unit(nal []byte) []byte { return append(append([]byte{}, sc4...), nal...) }

// unit3 prefixes a NAL unit with a three-byte start code.
func unit3(nal []byte) []byte { return append(append([]byte{}, sc3...), nal...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// Common synthetic NAL units.
var (
	tSPS    = paramNAL(NALSPS, 0x42)
	tPPS    = paramNAL(NALPPS, 0xce)
	tSEI    = paramNAL(NALSEI, 0x05)
	tAUD    = nalUnit(NALAUD, []byte{0xf0})
	tEndSeq = []byte{NALEndSeq}
	tEndStr = []byte{NALEndStream}
)

func tIDR(firstMB uint64, tag byte) []byte { return sliceNAL(NALIDR, firstMB, tag) }
func tP(firstMB uint64, tag byte) []byte   { return sliceNAL(NALSlice, firstMB, tag) }

// au is an expected access unit.
type au struct {
	data      []byte
	key, both bool
}

// gotAU is a copied AccessUnit.
type gotAU struct {
	data      []byte
	key, both bool
	arrival   time.Time
	offset    int // in the stream
}

// collector returns an emit function that copies access units into *out.
func collector(out *[]gotAU) func(AccessUnit) error {
	return func(a AccessUnit) error {
		*out = append(*out, gotAU{bytes.Clone(a.Data), a.KeyFrame, a.HasParams, a.Arrival, int(a.offset)})
		return nil
	}
}

// chunkTime is the arrival time given to the i-th chunk in tests.
func chunkTime(i int) time.Time { return time.Unix(1000, 0).Add(time.Duration(i) * time.Millisecond) }

// frameChunked writes stream to a new framer in chunks that end at cuts (in
// increasing order), then flushes if flush is set. It returns the access
// units and the errors.
func frameChunked(stream []byte, cuts []int, flush bool, o Options) ([]gotAU, []error) {
	f := NewFramer(o)
	var out []gotAU
	var errs []error
	emit := collector(&out)
	prev := 0
	for i, c := range append(cuts, len(stream)) {
		if err := f.Write(stream[prev:c], chunkTime(i), emit); err != nil {
			errs = append(errs, err)
		}
		prev = c
	}
	if flush {
		if err := f.Flush(chunkTime(len(cuts)+1), emit); err != nil {
			errs = append(errs, err)
		}
	}
	return out, errs
}

// fixedCuts returns cuts every n bytes.
func fixedCuts(length, n int) []int {
	var cuts []int
	for c := n; c < length; c += n {
		cuts = append(cuts, c)
	}
	return cuts
}

// checkArrival checks that each access unit is the stream's bytes at its
// offset, in order, and that its Arrival is the time of the chunk that held
// its last byte.
func checkArrival(t *testing.T, stream []byte, cuts []int, aus []gotAU) {
	t.Helper()
	pos := 0
	for i, a := range aus {
		end := a.offset + len(a.data)
		if a.offset < pos || end > len(stream) || !bytes.Equal(stream[a.offset:end], a.data) {
			t.Fatalf("access unit %d is not the stream's bytes at its offset %d (after %d)", i, a.offset, pos)
		}
		pos = end
		chunk := 0
		for chunk < len(cuts) && cuts[chunk] <= end-1 {
			chunk++
		}
		if want := chunkTime(chunk); !a.arrival.Equal(want) {
			t.Fatalf("access unit %d (last byte %d): Arrival %v, want chunk %d's %v", i, end-1, a.arrival, chunk, want)
		}
	}
}

// sameAUs reports the first difference between two access unit lists.
func sameAUs(got []gotAU, want []au) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d access units, want %d", len(got), len(want))
	}
	for i := range got {
		switch {
		case !bytes.Equal(got[i].data, want[i].data):
			return fmt.Sprintf("access unit %d: data differs:\n got  %s\n want %s", i, hexs(got[i].data), hexs(want[i].data))
		case got[i].key != want[i].key:
			return fmt.Sprintf("access unit %d: KeyFrame %v, want %v", i, got[i].key, want[i].key)
		case got[i].both != want[i].both:
			return fmt.Sprintf("access unit %d: HasParams %v, want %v", i, got[i].both, want[i].both)
		}
	}
	return ""
}

func asWant(got []gotAU) []au {
	w := make([]au, len(got))
	for i, g := range got {
		w[i] = au{g.data, g.key, g.both}
	}
	return w
}

// hexs formats up to 48 bytes in hex.
func hexs(b []byte) string {
	if len(b) > 48 {
		return fmt.Sprintf("% x ...", b[:48])
	}
	return fmt.Sprintf("% x", b)
}

// readStream loads a test stream from testdata.
func readStream(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errorKinds summarises errors by the sentinels they wrap.
func errorKinds(errs []error) (malformed, tooLarge bool) {
	for _, e := range errs {
		malformed = malformed || errors.Is(e, ErrMalformed)
		tooLarge = tooLarge || errors.Is(e, ErrTooLarge)
	}
	return
}
