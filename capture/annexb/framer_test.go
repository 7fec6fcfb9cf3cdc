package annexb

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// framerCase is a stream and the access units framing it must give, the
// stream flushed at its end. The fuzz targets share these streams as seeds.
type framerCase struct {
	name   string
	stream []byte
	want   []au
	// malformed and tooLarge report the errors the stream must produce.
	malformed, tooLarge bool
	max                 int
}

// bigSlice returns a slice NAL unit with n payload bytes.
func bigSlice(t int, firstMB uint64, n int) []byte {
	var w bitWriter
	w.ue(firstMB)
	w.ue(7)
	w.ue(0)
	for range n {
		w.u(8, 0x55)
	}
	return nalUnit(t, w.trailing())
}

// longFirstMB is a slice whose first_mb_in_slice, 2^23-1 and more, is coded
// with enough leading zeros that its RBSP holds 00 00 01, escaped to
// 00 00 03 01.
var longFirstMB = sliceNAL(NALSlice, 1<<23-1+5, 9)

var framerCases = []framerCase{
	{
		name:   "sps pps idr then p frames",
		stream: cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1)), unit(tP(0, 2)), unit(tP(0, 3))),
		want: []au{
			{cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1))), true, true},
			{unit(tP(0, 2)), false, false},
			{unit(tP(0, 3)), false, false},
		},
	},
	{
		name: "aud and sei, three-byte start codes",
		stream: cat(unit(tAUD), unit3(tSPS), unit3(tPPS), unit3(tSEI), unit3(tIDR(0, 1)),
			unit(tAUD), unit3(tP(0, 2)), unit3(tAUD), unit3(tP(0, 3))),
		want: []au{
			{cat(unit(tAUD), unit3(tSPS), unit3(tPPS), unit3(tSEI), unit3(tIDR(0, 1))), true, true},
			{cat(unit(tAUD), unit3(tP(0, 2))), false, false},
			{cat(unit3(tAUD), unit3(tP(0, 3))), false, false},
		},
	},
	{
		name: "parameter sets without aud",
		stream: cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1)), unit(tP(0, 2)),
			unit(tSPS), unit(tPPS), unit(tIDR(0, 3))),
		want: []au{
			{cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1))), true, true},
			{unit(tP(0, 2)), false, false},
			{cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 3))), true, true},
		},
	},
	{
		name:   "sps alone is not both parameter sets",
		stream: cat(unit(tSPS), unit(tIDR(0, 1)), unit(tPPS), unit(tP(0, 2))),
		want: []au{
			{cat(unit(tSPS), unit(tIDR(0, 1))), true, false},
			{cat(unit(tPPS), unit(tP(0, 2))), false, false},
		},
	},
	{
		name: "multi-slice pictures",
		stream: cat(unit(tIDR(0, 1)), unit3(tIDR(10, 2)), unit3(tIDR(20, 3)),
			unit(tP(0, 4)), unit3(tP(10, 5)), unit3(tP(20, 6)), unit(tP(0, 7)), unit3(tP(300, 8))),
		want: []au{
			{cat(unit(tIDR(0, 1)), unit3(tIDR(10, 2)), unit3(tIDR(20, 3))), true, false},
			{cat(unit(tP(0, 4)), unit3(tP(10, 5)), unit3(tP(20, 6))), false, false},
			{cat(unit(tP(0, 7)), unit3(tP(300, 8))), false, false},
		},
	},
	{
		name: "end of sequence and stream attach",
		stream: cat(unit(tIDR(0, 1)), unit(tP(0, 2)), unit(tEndSeq), unit(tIDR(0, 3)),
			unit(tEndSeq), unit(tEndStr)),
		want: []au{
			{unit(tIDR(0, 1)), true, false},
			{cat(unit(tP(0, 2)), unit(tEndSeq)), false, false},
			{cat(unit(tIDR(0, 3)), unit(tEndSeq), unit(tEndStr)), true, false},
		},
	},
	{
		name:   "sei after a slice begins the next access unit",
		stream: cat(unit(tIDR(0, 1)), unit(tSEI), unit(tP(0, 2))),
		want: []au{
			{unit(tIDR(0, 1)), true, false},
			{cat(unit(tSEI), unit(tP(0, 2))), false, false},
		},
	},
	{
		name:   "filler and unspecified types attach",
		stream: cat(unit(tIDR(0, 1)), unit(paramNAL(NALFiller, 0xff)), unit(paramNAL(NALSliceExt, 1)), unit(tP(0, 2))),
		want: []au{
			{cat(unit(tIDR(0, 1)), unit(paramNAL(NALFiller, 0xff)), unit(paramNAL(NALSliceExt, 1))), true, false},
			{unit(tP(0, 2)), false, false},
		},
	},
	{
		name:   "prefix nal unit begins an access unit",
		stream: cat(unit(tIDR(0, 1)), unit(paramNAL(NALPrefix, 1)), unit(tP(0, 2))),
		want: []au{
			{unit(tIDR(0, 1)), true, false},
			{cat(unit(paramNAL(NALPrefix, 1)), unit(tP(0, 2))), false, false},
		},
	},
	{
		name:   "leading garbage skipped",
		stream: cat([]byte("junk\x00\x00\x02\x03zz\x00\x00"), unit(tSPS), unit(tPPS), unit(tIDR(0, 1)), unit(tP(0, 2))),
		want: []au{
			{cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1))), true, true},
			{unit(tP(0, 2)), false, false},
		},
	},
	{
		name:   "later slices before the first picture skipped",
		stream: cat(unit(tP(10, 1)), unit(tP(20, 2)), unit(tEndSeq), unit(tSPS), unit(tPPS), unit(tIDR(0, 3))),
		want:   []au{{cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 3))), true, true}},
	},
	{
		name:   "trailing zero bytes dropped",
		stream: cat(unit(tIDR(0, 1)), []byte{0, 0, 0, 0, 0}, unit(tP(0, 2)), []byte{0, 0, 0}),
		want: []au{
			{unit(tIDR(0, 1)), true, false},
			{unit(tP(0, 2)), false, false},
		},
	},
	{
		name:   "empty nal units ignored",
		stream: cat(sc3, sc4, unit(tIDR(0, 1)), sc3, unit3(tP(0, 2))),
		want: []au{
			{cat(unit(tIDR(0, 1)), sc3), true, false},
			{unit3(tP(0, 2)), false, false},
		},
	},
	{
		name:   "emulation prevention in first_mb_in_slice",
		stream: cat(unit(tIDR(0, 1)), unit(longFirstMB), unit(tP(0, 2))),
		want: []au{
			{cat(unit(tIDR(0, 1)), unit(longFirstMB)), true, false},
			{unit(tP(0, 2)), false, false},
		},
	},
	{
		name: "forbidden_zero_bit drops what is pending",
		stream: cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1)), unit(tP(0, 2)),
			unit([]byte{0x81, 0x9a, 0x42}), unit(tP(10, 3)), unit(tP(0, 4)), unit(tP(0, 5))),
		want: []au{
			{cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1))), true, true},
			{unit(tP(0, 4)), false, false},
			{unit(tP(0, 5)), false, false},
		},
		malformed: true,
	},
	{
		name:      "truncated slice header",
		stream:    cat(unit(tIDR(0, 1)), unit([]byte{0x41}), unit(tP(0, 2)), unit(tP(0, 3))),
		want:      []au{{unit(tP(0, 2)), false, false}, {unit(tP(0, 3)), false, false}},
		malformed: true,
	},
	{
		name:      "slice header longer than 32 bits",
		stream:    cat(unit(tIDR(0, 1)), unit([]byte{0x41, 0, 0, 3, 0, 0, 3, 0, 0, 3, 0, 0, 3, 0, 0, 3, 0, 0, 0x80}), unit(tP(0, 2))),
		want:      []au{{unit(tP(0, 2)), false, false}},
		malformed: true,
	},
	{
		name: "access unit over MaxAccessUnit dropped",
		max:  100,
		stream: cat(unit(tSPS), unit(tPPS), unit(bigSlice(NALIDR, 0, 150)), unit(tP(0, 2)),
			unit(tP(0, 3))),
		want:     []au{{unit(tP(0, 2)), false, false}, {unit(tP(0, 3)), false, false}},
		tooLarge: true,
	},
	{
		name:      "garbage over MaxAccessUnit",
		max:       100,
		stream:    cat(bytes.Repeat([]byte{0x11}, 200), unit(tIDR(0, 1)), unit(tP(0, 2))),
		want:      []au{{unit(tIDR(0, 1)), true, false}, {unit(tP(0, 2)), false, false}},
		malformed: true,
	},
	{
		name:   "only parameter sets",
		stream: cat(unit(tSPS), unit(tPPS)),
	},
	{
		name:   "nothing but zeros",
		stream: make([]byte, 40),
	},
}

