package devicesim

import (
	"image"
	"image/color"
	"math"
	"sync"
	"time"
)

// PointerColors are the colours of the marks that touches leave, by
// pointer id: pointer 0 (and a tap of the input command) red, 1 blue, 2
// green, 3 amber, 4 violet, 5 cyan, 6 orange, 7 pink, 8 lime, 9 brown.
// While a finger is down each of its positions is a solid disc of its
// pointer's colour, of radius 2.5% of the picture's width (at least 9
// pixels at 360 wide), joined to the one before by a line. Nothing that
// moves on the test picture has these colours: the animation is white,
// light grey and near-black on a dark blue ground. The static colour bars
// (62..70% of the height) hold a pure red, so a test that looks for
// pointer 0's red in a decoded frame taps elsewhere.
var PointerColors = [10]color.RGBA{
	{255, 32, 48, 255}, {32, 96, 255, 255}, {32, 200, 64, 255}, {255, 200, 0, 255},
	{170, 60, 255, 255}, {0, 210, 210, 255}, {255, 120, 0, 255}, {255, 100, 200, 255},
	{150, 255, 0, 255}, {160, 100, 50, 255},
}

// pointerRGB are PointerColors as the drawing code takes them (a copy:
// changing PointerColors changes no drawing).
var pointerRGB = func() (a [len(PointerColors)]rgb) {
	for i, c := range PointerColors {
		a[i] = rgb{c.R, c.G, c.B}
	}
	return a
}()

// Colours of the marks that input leaves on the screen.
var (
	colTap       = pointerRGB[0]     // a tap: a filled dot, pointer 0's
	colLongPress = rgb{255, 160, 32} // a long press: a ring
	colSwipe     = rgb{32, 224, 255} // a swipe: a line with a dot at its end
	colKey       = rgb{255, 224, 0}  // a key: its code, and a swatch
	colScroll    = rgb{120, 255, 200}
	colClipLabel = rgb{240, 240, 240}
	colHUD       = rgb{240, 240, 240}
	colBox       = rgb{250, 250, 250}
	colBoxEdge   = rgb{24, 24, 32}
	colOff       = rgb{0, 0, 0} // the screen turned off
)

// colourBars are the test card's bars, left to right.
var colourBars = [...]rgb{
	{255, 255, 255}, {255, 255, 0}, {0, 255, 255}, {0, 255, 0},
	{255, 0, 255}, {255, 0, 0}, {0, 0, 255}, {0, 0, 0},
}

// screen is the device's framebuffer: the picture as captures see it, in
// the display's current orientation. live is what captures see; base is
// the static background with every input mark drawn on it, which the
// animation restores its regions from before it draws the next frame.
// Changes bump gen and close changed, which wakes the capture loops. A
// change of size (resize: a rotation, wm size) lays the picture out anew,
// as an app redraws on a configuration change; the input marks go.
type screen struct {
	mu sync.RWMutex // guards everything below

	w, h int
	u    int // layout unit: 1/90 of the shorter side

	// layout
	hud, band, keyArea, textArea, clipArea rect
	digitW, digitH, thick                  int

	live    *canvas
	base    *canvas
	gen     uint64
	changed chan struct{}
	frame   uint64
	start   time.Time
	keyN    int
	textX   int
	textY   int

	// overlay are the marks that lie on the animated regions (the HUD and
	// the moving box's band): drawDynamic draws them again over each
	// frame, so that a tap there stays visible.
	overlay []func(c *canvas)
	clip    string // the clipboard, shown in clipArea
	off     bool   // the screen is off: the live picture is black
}

// maxOverlay bounds the marks drawn again at each frame.
const maxOverlay = 32

func newScreen(w, h int, now time.Time) *screen {
	s := &screen{start: now, changed: make(chan struct{})}
	s.layout(w, h, now)
	return s
}

