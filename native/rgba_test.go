//go:build cgo

package native

import (
	"errors"
	"image"
	"testing"
)

// TestFrameRGBA: a yuv420p frame back to RGBA at its size, at half its
// size (area averaging) and at an odd size, with its colours; a released
// frame and sizes out of range are refused.
func TestFrameRGBA(t *testing.T) {
	const w, h = 64, 32
	pool, err := NewFramePool(w, h, PixelFormatYUV420P, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	f, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	// Left half red (devicesim's pointer 0), right half blue.
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := [4]uint8{255, 32, 48, 255}
			if x >= w/2 {
				c = [4]uint8{32, 96, 255, 255}
			}
			copy(src.Pix[src.PixOffset(x, y):], c[:])
		}
	}
	if err := f.WritePacked(src.Pix, w, h, src.Stride, PixelFormatRGBA); err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{{w, h}, {w / 2, h / 2}, {33, 17}} {
		img, err := f.RGBA(size[0], size[1])
		if err != nil {
			t.Fatalf("%v: %v", size, err)
		}
		if b := img.Bounds(); b.Dx() != size[0] || b.Dy() != size[1] {
			t.Fatalf("asked %v, got %v", size, b)
		}
		for _, p := range []struct {
			x    int
			want [3]int
		}{{size[0] / 8, [3]int{255, 32, 48}}, {size[0] * 7 / 8, [3]int{32, 96, 255}}} {
			o := img.PixOffset(p.x, size[1]/2)
			for i, want := range p.want {
				if got := int(img.Pix[o+i]); abs(got-want) > 12 {
					t.Errorf("%v: pixel (%d,%d) channel %d is %d, want %d", size, p.x, size[1]/2, i, got, want)
				}
			}
			if img.Pix[o+3] != 255 {
				t.Errorf("%v: alpha %d", size, img.Pix[o+3])
			}
		}
	}
	for _, size := range [][2]int{{0, 10}, {10, -1}, {8193, 10}} {
		if _, err := f.RGBA(size[0], size[1]); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("size %v: %v", size, err)
		}
	}
	f.Release()
	if _, err := f.RGBA(w, h); !errors.Is(err, ErrFrameReleased) {
		t.Errorf("released frame: %v", err)
	}
}