func (c framerCase) options() Options { return Options{MaxAccessUnit: c.max} }

// checkFramed checks one framing of a case.
func checkFramed(t *testing.T, c framerCase, cuts []int) {
	t.Helper()
	got, errs := frameChunked(c.stream, cuts, true, c.options())
	if d := sameAUs(got, c.want); d != "" {
		t.Fatalf("cuts %v: %s", cuts, d)
	}
	malformed, tooLarge := errorKinds(errs)
	if malformed != c.malformed || tooLarge != c.tooLarge {
		t.Fatalf("cuts %v: errors %v, want malformed %v, too large %v", cuts, errs, c.malformed, c.tooLarge)
	}
	checkArrival(t, c.stream, cuts, got)
}

func TestFramerCases(t *testing.T) {
	for _, c := range framerCases {
		t.Run(c.name, func(t *testing.T) {
			checkFramed(t, c, nil)
			// One cut at every position, inside start codes included.
			for k := 1; k < len(c.stream); k++ {
				checkFramed(t, c, []int{k})
			}
			// One byte at a time.
			checkFramed(t, c, fixedCuts(len(c.stream), 1))
			// Two cuts at every pair of positions.
			if testing.Short() {
				return
			}
			for k := 1; k < len(c.stream); k++ {
				for l := k + 1; l < len(c.stream); l++ {
					checkFramed(t, c, []int{k, l})
				}
			}
		})
	}
}