// layout sizes the screen w×h and draws it afresh: the background, the
// dynamic parts at the current frame, and a stamp. Callers hold mu (or own
// s alone).
func (s *screen) layout(w, h int, now time.Time) {
	s.w, s.h = w, h
	s.u = max(2, min(w, h)/90)
	u := s.u
	s.digitW, s.digitH, s.thick = 3*u, 6*u, max(1, u*3/4)
	s.hud = rect{2 * u, 2 * u, w - 2*u, 2*u + 2*s.digitH + 2*u}
	s.band = rect{0, h * 45 / 100, w, h * 55 / 100}
	// The key area sits above the capture stamp on the bottom edge.
	sh := stampArea(w, h)
	stampH := sh.Y1 - sh.Y0
	s.keyArea = rect{2 * u, h - stampH - 2*u - s.digitH, w - 2*u, h - stampH - 2*u}
	s.textArea = rect{2 * u, s.keyArea.Y0 - 3*u - 4*3*u, w - 2*u, s.keyArea.Y0 - 3*u}
	s.textX, s.textY = s.textArea.X0, s.textArea.Y0
	s.clipArea = rect{2 * u, s.textArea.Y0 - 4*u, w - 2*u, s.textArea.Y0 - 2*u}
	s.overlay = nil

	s.base = newCanvas(w, h)
	s.paintBackground(s.base, s.base.bounds())
	s.drawClip(s.base)
	s.live = newCanvas(w, h)
	copy(s.live.pix, s.base.pix)
	s.drawDynamic(now)
	if s.off {
		s.live.fill(s.live.bounds(), colOff)
	}
	s.live.drawStamp(time.Now())
}

// resize lays the screen out at w×h, unless it is that size already, and
// publishes the change. It reports whether the size changed.
func (s *screen) resize(w, h int, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w == s.w && h == s.h {
		return false
	}
	s.layout(w, h, now)
	s.bump()
	return true
}

// size returns the screen's current size.
func (s *screen) size() (w, h int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.w, s.h
}

// paintBackground paints r of c with the static picture: a dark gradient
// with a grid every 8 units, and colour bars across 62%..70% of the height.
func (s *screen) paintBackground(c *canvas, r rect) {
	r = r.intersect(c.bounds())
	bars := rect{r.X0, max(r.Y0, s.h*62/100), r.X1, min(r.Y1, s.h*70/100)}
	n := len(colourBars)
	for i, col := range colourBars {
		c.fill(rect{(i*s.w + n - 1) / n, bars.Y0, ((i+1)*s.w + n - 1) / n, bars.Y1}.intersect(bars), col)
	}
	grid := 8 * s.u
	for y := r.Y0; y < r.Y1; y++ {
		if y >= bars.Y0 && y < bars.Y1 {
			continue
		}
		base := rgb{uint8(16 + 40*y/s.h), uint8(24 + 32*y/s.h), uint8(64 + 72*y/s.h)}
		line := rgb{base.R + 28, base.G + 28, base.B + 28}
		if y%grid == 0 {
			c.fill(rect{r.X0, y, r.X1, y + 1}, line)
			continue
		}
		c.fill(rect{r.X0, y, r.X1, y + 1}, base)
		for x := r.X0 - r.X0%grid; x < r.X1; x += grid {
			if x >= r.X0 {
				c.fill(rect{x, y, x + 1, y + 1}, line)
			}
		}
	}
}

// drawDynamic draws the frame counter, the clock and the moving box over
// the base picture. Callers hold mu (or own s alone).
func (s *screen) drawDynamic(now time.Time) {
	s.live.copyFrom(s.base, s.hud)
	s.live.copyFrom(s.base, s.band)
	u, dw, dh, t := s.u, s.digitW, s.digitH, s.thick
	x, y := s.hud.X0, s.hud.Y0
	s.live.number(x, y, dw, dh, t, u, s.frame, 6, colHUD)

	// HH MM SS mmm, with dots between the groups.
	y += dh + 2*u
	groups := [4]struct {
		v uint64
		n int
	}{{uint64(now.Hour()), 2}, {uint64(now.Minute()), 2}, {uint64(now.Second()), 2}, {uint64(now.Nanosecond() / 1e6), 3}}
	for i, g := range groups {
		x = s.live.number(x, y, dw, dh, t, u, g.v, g.n, colHUD)
		if i < len(groups)-1 {
			s.live.fill(rect{x, y + dh - t, x + t, y + dh}, colHUD)
			x += t + u
		}
	}

	// The box crosses the band, u pixels a frame, and wraps.
	boxW := s.w / 6
	span := s.w - boxW
	bx := int(s.frame*uint64(u)) % max(span, 1)
	box := rect{bx, s.band.Y0 + u, bx + boxW, s.band.Y1 - u}
	s.live.fill(box, colBoxEdge)
	s.live.fill(rect{box.X0 + t, box.Y0 + t, box.X1 - t, box.Y1 - t}, colBox)
	for _, draw := range s.overlay {
		draw(s.live)
	}
}

