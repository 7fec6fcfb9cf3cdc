//go:build cgo

package native

import (
	"errors"
	"testing"
)

func TestFramePoolReuseAndLimit(t *testing.T) {
	pool, err := NewFramePool(64, 32, PixelFormatYUV420P, 2)
	if err != nil {
		t.Fatal(err)
	}
	a, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	b, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Get(); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("third Get from a pool of 2 = %v, want ErrPoolExhausted", err)
	}
	if a.Stride(0) < 64 || len(a.Plane(0)) < a.Stride(0)*32 || len(a.Plane(1)) < a.Stride(1)*16 || len(a.Plane(2)) < a.Stride(2)*16 {
		t.Fatalf("plane sizes %d/%d/%d with strides %d/%d/%d do not cover 64x32",
			len(a.Plane(0)), len(a.Plane(1)), len(a.Plane(2)), a.Stride(0), a.Stride(1), a.Stride(2))
	}
	a.Plane(0)[0] = 77
	buf := &a.Plane(0)[0]
	a.Release()
	a.Release() // harmless
	if a.Plane(0) != nil {
		t.Fatal("a released frame still exposes its planes")
	}
	c, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	if &c.Plane(0)[0] != buf || c.Plane(0)[0] != 77 {
		t.Fatal("Get did not reuse the released frame's buffer")
	}
	if c.PTS != NoPTS {
		t.Fatalf("Get returned PTS %v, want NoPTS", c.PTS)
	}
	if err := c.WritePacked(make([]byte, 64*32*4), 64, 32, 64*4, PixelFormatRGBA); err != nil {
		t.Fatal(err)
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := pool.Get(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	if err := c.WritePacked(make([]byte, 64*32*4), 64, 32, 64*4, PixelFormatRGBA); !errors.Is(err, ErrClosed) {
		t.Fatalf("WritePacked after the pool closed = %v, want ErrClosed", err)
	}
	// Frames still out when the pool closed are freed on release.
	b.Release()
	c.Release()
	if pool.all != 0 {
		t.Fatalf("%d frames still allocated after Close and Release", pool.all)
	}
}

func TestWritePackedColors(t *testing.T) {
	// BT.601 limited range, as libswscale converts by default.
	colors := []struct {
		name    string
		r, g, b byte
		y, u, v int
	}{
		{"white", 255, 255, 255, 235, 128, 128},
		{"black", 0, 0, 0, 16, 128, 128},
		{"red", 255, 0, 0, 81, 90, 240},
		{"green", 0, 255, 0, 145, 54, 34},
		{"blue", 0, 0, 255, 41, 240, 110},
	}
	const w, h = 48, 16
	for _, dst := range []PixelFormat{PixelFormatYUV420P, PixelFormatNV12} {
		pool, err := NewFramePool(w, h, dst, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range []PixelFormat{PixelFormatRGBA, PixelFormatBGRA, PixelFormatRGB24} {
			for _, c := range colors {
				t.Run(src.String()+"-to-"+dst.String()+"-"+c.name, func(t *testing.T) {
					bpp := src.BytesPerPixel()
					stride := w*bpp + 8 // padded rows
					img := make([]byte, stride*h)
					for row := 0; row < h; row++ {
						for col := 0; col < w; col++ {
							p := img[row*stride+col*bpp:]
							switch src {
							case PixelFormatRGBA, PixelFormatRGB24:
								p[0], p[1], p[2] = c.r, c.g, c.b
							case PixelFormatBGRA:
								p[0], p[1], p[2] = c.b, c.g, c.r
							}
							if bpp == 4 {
								p[3] = 255
							}
						}
					}
					f, err := pool.Get()
					if err != nil {
						t.Fatal(err)
					}
					defer f.Release()
					if err := f.WritePacked(img, w, h, stride, src); err != nil {
						t.Fatal(err)
					}
					y := int(f.Plane(0)[f.Stride(0)*5+7])
					var u, v int
					if dst == PixelFormatNV12 {
						u, v = int(f.Plane(1)[f.Stride(1)*2+6]), int(f.Plane(1)[f.Stride(1)*2+7])
					} else {
						u, v = int(f.Plane(1)[f.Stride(1)*2+3]), int(f.Plane(2)[f.Stride(2)*2+3])
					}
					if abs(y-c.y) > 2 || abs(u-c.u) > 2 || abs(v-c.v) > 2 {
						t.Fatalf("YUV %d,%d,%d, want %d,%d,%d", y, u, v, c.y, c.u, c.v)
					}
				})
			}
		}
		pool.Close()
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestWritePackedScalesAndRejects(t *testing.T) {
	pool, err := NewFramePool(64, 64, PixelFormatYUV420P, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	f, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	// A white 128x128 source scales down into the 64x64 frame.
	white := make([]byte, 128*128*3)
	for i := range white {
		white[i] = 255
	}
	if err := f.WritePacked(white, 128, 128, 128*3, PixelFormatRGB24); err != nil {
		t.Fatal(err)
	}
	if y := f.Plane(0)[f.Stride(0)*63+63]; abs(int(y)-235) > 2 {
		t.Fatalf("scaled white Y = %d, want 235", y)
	}
	for _, tc := range []struct {
		name         string
		src          []byte
		w, h, stride int
		format       PixelFormat
	}{
		{"short buffer", make([]byte, 100), 64, 64, 256, PixelFormatRGBA},
		{"stride below width", make([]byte, 64*64*4), 64, 64, 100, PixelFormatRGBA},
		{"planar source", make([]byte, 64*64*2), 64, 64, 64, PixelFormatYUV420P},
		{"zero size", make([]byte, 16), 0, 0, 0, PixelFormatRGBA},
	} {
		if err := f.WritePacked(tc.src, tc.w, tc.h, tc.stride, tc.format); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: WritePacked = %v, want ErrInvalidOptions", tc.name, err)
		}
	}
}

func TestDecoderGarbage(t *testing.T) {
	for _, name := range []string{DecoderH264, DecoderPNG, DecoderVP8} {
		d, err := NewDecoder(name)
		if err != nil {
			t.Fatal(err)
		}
		pics := 0
		for i := range 20 {
			junk := make([]byte, 50+i*37)
			for j := range junk {
				junk[j] = byte(j*31 + i*7)
			}
			// An error or no picture; never a crash.
			_ = d.Decode(junk, func(*Picture) error { pics++; return nil })
		}
		if pics != 0 {
			t.Errorf("%s decoded %d pictures from garbage", name, pics)
		}
		d.Close()
		if err := d.Decode([]byte{1}, func(*Picture) error { return nil }); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Decode after Close = %v, want ErrClosed", name, err)
		}
	}
	if _, err := NewDecoder("nonexistent"); err == nil {
		t.Fatal("NewDecoder(nonexistent) succeeded")
	}
}
