package native

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestDecoderOptions(t *testing.T) {
	o := DecoderOptions{}.WithDefaults()
	if o.Codec != DecoderH264 || o.Backend != BackendAuto || o.VAAPIDevice != DefaultVAAPIDevice || o.Threads != 1 {
		t.Fatalf("defaults %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.chain(), DecoderBackends) || DecoderBackends[len(DecoderBackends)-1] != BackendSoftware {
		t.Fatalf("auto chain %v", o.chain())
	}
	o.Backend = BackendCUVID
	if !slices.Equal(o.chain(), []string{BackendCUVID}) {
		t.Fatalf("named chain %v", o.chain())
	}
	for _, bad := range []DecoderOptions{
		{Codec: "vp8"},
		{Backend: "nvenc"},
		{VAAPIDevice: "renderD128"},
		{Threads: -1},
	} {
		if err := bad.WithDefaults().Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: %v, want ErrInvalidOptions", bad, err)
		}
	}
	for _, b := range decoderBackendNames() {
		if IsHardwareDecoder(b) == (b == BackendSoftware || b == BackendAuto) {
			t.Errorf("IsHardwareDecoder(%s) = %v", b, IsHardwareDecoder(b))
		}
	}
}

func TestScanAU(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x14, 0xdb}
	pps := []byte{0x68, 0xca, 0x8f, 0x20}
	sc4, sc3 := []byte{0, 0, 0, 1}, []byte{0, 0, 1}
	idr := slices.Concat(sc4, []byte{9, 0xf0}, sc4, sps, sc4, pps, sc3, []byte{6, 5, 1, 0x80}, sc3, []byte{0x65, 0x88, 0, 0, 3, 0, 1})
	info := scanAU(idr)
	if !info.idr || !info.hasSPS || !bytes.Equal(info.params, slices.Concat(sc4, sps, sc4, pps)) {
		t.Fatalf("IDR access unit: %+v", info)
	}
	// Trailing zeros before a 3-byte start code are not the NAL's.
	info = scanAU(slices.Concat(sc3, pps, []byte{0, 0}, sc3, []byte{0x41, 0x9a}))
	if info.idr || info.hasSPS || !bytes.Equal(info.params, slices.Concat(sc4, pps)) {
		t.Fatalf("P access unit after a PPS: %+v", info)
	}
	// Slices end the scan: a "parameter set" after them is not looked at.
	info = scanAU(slices.Concat(sc3, []byte{0x41, 0x9a}, sc3, sps))
	if info.idr || info.params != nil {
		t.Fatalf("P access unit: %+v", info)
	}
	if info := scanAU([]byte{0, 0, 1}); info.idr || info.params != nil {
		t.Fatalf("a bare start code: %+v", info)
	}
	if info := scanAU(nil); info.idr || info.params != nil {
		t.Fatalf("nothing: %+v", info)
	}
}
