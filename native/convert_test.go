//go:build cgo

package native

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/asticode/go-astiav"
)

// The service's frame path: capture frames (CaptureFormat) go to Encode,
// which converts them to the encoder's input format. h264_qsv and
// h264_vaapi take nv12 only; libx264 limited to nv12 (Options.InputFormats)
// takes frames the same way, so the conversion they need runs on every
// machine and its output can be decoded and compared.

// regions is a picture of flat areas that a conversion or plane-order bug
// would show: luma dark left of a vertical edge and bright right of it, Cb
// low in the top half and high in the bottom half, Cr low left of the edge
// and high right of it. The edge moves 16 pixels per frame, so that a stale
// picture shows too.
type regions struct{ w, h int }

const (
	regionDarkY, regionBrightY = 48, 200
	regionTopU, regionBottomU  = 80, 170
	regionLeftV, regionRightV  = 100, 190
)

// edge is the luma column where frame n turns bright.
func (r regions) edge(n int) int { return r.w*3/10 + 16*n }

// fill draws frame n into f, in f's format (yuv420p or nv12).
func (r regions) fill(t testing.TB, f *Frame, n int) {
	t.Helper()
	bx := r.edge(n)
	y, ys := f.Plane(0), f.Stride(0)
	for row := 0; row < r.h; row++ {
		for col := 0; col < r.w; col++ {
			y[row*ys+col] = regionDarkY
			if col >= bx {
				y[row*ys+col] = regionBrightY
			}
		}
	}
	for row := 0; row < r.h/2; row++ {
		for col := 0; col < r.w/2; col++ {
			u, v := byte(regionTopU), byte(regionLeftV)
			if row >= r.h/4 {
				u = regionBottomU
			}
			if col >= bx/2 {
				v = regionRightV
			}
			switch f.Format() {
			case PixelFormatYUV420P:
				f.Plane(1)[row*f.Stride(1)+col] = u
				f.Plane(2)[row*f.Stride(2)+col] = v
			case PixelFormatNV12:
				f.Plane(1)[row*f.Stride(1)+2*col] = u
				f.Plane(1)[row*f.Stride(1)+2*col+1] = v
			default:
				t.Fatalf("regions: format %s", f.Format())
			}
		}
	}
}

// mean is the mean of plane over columns [x0, x1) and rows [y0, y1).
func mean(plane []byte, stride, x0, x1, y0, y1 int) float64 {
	sum := 0
	for row := y0; row < y1; row++ {
		for col := x0; col < x1; col++ {
			sum += int(plane[row*stride+col])
		}
	}
	return float64(sum) / float64((x1-x0)*(y1-y0))
}

// check compares decoded picture n with what fill drew: the mean of each
// flat area, away from its edges, within tol of the value drawn.
func (r regions) check(t testing.TB, pic *Picture, n int) {
	t.Helper()
	if pic.Width != r.w || pic.Height != r.h || pic.Format != PixelFormatYUV420P {
		t.Fatalf("picture %d: %dx%d %s, want %dx%d yuv420p", n, pic.Width, pic.Height, pic.Format, r.w, r.h)
	}
	const tol, margin = 6.0, 8 // margin in luma pixels
	bx, cw, ch := r.edge(n), r.w/2, r.h/2
	for _, a := range []struct {
		what           string
		plane          int
		x0, x1, y0, y1 int
		want           float64
	}{
		{"Y left of the edge", 0, 0, bx - margin, 0, r.h, regionDarkY},
		{"Y right of the edge", 0, bx + margin, r.w, 0, r.h, regionBrightY},
		{"Cb top", 1, 0, cw, 0, ch/2 - margin/2, regionTopU},
		{"Cb bottom", 1, 0, cw, ch/2 + margin/2, ch, regionBottomU},
		{"Cr left of the edge", 2, 0, bx/2 - margin/2, 0, ch, regionLeftV},
		{"Cr right of the edge", 2, bx/2 + margin/2, cw, 0, ch, regionRightV},
	} {
		got := mean(pic.Planes[a.plane], pic.Strides[a.plane], a.x0, a.x1, a.y0, a.y1)
		if got < a.want-tol || got > a.want+tol {
			t.Errorf("picture %d: %s: mean %.1f, want %v ± %v", n, a.what, got, a.want, tol)
		}
	}
}

// encodeRegions encodes frames 0..n-1 of r, frame i from pools[i%len(pools)],
// and returns the packets, one per frame.
func encodeRegions(t *testing.T, e *Encoder, r regions, n int, pools ...*FramePool) []encoded {
	t.Helper()
	var out []encoded
	for i := 0; i < n; i++ {
		f, err := pools[i%len(pools)].Get()
		if err != nil {
			t.Fatal(err)
		}
		r.fill(t, f, i)
		if err := e.Encode(f, func(p Packet) error {
			out = append(out, encoded{bytes.Clone(p.Data), p.KeyFrame, p.PTS, p.Duration, i})
			return nil
		}); err != nil {
			t.Fatalf("encode frame %d (%s): %v", i, pools[i%len(pools)].Format(), err)
		}
	}
	out = append(out, flushAll(t, e)...)
	if len(out) != n {
		t.Fatalf("%d packets for %d frames", len(out), n)
	}
	return out
}