func TestFramerWithoutFlushWaitsForNextAccessUnit(t *testing.T) {
	stream := cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1)), unit(tP(0, 2)))
	got, errs := frameChunked(stream, nil, false, Options{})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	// The P frame's end is unknown until the next start code or a flush.
	want := []au{{cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1))), true, true}}
	if d := sameAUs(got, want); d != "" {
		t.Fatal(d)
	}
}

// step is one call in a Flush scenario: a Write of data, or a Flush, and the
// access units the call must emit.
type step struct {
	write []byte
	flush bool
	want  []au
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	f := NewFramer(Options{})
	for i, s := range steps {
		var got []gotAU
		var err error
		if s.flush {
			err = f.Flush(chunkTime(i), collector(&got))
		} else {
			err = f.Write(s.write, chunkTime(i), collector(&got))
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if d := sameAUs(got, s.want); d != "" {
			t.Fatalf("step %d: %s", i, d)
		}
	}
}

func TestFlush(t *testing.T) {
	idr, p := unit(tIDR(0, 1)), unit(tP(0, 2))
	tests := []struct {
		name  string
		steps []step
	}{
		{"nothing pending", []step{{flush: true}, {write: []byte("garbage")}, {flush: true}}},
		{"emits the last access unit", []step{
			{write: cat(unit(tSPS), unit(tPPS), idr)},
			{flush: true, want: []au{{cat(unit(tSPS), unit(tPPS), idr), true, true}}},
			{flush: true},
		}},
		{"keeps parameter sets until their picture", []step{
			{write: cat(unit(tSPS), unit(tPPS))},
			{flush: true},
			{write: idr},
			{flush: true, want: []au{{cat(unit(tSPS), unit(tPPS), idr), true, true}}},
		}},
		{"emits what Write could not", []step{
			{write: cat(idr, p), want: []au{{idr, true, false}}},
			{flush: true, want: []au{{p, false, false}}},
		}},
		{"keeps a trailing start code", []step{
			{write: cat(idr, sc4)},
			{flush: true, want: []au{{idr, true, false}}},
			{write: tP(0, 2)},
			{flush: true, want: []au{{p, false, false}}},
		}},
		{"keeps trailing zeros that may begin a start code", []step{
			{write: cat(idr, []byte{0, 0})},
			{flush: true, want: []au{{idr, true, false}}},
			{write: cat([]byte{1}, tP(0, 2))},
			{flush: true, want: []au{{unit3(tP(0, 2)), false, false}}},
		}},
		{"keeps a slice too short to classify", []step{
			{write: cat(idr, sc4, tP(0, 2)[:1])},
			{flush: true, want: []au{{idr, true, false}}},
			{write: tP(0, 2)[1:]},
			{flush: true, want: []au{{p, false, false}}},
		}},
		{"skips a picture's later slices after a flush", []step{
			{write: unit(tIDR(0, 1))},
			{flush: true, want: []au{{idr, true, false}}},
			{write: unit(tIDR(10, 3))},
			{flush: true},
			{write: p},
			{flush: true, want: []au{{p, false, false}}},
		}},
		{"bytes after a flushed nal unit are skipped", []step{
			{write: idr},
			{flush: true, want: []au{{idr, true, false}}},
			{write: []byte{0x42, 0x43}},
			{write: p},
			{flush: true, want: []au{{p, false, false}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.steps) })
	}
}

func TestFlushArrival(t *testing.T) {
	// The access unit's last byte came with the first chunk; the trailing
	// start code with the second. Flush reports the first chunk's time.
	f := NewFramer(Options{})
	var got []gotAU
	t0, t1, t2 := chunkTime(0), chunkTime(1), chunkTime(2)
	if err := f.Write(unit(tIDR(0, 1)), t0, collector(&got)); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(sc4, t1, collector(&got)); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(t2, collector(&got)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].arrival.Equal(t0) {
		t.Fatalf("got %d access units, arrival %v, want 1 at %v", len(got), got[0].arrival, t0)
	}
}

func TestReset(t *testing.T) {
	f := NewFramer(Options{})
	var got []gotAU
	if err := f.Write(cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1))[:6]), chunkTime(0), collector(&got)); err != nil {
		t.Fatal(err)
	}
	f.Reset()
	if err := f.Write(cat(unit(tP(10, 9)), unit(tIDR(0, 2)), unit(tP(0, 3))), chunkTime(1), collector(&got)); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(chunkTime(2), collector(&got)); err != nil {
		t.Fatal(err)
	}
	want := []au{{unit(tIDR(0, 2)), true, false}, {unit(tP(0, 3)), false, false}}
	if d := sameAUs(got, want); d != "" {
		t.Fatal(d)
	}
}