// bump publishes a change: it draws the capture stamp (the wall-clock
// time, now, that the frame is published at; see stamp.go) on the live
// picture, so that every rendered frame carries one, animated or not.
// Callers hold mu.
func (s *screen) bump() {
	s.live.drawStamp(time.Now())
	s.gen++
	close(s.changed)
	s.changed = make(chan struct{})
}

// animate advances the picture by one frame.
func (s *screen) animate(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frame++
	if s.off {
		return // a dark screen shows no new frames
	}
	s.drawDynamic(now)
	s.bump()
}

// watch returns the current generation and a channel that is closed at the
// next change.
func (s *screen) watch() (uint64, <-chan struct{}) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen, s.changed
}

// read calls fn with the live pixels (packed RGBA, stride 4·w) under the
// read lock, and returns the generation it saw. fn must not keep pix.
func (s *screen) read(fn func(pix []byte, w, h, stride int) error) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen, fn(s.live.pix, s.w, s.h, s.live.stride)
}

// snapshot returns a copy of the live picture.
func (s *screen) snapshot() *image.RGBA {
	s.mu.RLock()
	defer s.mu.RUnlock()
	img := image.NewRGBA(image.Rect(0, 0, s.w, s.h))
	copy(img.Pix, s.live.pix)
	return img
}

// mark draws an input mark on both the base and the live picture (not
// the live one while the screen is off). draw runs with mu held and
// returns the bounds of what it drew; a mark on the animated regions is
// kept in the overlay.
func (s *screen) mark(draw func(c *canvas) rect) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := draw(s.base)
	if !s.off {
		draw(s.live)
	}
	if !r.intersect(s.hud).empty() || !r.intersect(s.band).empty() {
		s.overlay = appendBoundedN(s.overlay, func(c *canvas) { draw(c) }, maxOverlay)
	}
	s.bump()
}

// touchRadius is the radius of a touch's dot: 2.5% of the width, and at
// least two layout units. Callers hold mu.
func (s *screen) touchRadius() int { return max(2*s.u, (s.w*25+999)/1000) }

// around returns the square of radius r around (x, y).
func around(x, y, r int) rect { return rect{x - r, y - r, x + r + 1, y + r + 1} }

// union returns the smallest rectangle that holds a and b.
func union(a, b rect) rect {
	return rect{min(a.X0, b.X0), min(a.Y0, b.Y0), max(a.X1, b.X1), max(a.Y1, b.Y1)}
}

func (s *screen) tap(x, y int) {
	s.mark(func(c *canvas) rect {
		r := s.touchRadius()
		c.disc(x, y, r, colTap)
		return around(x, y, r)
	})
}

// touch marks one position of a finger: a disc of its pointer's colour,
// and a line from its position before (had).
func (s *screen) touch(pointer, x, y int, prev [2]int, had bool) {
	col := pointerRGB[(pointer%len(pointerRGB)+len(pointerRGB))%len(pointerRGB)]
	s.mark(func(c *canvas) rect {
		r := s.touchRadius()
		b := around(x, y, r)
		if had {
			c.line(prev[0], prev[1], x, y, max(2, s.u/2), col)
			b = union(b, around(prev[0], prev[1], s.u))
		}
		c.disc(x, y, r, col)
		return b
	})
}

// scroll marks a wheel turn: a square at the point and a bar in the
// direction of the scroll, three units long per notch (up for a positive
// vertical amount, right for a positive horizontal one).
func (s *screen) scroll(x, y int, h, v float64) {
	s.mark(func(c *canvas) rect {
		u := s.u
		ex := x + int(math.Round(h*float64(3*u)))
		ey := y - int(math.Round(v*float64(3*u)))
		c.line(x, y, ex, ey, max(2, u/2), colScroll)
		c.fill(rect{x - u, y - u, x + u, y + u}, colScroll)
		c.disc(ex, ey, max(1, u/2), colScroll)
		return union(around(x, y, u), around(ex, ey, u))
	})
}

