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

func TestFitRect(t *testing.T) {
	for _, tc := range []struct {
		sw, sh, dw, dh int
		want           rect
	}{
		{720, 1280, 720, 1280, rect{0, 0, 720, 1280}},
		{720, 1280, 360, 640, rect{0, 0, 360, 640}},    // the same aspect: scaled
		{360, 640, 240, 432, rect{0, 3, 240, 429}},     // narrower: bars above and below
		{1280, 720, 720, 1280, rect{0, 437, 720, 842}}, // a quarter turn: landscape in portrait
		{720, 1280, 1280, 720, rect{437, 0, 842, 720}}, // and portrait in landscape
		{1001, 600, 1000, 600, rect{0, 0, 1000, 600}},  // within a pixel: stretched, no 1-pixel bar
		{0, 10, 10, 10, rect{}},
	} {
		if got := fitRect(tc.sw, tc.sh, tc.dw, tc.dh); got != tc.want {
			t.Errorf("fitRect(%dx%d into %dx%d) = %+v, want %+v", tc.sw, tc.sh, tc.dw, tc.dh, got, tc.want)
		}
	}
}

func TestFitterLetterboxes(t *testing.T) {
	// A 4x2 source of one colour into a 4x4 output: rows 1..2 carry it.
	src := make([]byte, 4*2*4)
	for i := 0; i < len(src); i += 4 {
		src[i], src[i+1], src[i+2], src[i+3] = 10, 20, 30, 255
	}
	f := newFitter(4, 4)
	f.prepare(4, 2)
	if f.full() || f.identity() {
		t.Fatal("a 4x2 source fills a 4x4 output")
	}
	rgb := make([]byte, 4*4*3)
	for i := range rgb {
		rgb[i] = 99 // must all be overwritten
	}
	f.writeRGB(rgb, src, 16)
	for y := range 4 {
		for x := range 4 {
			p := rgb[(y*4+x)*3 : (y*4+x)*3+3]
			want := []byte{0, 0, 0}
			if y == 1 || y == 2 {
				want = []byte{10, 20, 30}
			}
			if string(p) != string(want) {
				t.Fatalf("RGB pixel (%d,%d) = %v, want %v", x, y, p, want)
			}
		}
	}
	rgba := make([]byte, 4*4*4)
	f.writeRGBA(rgba, src, 16)
	if p := rgba[0:4]; string(p) != string([]byte{0, 0, 0, 255}) {
		t.Fatalf("RGBA bar pixel %v, want opaque black", p)
	}
	if p := rgba[(1*4+2)*4 : (1*4+2)*4+4]; string(p) != string([]byte{10, 20, 30, 255}) {
		t.Fatalf("RGBA content pixel %v", p)
	}
	// The same size again: a straight conversion.
	f.prepare(4, 4)
	if !f.identity() || !f.full() {
		t.Fatal("a 4x4 source is not the identity")
	}
}

// TestDisplayGoAPI turns and resizes the display without a shell.
func TestDisplayGoAPI(t *testing.T) {
	d := newDevice(t, Options{Width: 240, Height: 320, Static: true})
	if g := d.Display(); g != (Display{240, 320, 240, 320, 0}) {
		t.Fatalf("display %+v", g)
	}
	if err := d.SetRotation(1); err != nil {
		t.Fatal(err)
	}
	if b := d.Screen().Bounds(); b.Dx() != 320 || b.Dy() != 240 {
		t.Fatalf("screen after a quarter turn is %v, want 320x240", b)
	}
	if w, h := d.Size(); w != 240 || h != 320 || d.Rotation() != 1 {
		t.Fatalf("Size %dx%d rotation %d; want 240x320 (natural orientation), 1", w, h, d.Rotation())
	}
	if err := d.SetSize(200, 300); err != nil {
		t.Fatal(err)
	}
	if g := d.Display(); !g.Overridden() || g.Width != 200 || g.Height != 300 {
		t.Fatalf("display after SetSize %+v", g)
	}
	if b := d.Screen().Bounds(); b.Dx() != 300 || b.Dy() != 200 {
		t.Fatalf("screen %v, want 300x200 (the override, turned)", b)
	}
	if err := d.SetRotation(2); err != nil {
		t.Fatal(err)
	}
	if b := d.Screen().Bounds(); b.Dx() != 200 || b.Dy() != 300 {
		t.Fatalf("screen %v, want 200x300 (a half turn)", b)
	}
	if err := d.SetSize(0, 0); err != nil {
		t.Fatal(err)
	}
	if g := d.Display(); g.Overridden() || g.Width != 240 {
		t.Fatalf("display after the reset %+v", g)
	}
	for _, bad := range [][2]int{{-1, 0}, {4, 0}} {
		if err := d.SetRotation(bad[0]); err == nil {
			t.Errorf("SetRotation(%d) accepted", bad[0])
		}
	}
	for _, bad := range [][2]int{{201, 300}, {1, 300}, {5000, 300}, {0, 300}} {
		if err := d.SetSize(bad[0], bad[1]); err == nil {
			t.Errorf("SetSize(%d, %d) accepted", bad[0], bad[1])
		}
	}
	if _, err := New(Options{Addr: "127.0.0.1:0", Rotation: 4}); err == nil {
		t.Fatal("Options.Rotation 4 accepted")
	}
	d2 := newDevice(t, Options{Width: 240, Height: 320, Rotation: 3, Static: true})
	if b := d2.Screen().Bounds(); b.Dx() != 320 || b.Dy() != 240 {
		t.Fatalf("a device started at rotation 3 shows %v", b)
	}
}

func TestInputEventOnScreen(t *testing.T) {
	disp := Display{Width: 100, Height: 200, Rotation: 1} // a 200x100 picture
	for _, tc := range []struct {
		e    InputEvent
		want bool
	}{
		{InputEvent{Kind: InputTap, X: 199, Y: 99, X2: 199, Y2: 99, Display: disp}, true},
		{InputEvent{Kind: InputTap, X: 99, Y: 199, X2: 99, Y2: 199, Display: disp}, false},
		{InputEvent{Kind: InputSwipe, X: 0, Y: 0, X2: 200, Y2: 0, Display: disp}, false},
		{InputEvent{Kind: InputKeyEvent, Display: disp}, false},
	} {
		if got := tc.e.OnScreen(); got != tc.want {
			t.Errorf("%+v: OnScreen %v, want %v", tc.e, got, tc.want)
		}
	}
}