// decodeRegions decodes the H.264 packets and checks each picture.
func decodeRegions(t *testing.T, r regions, units []encoded) {
	t.Helper()
	dec, err := NewDecoder(DecoderH264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	n := 0
	check := func(pic *Picture) error {
		r.check(t, pic, n)
		n++
		return nil
	}
	for _, u := range units {
		if err := dec.Decode(u.data, check); err != nil {
			t.Fatal(err)
		}
	}
	if err := dec.Flush(check); err != nil {
		t.Fatal(err)
	}
	if n != len(units) {
		t.Fatalf("decoded %d pictures from %d packets", n, len(units))
	}
}

func newPool(t *testing.T, w, h int, format PixelFormat) *FramePool {
	t.Helper()
	p, err := NewFramePool(w, h, format, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func openEncoder(t *testing.T, o Options) *Encoder {
	t.Helper()
	e, err := NewEncoder(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// nv12Only is libx264 taking frames as h264_qsv and h264_vaapi do.
func nv12Only(w, h int) Options {
	return Options{Codec: CodecX264, Width: w, Height: h, Threads: 1, InputFormats: []PixelFormat{PixelFormatNV12}}
}

// TestEncodeConvertsCaptureFrames: capture frames (yuv420p) through the
// service path into an encoder that takes nv12 only are converted, and
// decode to the picture drawn.
func TestEncodeConvertsCaptureFrames(t *testing.T) {
	r := regions{320, 240}
	e := openEncoder(t, nv12Only(r.w, r.h))
	if f := e.InputFormat(); f != PixelFormatNV12 {
		t.Fatalf("InputFormat = %s, want nv12", f)
	}
	if f := e.Options().PixelFormat; f != CaptureFormat {
		t.Fatalf("default PixelFormat %s, want the capture format %s", f, CaptureFormat)
	}
	// PixelFormat (the capture format) is not the input format: the
	// conversion frame is there from the start.
	if e.conv == nil || e.conv.PixelFormat() != astiav.PixelFormatNv12 {
		t.Fatalf("conversion frame %v, want an nv12 frame allocated when the encoder opened", e.conv)
	}
	units := encodeRegions(t, e, r, 8, newPool(t, r.w, r.h, CaptureFormat))
	if !units[0].key || !hasNAL(units[0].data, nalSPS, nalPPS, nalIDR) {
		t.Fatalf("first packet: key=%v NAL types %v, want an IDR with SPS and PPS", units[0].key, nalTypes(units[0].data))
	}
	decodeRegions(t, r, units)
}

// TestEncodeNV12Natively: the same encoder fed nv12 frames takes them as
// they are.
func TestEncodeNV12Natively(t *testing.T) {
	r := regions{320, 240}
	o := nv12Only(r.w, r.h)
	o.PixelFormat = PixelFormatNV12
	e := openEncoder(t, o)
	if f := e.InputFormat(); f != PixelFormatNV12 {
		t.Fatalf("InputFormat = %s, want nv12", f)
	}
	units := encodeRegions(t, e, r, 8, newPool(t, r.w, r.h, PixelFormatNV12))
	if e.conv != nil || e.sws.ctx != nil {
		t.Fatal("nv12 frames into an nv12 encoder were converted")
	}
	decodeRegions(t, r, units)
}

// TestEncodeMixedFormats: one encoder takes frames of both formats in
// turn; the conversion frame comes at the first frame that needs it.
func TestEncodeMixedFormats(t *testing.T) {
	r := regions{320, 240}
	nv12 := nv12Only(r.w, r.h)
	nv12.PixelFormat = PixelFormatNV12
	for _, tc := range []struct {
		input PixelFormat
		o     Options
	}{
		{PixelFormatYUV420P, Options{Codec: CodecX264, Width: r.w, Height: r.h, Threads: 1}}, // nv12 frames converted
		{PixelFormatNV12, nv12}, // yuv420p frames converted
	} {
		t.Run(tc.input.String()+"-input", func(t *testing.T) {
			e := openEncoder(t, tc.o)
			if e.InputFormat() != tc.input || e.conv != nil {
				t.Fatalf("InputFormat %s, conversion frame %v; want %s and none yet", e.InputFormat(), e.conv, tc.input)
			}
			units := encodeRegions(t, e, r, 10,
				newPool(t, r.w, r.h, PixelFormatYUV420P), newPool(t, r.w, r.h, PixelFormatNV12))
			if e.conv == nil {
				t.Fatal("no conversion frame after frames in the other format")
			}
			decodeRegions(t, r, units)
		})
	}
}

// TestNewEncoderInputFormatsNoOverlap: limiting an encoder to formats its
// backend does not take fails to open, naming the option.
func TestNewEncoderInputFormatsNoOverlap(t *testing.T) {
	e, err := NewEncoder(Options{Codec: CodecVP8, Width: 64, Height: 64, InputFormats: []PixelFormat{PixelFormatNV12}})
	if err == nil {
		e.Close()
		t.Fatal("libvpx opened limited to nv12")
	}
	if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), "InputFormats [nv12]: libvpx takes none of them natively") {
		t.Fatalf("NewEncoder = %v, want ErrInvalidOptions naming InputFormats", err)
	}
}

func TestProbeEncoder(t *testing.T) {
	for _, o := range []Options{
		{Codec: CodecX264},
		nv12Only(0, 0), // the conversion h264_qsv and h264_vaapi need
		{Codec: CodecVP8, Width: 64, Height: 48},
	} {
		if err := ProbeEncoder(o); err != nil {
			t.Errorf("ProbeEncoder(%s limited to %v, %dx%d): %v", o.Codec, o.InputFormats, o.Width, o.Height, err)
		}
	}
	if err := ProbeEncoder(Options{Codec: "mpeg2video"}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("ProbeEncoder(mpeg2video) = %v, want ErrInvalidOptions", err)
	}
	const dev = "/nonexistent/renderD999"
	if err := ProbeEncoder(Options{Codec: CodecVAAPI, VAAPIDevice: dev}); err == nil || !strings.Contains(err.Error(), "create VAAPI device "+dev) {
		t.Errorf("ProbeEncoder(h264_vaapi on %s) = %v, want an error creating the device", dev, err)
	}
}
