package devicesim

import (
	"image/color"
	"testing"
	"time"
)

func pixel(s *screen, x, y int) rgb {
	c := s.snapshot().RGBAAt(x, y)
	return rgb{c.R, c.G, c.B}
}

func TestScreenMarks(t *testing.T) {
	s := newScreen(720, 1280, time.Now())
	if got := pixel(s, 100, 200); got == colTap {
		t.Fatal("tap colour on the screen before any tap")
	}
	gen, changed := s.watch()
	s.tap(100, 200)
	select {
	case <-changed:
	default:
		t.Fatal("tap did not signal a change")
	}
	if g, _ := s.watch(); g != gen+1 {
		t.Fatalf("generation %d after a tap, want %d", g, gen+1)
	}
	if got := pixel(s, 100, 200); got != colTap {
		t.Fatalf("pixel at the tap = %v, want %v", got, colTap)
	}
	// Marks persist under the animation.
	for range 3 {
		s.animate(time.Now())
	}
	if got := pixel(s, 100, 200); got != colTap {
		t.Fatalf("tap mark gone after animation: %v", got)
	}
	s.swipe(100, 400, 600, 400)
	if got := pixel(s, 350, 400); got != colSwipe {
		t.Fatalf("pixel on the swipe = %v, want %v", got, colSwipe)
	}
	s.longPress(300, 300)
	if got := pixel(s, 300+3*s.u-1, 300); got != colLongPress {
		t.Fatalf("pixel on the long-press ring = %v, want %v", got, colLongPress)
	}
	before := s.snapshot()
	s.key(3)
	s.text("hi there")
	after := s.snapshot()
	if string(before.Pix) == string(after.Pix) {
		t.Fatal("key and text left no mark")
	}
	// Marks outside the screen are clipped, not a crash.
	s.tap(-50, 5000)
	s.swipe(-1e6, -1e6, 1e6, 1e6)
	s.text(string(make([]byte, 10000)))
}

func TestScreenAnimation(t *testing.T) {
	s := newScreen(360, 640, time.Now())
	a := s.snapshot()
	s.animate(time.Now().Add(time.Second))
	b := s.snapshot()
	if string(a.Pix) == string(b.Pix) {
		t.Fatal("animation did not change the picture")
	}
	// The colour bars are static.
	y := 640 * 66 / 100
	if got, want := b.RGBAAt(10, y), (color.RGBA{255, 255, 255, 255}); got != want {
		t.Fatalf("first bar = %v, want %v", got, want)
	}
	if got, want := b.RGBAAt(359, y), (color.RGBA{0, 0, 0, 255}); got != want {
		t.Fatalf("last bar = %v, want %v", got, want)
	}
}

func TestScreenSmall(t *testing.T) {
	s := newScreen(2, 2, time.Now())
	s.animate(time.Now())
	s.tap(1, 1)
	s.key(288)
	s.text("x")
}

func TestSevenSegmentDigits(t *testing.T) {
	c := newCanvas(40, 60)
	for d := range 10 {
		clear(c.pix)
		c.digit(2, 2, 30, 50, 4, d, rgb{255, 255, 255})
		lit := 0
		for i := 0; i < len(c.pix); i += 4 {
			if c.pix[i] == 255 {
				lit++
			}
		}
		if lit == 0 {
			t.Fatalf("digit %d drew nothing", d)
		}
	}
}

func TestISqrt(t *testing.T) {
	for v := range 10000 {
		r := isqrt(v)
		if r*r > v || (r+1)*(r+1) <= v {
			t.Fatalf("isqrt(%d) = %d", v, r)
		}
	}
}