func (s *screen) longPress(x, y int) {
	s.mark(func(c *canvas) rect {
		c.ring(x, y, 3*s.u, max(2, s.u/2), colLongPress)
		return around(x, y, 3*s.u)
	})
}

func (s *screen) swipe(x0, y0, x1, y1 int) {
	s.mark(func(c *canvas) rect {
		c.line(x0, y0, x1, y1, max(2, s.u/2), colSwipe)
		c.disc(x1, y1, s.u, colSwipe)
		return union(around(x0, y0, s.u), around(x1, y1, s.u))
	})
}

// setClipboard shows the clipboard's text in its strip.
func (s *screen) setClipboard(t string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clip = t
	s.drawClip(s.base)
	if !s.off {
		s.live.copyFrom(s.base, s.clipArea)
	}
	s.bump()
}

// drawClip paints the clipboard strip on c: a white label, then a block
// for each character of the clipboard, coloured by its code point, in the
// style of the text area, as many as fit. Callers hold mu.
func (s *screen) drawClip(c *canvas) {
	a := s.clipArea
	if a.empty() {
		return
	}
	s.paintBackground(c, a)
	u := s.u
	c.fill(rect{a.X0, a.Y0, a.X0 + u/2 + 1, a.Y1}, colClipLabel)
	x := a.X0 + u
	for _, r := range s.clip {
		if x+u > a.X1 {
			break
		}
		if r != ' ' {
			c.fill(rect{x, a.Y0, x + u, a.Y1}, palette(int(r)))
		}
		x += u + u/2
	}
}

// setPower turns the screen on or off. Off, the live picture is black
// (the capture stamp still on it) and the animation stops; input marks
// go on being drawn on the base picture, and show when it comes on.
func (s *screen) setPower(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.off == !on {
		return
	}
	s.off = !on
	if s.off {
		s.live.fill(s.live.bounds(), colOff)
	} else {
		copy(s.live.pix, s.base.pix)
		s.drawDynamic(time.Now())
	}
	s.bump()
}

// key shows the last key code in the key area, with a swatch whose colour
// changes at every key.
func (s *screen) key(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keyN++
	s.paintBackground(s.base, s.keyArea)
	x := s.base.number(s.keyArea.X0, s.keyArea.Y0, s.digitW, s.digitH, s.thick, s.u, uint64(max(code, 0)), 3, colKey)
	sw := rect{x + s.u, s.keyArea.Y0, x + s.u + s.digitH, s.keyArea.Y1}
	s.base.fill(sw, palette(s.keyN))
	if !s.off {
		s.live.copyFrom(s.base, s.keyArea)
	}
	s.bump()
}

// text types each byte of t as a coloured block in the text area; a space
// leaves a gap, and a full area starts over.
func (s *screen) text(t string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bw, bh := s.u, 2*s.u
	for i := 0; i < len(t); i++ {
		if s.textX+bw > s.textArea.X1 {
			s.textX = s.textArea.X0
			s.textY += bh + s.u
		}
		if s.textY+bh > s.textArea.Y1 {
			s.paintBackground(s.base, s.textArea)
			s.textX, s.textY = s.textArea.X0, s.textArea.Y0
		}
		if t[i] != ' ' {
			s.base.fill(rect{s.textX, s.textY, s.textX + bw, s.textY + bh}, palette(int(t[i])))
		}
		s.textX += bw + s.u/2
	}
	if !s.off {
		s.live.copyFrom(s.base, s.textArea)
	}
	s.bump()
}

// palette returns one of 16 bright colours.
func palette(i int) rgb {
	p := [16]rgb{
		{255, 80, 80}, {255, 160, 64}, {255, 240, 64}, {160, 255, 64},
		{64, 255, 96}, {64, 255, 200}, {64, 220, 255}, {64, 128, 255},
		{128, 96, 255}, {200, 80, 255}, {255, 80, 220}, {255, 128, 160},
		{200, 200, 200}, {160, 255, 160}, {160, 200, 255}, {255, 200, 160},
	}
	return p[(i%16+16)%16]
}
