//go:build cgo

package native

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

// The decode side of a transcode: an H.264 stream (made here with
// libx264, as a device's would be) decoded by VideoDecoder into frames
// that go to encoders without a copy. Only the software backend runs on
// these machines; the hardware backends are probed and must say why they
// are unavailable.

// encodeStream encodes frames first..first+n-1 of the textured pattern at
// w x h with libx264 and returns the access units.
func encodeStream(t testing.TB, w, h, first, n int) [][]byte {
	t.Helper()
	e, pool := newTestEncoder(t, Options{Width: w, Height: h, Threads: 1})
	pat := newTestPattern(w, h, true)
	var aus [][]byte
	for _, u := range encodeN(t, e, pool, pat, first, n) {
		aus = append(aus, u.data)
	}
	for _, u := range flushAll(t, e) {
		aus = append(aus, u.data)
	}
	if len(aus) != n {
		t.Fatalf("%d access units for %d frames", len(aus), n)
	}
	return aus
}

// openVideoDecoder opens a decoder that the test closes.
func openVideoDecoder(t testing.TB, o DecoderOptions) *VideoDecoder {
	t.Helper()
	d, err := NewVideoDecoder(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// framePicture views a system-memory frame as a Picture, for psnr.
func framePicture(f *Frame) *Picture {
	p := &Picture{Width: f.Width(), Height: f.Height(), Format: f.Format()}
	for i := range 3 {
		p.Planes[i], p.Strides[i] = f.Plane(i), f.Stride(i)
	}
	return p
}

// decodeAll decodes units with a fresh Decoder (the Picture API) and calls
// check with each picture's index.
func decodeAll(t testing.TB, codec string, units []encoded, check func(n int, pic *Picture)) {
	t.Helper()
	dec, err := NewDecoder(codec)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	n := 0
	fn := func(pic *Picture) error { check(n, pic); n++; return nil }
	for _, u := range units {
		if err := dec.Decode(u.data, fn); err != nil {
			t.Fatal(err)
		}
	}
	if err := dec.Flush(fn); err != nil {
		t.Fatal(err)
	}
	if n != len(units) {
		t.Fatalf("%s: %d pictures from %d packets", codec, n, len(units))
	}
}

// collect returns an emit function that appends copies of the packets.
func collect(out *[]encoded) func(Packet) error {
	return func(p Packet) error {
		*out = append(*out, encoded{data: bytes.Clone(p.Data), key: p.KeyFrame, pts: p.PTS, dur: p.Duration})
		return nil
	}
}

// TestTranscodeH264AndVP8: a libx264 stream decoded by VideoDecoder, each
// frame handed to libx264 and (through a second reference) to libvpx
// without a copy or a conversion, and both outputs decode to the
// original pictures.
func TestTranscodeH264AndVP8(t *testing.T) {
	const w, h, n = 320, 240, 12
	aus := encodeStream(t, w, h, 0, n)
	d := openVideoDecoder(t, DecoderOptions{Backend: BackendSoftware})
	if d.Backend() != BackendSoftware {
		t.Fatalf("Backend = %q", d.Backend())
	}
	x264 := openEncoder(t, Options{Codec: CodecX264, Width: w, Height: h, Threads: 1})
	vp8 := openEncoder(t, Options{Codec: CodecVP8, Width: w, Height: h, Threads: 1})
	pat := newTestPattern(w, h, true)
	var h264Out, vp8Out []encoded
	decoded := 0
	for i, au := range aus {
		pts := time.Duration(i) * 33 * time.Millisecond
		err := d.DecodeAt(au, pts, func(f *Frame) error {
			if f.Width() != w || f.Height() != h || f.Format() != PixelFormatYUV420P || f.Hardware() != "" {
				t.Fatalf("frame %d: %dx%d %s hw=%q", decoded, f.Width(), f.Height(), f.Format(), f.Hardware())
			}
			if f.PTS != pts {
				t.Errorf("frame %d: PTS %v, want the access unit's %v", decoded, f.PTS, pts)
			}
			if p := psnr(t, pat.reference(decoded), framePicture(f)); p < 30 {
				t.Errorf("decoded frame %d: PSNR %.1f dB", decoded, p)
			}
			r, err := f.Ref()
			if err != nil {
				t.Fatal(err)
			}
			if !r.sharesPicture(f) || &r.Plane(0)[0] != &f.Plane(0)[0] {
				t.Fatal("Ref copied the picture")
			}
			decoded++
			if err := x264.Encode(f, collect(&h264Out)); err != nil {
				return err
			}
			return vp8.Encode(r, collect(&vp8Out))
		})
		if err != nil {
			t.Fatalf("access unit %d: %v", i, err)
		}
	}
	if decoded != n {
		t.Fatalf("decoded %d of %d access units in lockstep", decoded, n)
	}
	h264Out = append(h264Out, flushAll(t, x264)...)
	vp8Out = append(vp8Out, flushAll(t, vp8)...)
	if x264.conv != nil || x264.sws.ctx != nil || vp8.conv != nil || vp8.sws.ctx != nil {
		t.Fatal("yuv420p decoded frames were converted on their way to yuv420p encoders")
	}
	for _, c := range []struct {
		decoder string
		units   []encoded
	}{{DecoderH264, h264Out}, {DecoderVP8, vp8Out}} {
		decodeAll(t, c.decoder, c.units, func(i int, pic *Picture) {
			if p := psnr(t, pat.reference(i), pic); p < 28 {
				t.Errorf("%s re-encoded frame %d: PSNR %.1f dB", c.decoder, i, p)
			}
		})
	}
}

// TestDecodedFrameReferencesDecoderPicture: the frame handed over is the
// decoder's picture, not a copy (the decoder keeps its own reference to it
// as a reference picture), and a second reference outlives the first, the
// decoder and further decoding.
func TestDecodedFrameReferencesDecoderPicture(t *testing.T) {
	const w, h = 320, 240
	aus := encodeStream(t, w, h, 0, 4)
	d, err := NewVideoDecoder(DecoderOptions{Backend: BackendSoftware})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var first, second *Frame
	if err := d.Decode(aus[0], func(f *Frame) error {
		if f.PTS != NoPTS {
			t.Errorf("Decode gave PTS %v, want NoPTS", f.PTS)
		}
		if n := f.pictureRefs(); n < 2 {
			t.Errorf("the decoded picture has %d reference; the decoder's own is missing, so it was copied", n)
		}
		first = f
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if first == nil {
		t.Fatal("no picture from the IDR")
	}
	if second, err = first.Ref(); err != nil {
		t.Fatal(err)
	}
	before := first.pictureRefs()
	first.Release()
	first.Release() // harmless
	if first.Plane(0) != nil {
		t.Fatal("a released frame still exposes its planes")
	}
	if _, err := first.Ref(); !errors.Is(err, ErrFrameReleased) {
		t.Fatalf("Ref of a released frame = %v, want ErrFrameReleased", err)
	}
	if got := second.pictureRefs(); got != before-1 {
		t.Fatalf("after releasing one reference the picture has %d, want %d", got, before-1)
	}
	for i, au := range aus[1:] {
		if err := d.Decode(au, func(f *Frame) error { f.Release(); return nil }); err != nil {
			t.Fatalf("access unit %d: %v", i+1, err)
		}
	}
	d.Close()
	if p := psnr(t, newTestPattern(w, h, true).reference(0), framePicture(second)); p < 30 {
		t.Fatalf("the second reference, after the first was released and the decoder closed: PSNR %.1f dB", p)
	}
	if err := d.Decode(aus[0], func(*Frame) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Decode after Close = %v, want ErrClosed", err)
	}
	if err := second.WritePacked(make([]byte, 16), 2, 2, 8, PixelFormatRGBA); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("WritePacked into a decoded frame = %v, want a refusal", err)
	}
	// An encoder takes the reference and releases it.
	e := openEncoder(t, Options{Width: w, Height: h, Threads: 1})
	var out []encoded
	if err := e.Encode(second, collect(&out)); err != nil {
		t.Fatal(err)
	}
	if second.Plane(0) != nil {
		t.Fatal("Encode did not release the decoded frame")
	}
}

// TestDecodeSizeChange: a stream whose size changes mid-way (a device
// that rotated: a new SPS and an IDR) decodes into frames of each size,
// which re-encode with an encoder per size; a frame of the wrong size is
// refused.
func TestDecodeSizeChange(t *testing.T) {
	sizes := [][2]int{{320, 240}, {240, 320}}
	const per = 5
	var aus [][]byte
	for _, sz := range sizes {
		aus = append(aus, encodeStream(t, sz[0], sz[1], 0, per)...)
	}
	d := openVideoDecoder(t, DecoderOptions{})
	encoders := map[[2]int]*Encoder{}
	outs := map[[2]int]*[]encoded{}
	for _, sz := range sizes {
		encoders[sz] = openEncoder(t, Options{Width: sz[0], Height: sz[1], Threads: 1})
		outs[sz] = new([]encoded)
	}
	var got [][2]int
	for i, au := range aus {
		if err := d.DecodeAt(au, time.Duration(i)*time.Millisecond, func(f *Frame) error {
			sz := [2]int{f.Width(), f.Height()}
			got = append(got, sz)
			e := encoders[sz]
			if e == nil {
				f.Release()
				t.Fatalf("frame %d is %dx%d", len(got)-1, sz[0], sz[1])
			}
			if len(got) == per+1 { // the first of the new size, to the old encoder
				r, err := f.Ref()
				if err != nil {
					t.Fatal(err)
				}
				if err := encoders[sizes[0]].Encode(r, collect(outs[sizes[0]])); !errors.Is(err, ErrFrameMismatch) {
					t.Fatalf("a %dx%d frame into a %dx%d encoder: %v, want ErrFrameMismatch", sz[0], sz[1], sizes[0][0], sizes[0][1], err)
				}
			}
			return e.Encode(f, collect(outs[sz]))
		}); err != nil {
			t.Fatalf("access unit %d: %v", i, err)
		}
	}
	if err := d.Flush(func(f *Frame) error { f.Release(); t.Error("a picture left at Flush"); return nil }); err != nil {
		t.Fatal(err)
	}
	var want [][2]int
	for _, sz := range sizes {
		for range per {
			want = append(want, sz)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("decoded sizes %v, want %v", got, want)
	}
	for _, sz := range sizes {
		units := append(*outs[sz], flushAll(t, encoders[sz])...)
		pat := newTestPattern(sz[0], sz[1], true)
		decodeAll(t, DecoderH264, units, func(i int, pic *Picture) {
			if p := psnr(t, pat.reference(i), pic); p < 28 {
				t.Errorf("%dx%d re-encoded frame %d: PSNR %.1f dB", sz[0], sz[1], i, p)
			}
		})
	}
}

// TestScalerHalves: a decoded frame scaled to half size (a lower rung)
// encodes and decodes at that size with the picture's regions in place;
// a frame already at the target comes back as a reference, unconverted.
func TestScalerHalves(t *testing.T) {
	r := regions{320, 240}
	src := openEncoder(t, Options{Width: r.w, Height: r.h, Threads: 1})
	pool := newPool(t, r.w, r.h, PixelFormatYUV420P)
	var aus []encoded
	for range 3 {
		f, err := pool.Get()
		if err != nil {
			t.Fatal(err)
		}
		r.fill(t, f, 0) // a still picture: the regions' geometry halves exactly
		if err := src.Encode(f, collect(&aus)); err != nil {
			t.Fatal(err)
		}
	}
	half := regions{r.w / 2, r.h / 2}
	s, err := NewScaler(half.w, half.h, PixelFormatYUV420P, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	same, err := NewScaler(r.w, r.h, PixelFormatYUV420P, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer same.Close()
	e := openEncoder(t, Options{Width: half.w, Height: half.h, Threads: 1})
	var out []encoded
	d := openVideoDecoder(t, DecoderOptions{Backend: BackendSoftware})
	for i, au := range aus {
		pts := time.Duration(i+1) * time.Second
		if err := d.DecodeAt(au.data, pts, func(f *Frame) error {
			defer f.Release() // Scale leaves the source to its caller
			small, err := s.Scale(f)
			if err != nil {
				return err
			}
			if small.Width() != half.w || small.Height() != half.h || small.PTS != pts || small.sharesPicture(f) {
				t.Fatalf("scaled frame %dx%d PTS %v", small.Width(), small.Height(), small.PTS)
			}
			if f.Plane(0) == nil {
				t.Fatal("Scale consumed its source")
			}
			ref, err := same.Scale(f)
			if err != nil {
				return err
			}
			if !ref.sharesPicture(f) {
				t.Fatal("Scale to the frame's own size and format copied it")
			}
			ref.Release()
			return e.Encode(small, collect(&out))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if same.sws.ctx != nil {
		t.Fatal("libswscale ran for a frame that needed no change")
	}
	out = append(out, flushAll(t, e)...)
	decodeAll(t, DecoderH264, out, func(_ int, pic *Picture) {
		if pic.Width != half.w || pic.Height != half.h {
			t.Fatalf("decoded %dx%d, want %dx%d", pic.Width, pic.Height, half.w, half.h)
		}
		half.check(t, pic, 0)
	})
	if _, err := NewScaler(161, 120, PixelFormatYUV420P, 1); !errors.Is(err, ErrOddDimensions) {
		t.Fatalf("NewScaler with an odd width = %v", err)
	}
	if _, err := NewScaler(160, 120, PixelFormatRGBA, 1); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("NewScaler to rgba = %v", err)
	}
}

// fullRangeStream rewrites the streams' SPS to signal full range
// (video_full_range_flag, as some Android encoders set it), with the
// h264_metadata bitstream filter: the decoder then outputs yuvj420p.
func fullRangeStream(t *testing.T, units []encoded) [][]byte {
	t.Helper()
	bsf := astiav.FindBitStreamFilterByName("h264_metadata")
	if bsf == nil {
		t.Fatal("h264_metadata not compiled in")
	}
	c, err := astiav.AllocBitStreamFilterContext(bsf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free()
	c.InputCodecParameters().SetCodecID(astiav.CodecIDH264)
	c.SetInputTimeBase(astiav.NewRational(1, 30))
	if err := c.PrivateData().Options().Set("video_full_range_flag", "1", 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	var out [][]byte
	for _, u := range units {
		if err := pkt.FromData(bytes.Clone(u.data)); err != nil {
			t.Fatal(err)
		}
		if err := c.SendPacket(pkt); err != nil {
			t.Fatal(err)
		}
		for c.ReceivePacket(pkt) == nil {
			out = append(out, bytes.Clone(pkt.Data()))
			pkt.Unref()
		}
	}
	return out
}

// TestFullRangeDecodedFramesEncode: yuvj420p pictures (full range) are
// converted to limited range on their way into an encoder, which signals
// limited range: dark and bright areas move towards 16..235.
func TestFullRangeDecodedFramesEncode(t *testing.T) {
	r := regions{320, 240}
	src := openEncoder(t, Options{Width: r.w, Height: r.h, Threads: 1})
	units := encodeRegions(t, src, r, 3, newPool(t, r.w, r.h, PixelFormatYUV420P))
	aus := fullRangeStream(t, units)
	d := openVideoDecoder(t, DecoderOptions{Backend: BackendSoftware})
	e := openEncoder(t, Options{Width: r.w, Height: r.h, Threads: 1})
	var out []encoded
	for _, au := range aus {
		if err := d.Decode(au, func(f *Frame) error {
			if got := f.avFormatName(); got != "yuvj420p" || f.Format() != PixelFormatYUV420P {
				t.Errorf("decoded %s (Format %s), want yuvj420p (Format yuv420p)", got, f.Format())
			}
			return e.Encode(f, collect(&out))
		}); err != nil {
			t.Fatal(err)
		}
	}
	out = append(out, flushAll(t, e)...)
	if e.sws.ctx == nil {
		t.Fatal("full-range frames went to the encoder unconverted")
	}
	limited := func(v int) float64 { return 16 + float64(v)*219/255 }
	decodeAll(t, DecoderH264, out, func(n int, pic *Picture) {
		bx := r.edge(n)
		for _, a := range []struct {
			x0, x1 int
			want   float64
		}{{0, bx - 8, limited(regionDarkY)}, {bx + 8, r.w, limited(regionBrightY)}} {
			if got := mean(pic.Planes[0], pic.Strides[0], a.x0, a.x1, 0, r.h); got < a.want-4 || got > a.want+4 {
				t.Errorf("picture %d: luma mean %.1f, want %.1f (full range mapped to limited)", n, got, a.want)
			}
		}
	})
}

// TestDecoderFallback: BackendAuto ends on software here, decoding every
// picture, after whatever hardware backends fail; a hardware backend that
// fails mid-stream is replaced at once on an IDR, and otherwise from the
// next IDR on, with ErrNeedKeyFrame for the access units dropped.
func TestDecoderFallback(t *testing.T) {
	// Key frames at 0 and 3: the encoder makes 3 an IDR on request.
	e, pool := newTestEncoder(t, Options{Width: 256, Height: 144, Threads: 1})
	pat := newTestPattern(256, 144, true)
	var aus [][]byte
	for i := range 6 {
		if i == 3 {
			if err := e.ForceKeyFrame(); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range encodeN(t, e, pool, pat, i, 1) {
			aus = append(aus, u.data)
		}
	}
	if !scanAU(aus[3]).idr || scanAU(aus[1]).idr {
		t.Fatal("the test stream's IDRs are not at 0 and 3")
	}

	d := openVideoDecoder(t, DecoderOptions{Backend: BackendAuto})
	n := 0
	for _, au := range aus {
		if err := d.Decode(au, func(f *Frame) error { n++; f.Release(); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n != len(aus) || (!hardwareDecoderWorks(t) && d.Backend() != BackendSoftware) {
		t.Fatalf("auto: %d pictures from %d access units, backend %s", n, len(aus), d.Backend())
	}

	// A "hardware" backend (the software decoder, told to fail) failing at
	// an IDR: replaced at once, nothing lost.
	d = fakeHardwareDecoder(t)
	d.dec.name, d.dec.fail = BackendNVDEC, astiav.ErrEio
	n = 0
	count := func(f *Frame) error { n++; f.Release(); return nil }
	if err := d.Decode(aus[0], count); err != nil || n != 1 || d.Backend() != BackendSoftware {
		t.Fatalf("failure at an IDR: %v, %d pictures, backend %s", err, n, d.Backend())
	}

	// Failing at a P-frame: the replacement waits for the next IDR, which
	// lacks parameter sets when they came alone (a codec config buffer).
	d = fakeHardwareDecoder(t)
	if err := d.Decode(aus[0], count); err != nil {
		t.Fatal(err)
	}
	d.dec.name, d.dec.fail = BackendNVDEC, astiav.ErrEio
	n = 0
	for i := 1; i < 3; i++ {
		if err := d.Decode(aus[i], count); !errors.Is(err, ErrNeedKeyFrame) {
			t.Fatalf("access unit %d after the failure: %v, want ErrNeedKeyFrame", i, err)
		}
	}
	// The IDR without its parameter sets: the decoder must bring its own.
	idr := aus[3]
	for start, hdr := nextNAL(idr, 0); start >= 0; start, hdr = nextNAL(idr, hdr) {
		if idr[hdr]&0x1f == nalIDR {
			idr = idr[start:]
			break
		}
	}
	if info := scanAU(idr); info.hasSPS || !info.idr {
		t.Fatalf("cannot strip the IDR's parameter sets: NAL types %v", nalTypes(idr))
	}
	if err := d.Decode(idr, count); err != nil || n != 1 {
		t.Fatalf("the IDR after the failure: %v, %d pictures", err, n)
	}
	for _, au := range aus[4:] {
		if err := d.Decode(au, count); err != nil {
			t.Fatal(err)
		}
	}
	if n != 3 || d.Backend() != BackendSoftware {
		t.Fatalf("%d pictures after the IDR, want 3; backend %s", n, d.Backend())
	}

	// A named backend does not fall back.
	d = openVideoDecoder(t, DecoderOptions{Backend: BackendSoftware})
	d.dec.fail = astiav.ErrEio
	if err := d.Decode(aus[0], count); !errors.Is(err, astiav.ErrEio) {
		t.Fatalf("named backend failing: %v, want its error", err)
	}
}

// fakeHardwareDecoder returns a BackendAuto decoder on the software
// backend with the software backend left to fall back on, for a test to
// make the first one fail as a hardware backend.
func fakeHardwareDecoder(t *testing.T) *VideoDecoder {
	t.Helper()
	d := openVideoDecoder(t, DecoderOptions{Backend: BackendAuto})
	d.rest = []string{BackendSoftware}
	if err := d.next(nil); err != nil {
		t.Fatal(err)
	}
	d.rest = []string{BackendSoftware}
	return d
}

// hardwareDecoderWorks reports whether the prober found a hardware decoder.
func hardwareDecoderWorks(t *testing.T) bool {
	for _, r := range testProber.Decoders(context.Background()) {
		if r.Available && IsHardwareDecoder(r.Decoder) {
			return true
		}
	}
	return false
}

// TestDecoderProbeOnThisMachine: software decoding works everywhere; a
// hardware backend is available or says why not.
func TestDecoderProbeOnThisMachine(t *testing.T) {
	p := NewProber(0, "")
	res := p.Decoders(context.Background())
	var names []string
	for _, r := range res {
		names = append(names, r.Decoder)
		t.Logf("%-8s available=%v %v %s", r.Decoder, r.Available, r.Elapsed, r.Reason)
		switch {
		case r.Encoder != "":
			t.Errorf("decoder result names an encoder: %+v", r)
		case r.Available && r.Reason != "":
			t.Errorf("%s: available with reason %q", r.Decoder, r.Reason)
		case !r.Available && r.Reason == "":
			t.Errorf("%s: unavailable without a reason", r.Decoder)
		case !r.Available && !IsHardwareDecoder(r.Decoder):
			t.Errorf("software decoding unavailable: %s", r.Reason)
		}
	}
	if !slices.Equal(names, DecoderBackends) {
		t.Fatalf("probed %v, want %v", names, DecoderBackends)
	}
	best, err := p.BestDecoder(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Available {
			if best != r.Decoder {
				t.Fatalf("BestDecoder = %s, want %s", best, r.Decoder)
			}
			break
		}
	}
	if err := ProbeDecoder(DecoderOptions{Backend: BackendCUVID}); err != nil {
		t.Logf("cuvid: %v", err)
	}
	if err := ProbeDecoder(DecoderOptions{Backend: BackendAuto}); err != nil {
		t.Fatalf("ProbeDecoder(auto): %v", err)
	}
	if _, err := NewVideoDecoder(DecoderOptions{Backend: "dxva"}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("unknown backend: %v", err)
	}
	if _, err := NewVideoDecoder(DecoderOptions{Codec: "hevc"}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("unknown codec: %v", err)
	}
}

// TestHardwareDecodersCompiledIn: the build has the hardware H.264
// decoders and hwaccels that the backends use.
func TestHardwareDecodersCompiledIn(t *testing.T) {
	dec := VideoDecoders()
	for _, want := range []string{"h264", "h264_cuvid", "h264_qsv", "png", "vp8"} {
		if !slices.Contains(dec, want) {
			t.Errorf("decoder %s missing from %v", want, dec)
		}
	}
	hw := HardwareAccels("h264")
	for _, want := range []string{"cuda", "vaapi"} {
		if !slices.Contains(hw, want) {
			t.Errorf("h264 hwaccel on %s missing (have %v)", want, hw)
		}
	}
	t.Logf("decoders %v; h264 hwaccels %v", dec, hw)
	if !strings.Contains(strings.Join(VideoEncoders(), ","), "h264_nvenc") {
		t.Error("h264_nvenc missing")
	}
}

// TestRefOfPooledFrame: a reference to a pooled frame keeps its picture
// while the pool hands out the frame again, with a new buffer.
func TestRefOfPooledFrame(t *testing.T) {
	pool := newPool(t, 64, 32, PixelFormatYUV420P)
	f, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	f.Plane(0)[0] = 77
	f.PTS = time.Second
	r, err := f.Ref()
	if err != nil {
		t.Fatal(err)
	}
	if r.Width() != 64 || r.Height() != 32 || r.Format() != PixelFormatYUV420P || r.PTS != time.Second || !r.sharesPicture(f) {
		t.Fatalf("reference %dx%d %s PTS %v", r.Width(), r.Height(), r.Format(), r.PTS)
	}
	f.Release()
	g, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	if g.sharesPicture(r) {
		t.Fatal("the pool reused a buffer that a reference still holds")
	}
	g.Plane(0)[0] = 1
	if r.Plane(0)[0] != 77 {
		t.Fatal("the reference's picture changed")
	}
	r.Release()
}
