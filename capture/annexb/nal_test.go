package annexb

import (
	"bytes"
	"slices"
	"testing"
)

func TestNALUnits(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"no start code", []byte{0x67, 1, 2}, nil},
		{"four and three byte start codes", cat(sc4, []byte{0x67, 1}, sc3, []byte{0x68, 2}), [][]byte{{0x67, 1}, {0x68, 2}}},
		{"garbage before the first", cat([]byte{9, 9, 0}, sc3, []byte{0x65, 0x88}), [][]byte{{0x65, 0x88}}},
		{"trailing zeros trimmed", cat(sc4, []byte{0x09, 0xf0, 0, 0, 0}, sc4, []byte{0x41, 3}, []byte{0, 0}), [][]byte{{0x09, 0xf0}, {0x41, 3}}},
		{"empty units skipped", cat(sc3, sc3, sc4, []byte{0x06, 5}, sc3), [][]byte{{0x06, 5}}},
		{"escaped bytes kept", cat(sc3, []byte{0x65, 0, 0, 3, 1, 0x80}), [][]byte{{0x65, 0, 0, 3, 1, 0x80}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Collect(NALUnits(tt.in))
			if !slices.EqualFunc(got, tt.want, bytes.Equal) {
				t.Fatalf("NALUnits(% x) = % x, want % x", tt.in, got, tt.want)
			}
		})
	}
	// Stopping early.
	for nal := range NALUnits(cat(sc3, []byte{0x67}, sc3, []byte{0x68})) {
		if NALType(nal) != NALSPS {
			t.Fatalf("first NAL unit type %d", NALType(nal))
		}
		break
	}
}

func TestNALType(t *testing.T) {
	if got := NALType(nil); got != -1 {
		t.Errorf("NALType(nil) = %d", got)
	}
	for _, tt := range []struct {
		b    byte
		want int
	}{{0x67, NALSPS}, {0x68, NALPPS}, {0x65, NALIDR}, {0x41, NALSlice}, {0x09, NALAUD}, {0x06, NALSEI}, {0xff, 31}} {
		if got := NALType([]byte{tt.b}); got != tt.want {
			t.Errorf("NALType(%#x) = %d, want %d", tt.b, got, tt.want)
		}
	}
	for typ := range 32 {
		if got, want := IsVCL(typ), typ >= 1 && typ <= 5; got != want {
			t.Errorf("IsVCL(%d) = %v", typ, got)
		}
	}
}

func TestAppendRBSP(t *testing.T) {
	tests := []struct{ in, want []byte }{
		{nil, nil},
		{[]byte{1, 2, 3}, []byte{1, 2, 3}},
		{[]byte{0, 0, 3, 0}, []byte{0, 0, 0}},
		{[]byte{0, 0, 3, 1}, []byte{0, 0, 1}},
		{[]byte{0, 0, 3, 3}, []byte{0, 0, 3}},
		{[]byte{0, 0, 3}, []byte{0, 0}}, // cabac_zero_word at the end
		{[]byte{0, 0, 3, 0, 0, 3, 0, 0, 3}, []byte{0, 0, 0, 0, 0, 0}},
		{[]byte{0, 0, 0, 3}, []byte{0, 0, 0}}, // 03 after 00 00 is removed, even after more zeros
		{[]byte{0, 3, 0, 0, 4}, []byte{0, 3, 0, 0, 4}},
		{[]byte{5, 0, 0, 3, 2, 0, 0, 3}, []byte{5, 0, 0, 2, 0, 0}},
		{[]byte{0x42, 0xc0, 0x0d, 0, 0, 3, 0, 0x10}, []byte{0x42, 0xc0, 0x0d, 0, 0, 0, 0x10}},
	}
	for _, tt := range tests {
		if got := AppendRBSP(nil, tt.in); !bytes.Equal(got, tt.want) {
			t.Errorf("AppendRBSP(% x) = % x, want % x", tt.in, got, tt.want)
		}
		if got := AppendRBSP([]byte{0xaa}, tt.in); !bytes.Equal(got, append([]byte{0xaa}, tt.want...)) {
			t.Errorf("AppendRBSP appends: % x", got)
		}
	}
	// escape (the test writer) and AppendRBSP are inverses.
	for _, rbsp := range [][]byte{{0, 0, 0}, {0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4}, {1, 0, 0}, {0, 0, 0, 0, 0, 0, 0x80}} {
		if got := AppendRBSP(nil, escape(rbsp)); !bytes.Equal(got, rbsp) {
			t.Errorf("AppendRBSP(escape(% x)) = % x", rbsp, got)
		}
	}
}

func TestBitReader(t *testing.T) {
	var w bitWriter
	for _, v := range []uint64{0, 1, 2, 3, 4, 6} {
		w.ue(v)
	}
	w.se(0)
	w.se(1)
	w.se(-1)
	w.se(-100)
	w.u(8, 0x0f)
	w.u(32, 0xdeadbeef)
	w.ue(1<<32 - 2) // the largest value ue reads
	w.u(3, 5)
	r := bitReader{b: w.b}
	for _, want := range []uint32{0, 1, 2, 3, 4, 6} {
		if got := r.ue(); got != want {
			t.Fatalf("ue = %d, want %d", got, want)
		}
	}
	for _, want := range []int32{0, 1, -1, -100} {
		if got := r.se(); got != want {
			t.Fatalf("se = %d, want %d", got, want)
		}
	}
	if got := r.u(8); got != 0x0f {
		t.Fatalf("u(8) = %#x", got)
	}
	if got := r.u(32); got != 0xdeadbeef {
		t.Fatalf("u(32) = %#x", got)
	}
	if got := r.ue(); got != 1<<32-2 {
		t.Fatalf("ue = %d, want 2^32-2", got)
	}
	if got := r.u(3); got != 5 {
		t.Fatalf("u(3) = %d", got)
	}
	if r.fail != readOK {
		t.Fatalf("fail = %d", r.fail)
	}
	// The padding is zero bits: ue runs out.
	if r.ue(); r.fail != readExhausted {
		t.Fatalf("ue past the end: fail = %d", r.fail)
	}
	if got := r.u(1); got != 0 {
		t.Fatalf("u after failure = %d", got)
	}

	r = bitReader{b: []byte{0, 0, 0, 0, 0x80}} // 32 zeros then a one
	if r.ue(); r.fail != readTooLong {
		t.Fatalf("33-bit code: fail = %d, want readTooLong", r.fail)
	}
	r = bitReader{b: []byte{0x01}} // 7 zeros, a one, no suffix
	if r.ue(); r.fail != readExhausted {
		t.Fatalf("code without suffix: fail = %d", r.fail)
	}
	r = bitReader{b: []byte{0xff}}
	if r.u(9); r.fail != readExhausted {
		t.Fatalf("u(9) of 8 bits: fail = %d", r.fail)
	}
}
