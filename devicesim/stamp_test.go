package devicesim

import (
	"image"
	"testing"
	"time"

	"github.com/cloudphone/media-service/native"
)

// halve box-filters img to half its size, as a scaler would.
func halve(img *image.RGBA) *image.RGBA {
	w, h := img.Rect.Dx()/2, img.Rect.Dy()/2
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 4; c++ {
				s := int(img.Pix[img.PixOffset(2*x, 2*y)+c]) + int(img.Pix[img.PixOffset(2*x+1, 2*y)+c]) +
					int(img.Pix[img.PixOffset(2*x, 2*y+1)+c]) + int(img.Pix[img.PixOffset(2*x+1, 2*y+1)+c])
				out.Pix[out.PixOffset(x, y)+c] = uint8(s / 4)
			}
		}
	}
	return out
}

func TestStampRoundTrip(t *testing.T) {
	for _, size := range [][2]int{{720, 1280}, {360, 640}, {1280, 720}} {
		s := newScreen(size[0], size[1], time.Now())
		for range 3 {
			before := time.Now().UnixMilli()
			s.animate(time.Now())
			after := time.Now().UnixMilli()
			img := s.snapshot()
			got, ok := ReadStamp(img)
			if !ok {
				t.Fatalf("%dx%d: no stamp read", size[0], size[1])
			}
			if ms := got.UnixMilli(); ms < before || ms > after {
				t.Fatalf("%dx%d: stamp %d, drawn between %d and %d", size[0], size[1], ms, before, after)
			}
			if half, ok := ReadStamp(halve(img)); !ok || !half.Equal(got) {
				t.Fatalf("%dx%d scaled to half: %v %v, want %v", size[0], size[1], half, ok, got)
			}
		}
	}
}

func TestStampExactValues(t *testing.T) {
	c := newCanvas(360, 640)
	for _, ms := range []int64{0, 1, 1<<44 - 1, 1764133159123, 1<<43 + 12345} {
		c.drawStamp(time.UnixMilli(ms))
		img := &image.RGBA{Pix: c.pix, Stride: c.stride, Rect: image.Rect(0, 0, c.w, c.h)}
		got, ok := ReadStamp(img)
		if !ok || got.UnixMilli() != ms {
			t.Fatalf("stamp %d read back as %d (%v)", ms, got.UnixMilli(), ok)
		}
	}
}

// TestStampStaticRedraw: input on a screen that does not animate redraws
// the stamp with the time of the change.
func TestStampStaticRedraw(t *testing.T) {
	s := newScreen(360, 640, time.Now())
	first, ok := ReadStamp(s.snapshot())
	if !ok {
		t.Fatal("no stamp on the first frame")
	}
	time.Sleep(5 * time.Millisecond)
	s.tap(10, 639) // on the stamp itself
	got, ok := ReadStamp(s.snapshot())
	if !ok || !got.After(first) {
		t.Fatalf("stamp after a tap: %v %v, first %v", got, ok, first)
	}
	time.Sleep(5 * time.Millisecond)
	s.key(4)
	if k, ok := ReadStamp(s.snapshot()); !ok || !k.After(got) {
		t.Fatalf("stamp after a key: %v %v, before %v", k, ok, got)
	}
}

func TestStampRejects(t *testing.T) {
	s := newScreen(360, 640, time.Now())
	img := s.snapshot()
	// One flipped data bit fails the check.
	r := stampCell(360, 640, 1, 20)
	p := img.Pix[img.PixOffset((r.X0+r.X1)/2, (r.Y0+r.Y1)/2)]
	flip := uint8(255)
	if p > 128 {
		flip = 0
	}
	for y := r.Y0; y < r.Y1; y++ {
		for x := r.X0; x < r.X1; x++ {
			o := img.PixOffset(x, y)
			img.Pix[o], img.Pix[o+1], img.Pix[o+2] = flip, flip, flip
		}
	}
	if _, ok := ReadStamp(img); ok {
		t.Fatal("a stamp with a flipped bit was accepted")
	}
	if _, ok := ReadStamp(image.NewRGBA(image.Rect(0, 0, 360, 640))); ok {
		t.Fatal("a black picture has a stamp")
	}
	if _, ok := ReadStamp(image.NewRGBA(image.Rect(0, 0, 20, 20))); ok {
		t.Fatal("a tiny picture has a stamp")
	}
}

// TestStampH264 encodes the animated screen with libx264 at low bit rates,
// decodes it, and reads back every frame's exact stamp.
func TestStampH264(t *testing.T) {
	needFFmpeg(t)
	for _, size := range [][2]int{{720, 1280}, {360, 640}} {
		w, h := size[0], size[1]
		enc, err := native.NewEncoder(native.Options{Width: w, Height: h, FrameRate: 30, BitRate: 400_000,
			Preset: "ultrafast", KeyFrameInterval: 60, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		pool, err := native.NewFramePool(w, h, native.PixelFormatYUV420P, 2)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := native.NewDecoder(native.DecoderH264)
		if err != nil {
			t.Fatal(err)
		}
		s := newScreen(w, h, time.Now())
		var want []time.Time
		decoded := 0
		onPic := func(p *native.Picture) error {
			if p.Format != native.PixelFormatYUV420P {
				t.Fatalf("decoded format %v", p.Format)
			}
			img := &image.YCbCr{Y: p.Planes[0], Cb: p.Planes[1], Cr: p.Planes[2], YStride: p.Strides[0],
				CStride: p.Strides[1], SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: image.Rect(0, 0, p.Width, p.Height)}
			got, ok := ReadStamp(img)
			if !ok {
				t.Fatalf("%dx%d: frame %d: no stamp after H.264", w, h, decoded)
			}
			if !got.Equal(want[decoded]) {
				t.Fatalf("%dx%d: frame %d: stamp %d, want %d", w, h, decoded, got.UnixMilli(), want[decoded].UnixMilli())
			}
			decoded++
			return nil
		}
		const frames = 40
		for i := range frames {
			time.Sleep(3 * time.Millisecond) // distinct stamps
			s.animate(time.Now())
			if i%7 == 3 {
				s.tap(w/4+i, h-5) // marks under the stamp too
			}
			st, _ := ReadStamp(s.snapshot())
			want = append(want, st)
			f, err := pool.Get()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.read(func(pix []byte, width, height, stride int) error {
				return f.WritePacked(pix, width, height, stride, native.PixelFormatRGBA)
			}); err != nil {
				t.Fatal(err)
			}
			f.PTS = time.Duration(i) * time.Second / 30
			if err := enc.Encode(f, func(p native.Packet) error { return dec.Decode(p.Data, onPic) }); err != nil {
				t.Fatal(err)
			}
		}
		if err := dec.Flush(onPic); err != nil {
			t.Fatal(err)
		}
		if decoded != frames {
			t.Fatalf("%dx%d: %d frames decoded, want %d", w, h, decoded, frames)
		}
		dec.Close()
		_ = enc.Close()
		_ = pool.Close()
	}
}

func BenchmarkDrawStamp(b *testing.B) {
	c := newCanvas(720, 1280)
	now := time.Now()
	for b.Loop() {
		c.drawStamp(now)
	}
}