func TestEmitError(t *testing.T) {
	stream := cat(unit(tIDR(0, 1)), unit(tP(0, 2)), unit(tP(0, 3)), unit(tP(0, 4)))
	errStop := errors.New("stop")
	f := NewFramer(Options{})
	var got []gotAU
	calls := 0
	emit := func(a AccessUnit) error {
		calls++
		if calls == 2 {
			return errStop
		}
		return collector(&got)(a)
	}
	if err := f.Write(stream, chunkTime(0), emit); !errors.Is(err, errStop) {
		t.Fatalf("Write: %v, want %v", err, errStop)
	}
	// The framer goes on after the failed access unit.
	if err := f.Flush(chunkTime(1), emit); err != nil {
		t.Fatal(err)
	}
	want := []au{{unit(tIDR(0, 1)), true, false}, {unit(tP(0, 3)), false, false}, {unit(tP(0, 4)), false, false}}
	if d := sameAUs(got, want); d != "" {
		t.Fatal(d)
	}
	// A failing emit in Flush is returned too.
	f.Reset()
	if err := f.Write(unit(tIDR(0, 5)), chunkTime(2), func(AccessUnit) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(chunkTime(3), func(AccessUnit) error { return errStop }); !errors.Is(err, errStop) {
		t.Fatalf("Flush: %v, want %v", err, errStop)
	}
}

func TestErrorMessages(t *testing.T) {
	_, errs := frameChunked(cat(unit(tIDR(0, 1)), unit([]byte{0x85, 1})), nil, true, Options{})
	if len(errs) != 1 {
		t.Fatalf("errors %v, want one", errs)
	}
	const want = "annexb: malformed: forbidden_zero_bit set in nal unit of type 5 at byte 9"
	if got := errs[0].Error(); got != want {
		t.Fatalf("error %q, want %q", got, want)
	}
	_, errs = frameChunked(cat(unit(bigSlice(NALIDR, 0, 300)), unit(tP(0, 2))), nil, true, Options{MaxAccessUnit: 200})
	if len(errs) != 1 || !errors.Is(errs[0], ErrTooLarge) {
		t.Fatalf("errors %v, want ErrTooLarge", errs)
	}
	if got, want := errs[0].Error(), "annexb: access unit too large: 307 bytes at byte 0, limit 200"; got != want {
		t.Fatalf("error %q, want %q", got, want)
	}
}

func TestFramerScansEachByteOnce(t *testing.T) {
	// One 1 MiB access unit written 100 bytes at a time: every Write must
	// search only its new bytes (and two before them), not the pending AU.
	stream := cat(unit(bigSlice(NALIDR, 0, 1<<20)), unit(tP(0, 2)))
	f := NewFramer(Options{})
	writes := 0
	for c := range slices.Chunk(stream, 100) {
		if err := f.Write(c, time.Time{}, func(AccessUnit) error { return nil }); err != nil {
			t.Fatal(err)
		}
		writes++
	}
	if limit := int64(len(stream) + 2*writes); f.searched > limit {
		t.Fatalf("searched %d bytes for %d bytes in %d writes, want at most %d", f.searched, len(stream), writes, limit)
	}
}

func TestFramerZeroAllocs(t *testing.T) {
	stream := readStream(t, "portrait_720x1280.h264")
	f := NewFramer(Options{})
	n := 0
	emit := func(a AccessUnit) error { n++; return nil }
	run := func() {
		for c := range slices.Chunk(stream, 1500) {
			if err := f.Write(c, time.Time{}, emit); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Flush(time.Time{}, emit); err != nil {
			t.Fatal(err)
		}
	}
	run() // grows the buffer
	if allocs := testing.AllocsPerRun(20, run); allocs != 0 {
		t.Fatalf("%v allocations per %d-byte stream of 20 access units, want 0", allocs, len(stream))
	}
	if n != 20*22 {
		t.Fatalf("%d access units, want %d", n, 20*22)
	}
}

func ExampleFramer() {
	stream := cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1)), unit(tP(0, 2)))
	f := NewFramer(Options{})
	emit := func(a AccessUnit) error {
		fmt.Printf("%d bytes, key frame %v, parameter sets %v\n", len(a.Data), a.KeyFrame, a.HasParams)
		return nil
	}
	now := time.Now()
	_ = f.Write(stream[:20], now, emit)
	_ = f.Write(stream[20:], now, emit) // completes the first access unit
	_ = f.Flush(now, emit)              // the stream went quiet: the last one
	// Output:
	// 23 bytes, key frame true, parameter sets true
	// 9 bytes, key frame false, parameter sets false
}
