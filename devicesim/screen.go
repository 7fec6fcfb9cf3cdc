package devicesim

import (
	"image"
	"sync"
	"time"
)

// Colours of the marks that input leaves on the screen.
var (
	colTap       = rgb{255, 48, 160} // a tap: a filled dot
	colLongPress = rgb{255, 160, 32} // a long press: a ring
	colSwipe     = rgb{32, 224, 255} // a swipe: a line with a dot at its end
	colKey       = rgb{255, 224, 0}  // a key: its code, and a swatch
	colHUD       = rgb{240, 240, 240}
	colBox       = rgb{250, 250, 250}
	colBoxEdge   = rgb{230, 40, 40}
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
	hud, band, keyArea, textArea rect
	digitW, digitH, thick        int

	live    *canvas
	base    *canvas
	gen     uint64
	changed chan struct{}
	frame   uint64
	start   time.Time
	keyN    int
	textX   int
	textY   int
}

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

	s.base = newCanvas(w, h)
	s.paintBackground(s.base, s.base.bounds())
	s.live = newCanvas(w, h)
	copy(s.live.pix, s.base.pix)
	s.drawDynamic(now)
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

// mark draws an input mark on both the base and the live picture.
func (s *screen) mark(draw func(c *canvas)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	draw(s.base)
	draw(s.live)
	s.bump()
}

func (s *screen) tap(x, y int) {
	s.mark(func(c *canvas) { c.disc(x, y, 2*s.u, colTap) })
}

func (s *screen) longPress(x, y int) {
	s.mark(func(c *canvas) { c.ring(x, y, 3*s.u, max(2, s.u/2), colLongPress) })
}

func (s *screen) swipe(x0, y0, x1, y1 int) {
	s.mark(func(c *canvas) {
		c.line(x0, y0, x1, y1, max(2, s.u/2), colSwipe)
		c.disc(x1, y1, s.u, colSwipe)
	})
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
	s.live.copyFrom(s.base, s.keyArea)
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
	s.live.copyFrom(s.base, s.textArea)
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
