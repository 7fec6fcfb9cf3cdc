package devicesim

// Drawing primitives on a packed RGBA buffer. Every shape is clipped to the
// buffer and written a row at a time: one row of the colour is built once
// and copied, so that the per-frame work stays small.

// rgb is an opaque colour.
type rgb struct{ R, G, B uint8 }

// rect is a half-open rectangle [X0,X1)×[Y0,Y1).
type rect struct{ X0, Y0, X1, Y1 int }

func (r rect) empty() bool { return r.X0 >= r.X1 || r.Y0 >= r.Y1 }

func (r rect) intersect(o rect) rect {
	r.X0, r.Y0 = max(r.X0, o.X0), max(r.Y0, o.Y0)
	r.X1, r.Y1 = min(r.X1, o.X1), min(r.Y1, o.Y1)
	if r.empty() {
		return rect{}
	}
	return r
}

// canvas is a packed RGBA picture with a scratch row for fills.
type canvas struct {
	pix    []byte
	w, h   int
	stride int
	row    []byte // scratch: one row of a fill colour
}

func newCanvas(w, h int) *canvas {
	return &canvas{pix: make([]byte, w*h*4), w: w, h: h, stride: w * 4, row: make([]byte, w*4)}
}

func (c *canvas) bounds() rect { return rect{0, 0, c.w, c.h} }

// fill paints r with col.
func (c *canvas) fill(r rect, col rgb) {
	r = r.intersect(c.bounds())
	if r.empty() {
		return
	}
	n := (r.X1 - r.X0) * 4
	row := c.row[:n]
	for i := 0; i < n; i += 4 {
		row[i], row[i+1], row[i+2], row[i+3] = col.R, col.G, col.B, 0xff
	}
	for y := r.Y0; y < r.Y1; y++ {
		off := y*c.stride + r.X0*4
		copy(c.pix[off:off+n], row)
	}
}

// copyFrom copies rectangle r of src, a canvas of the same size, into c.
func (c *canvas) copyFrom(src *canvas, r rect) {
	r = r.intersect(c.bounds())
	if r.empty() {
		return
	}
	if r.X0 == 0 && r.X1 == c.w {
		copy(c.pix[r.Y0*c.stride:r.Y1*c.stride], src.pix[r.Y0*c.stride:r.Y1*c.stride])
		return
	}
	for y := r.Y0; y < r.Y1; y++ {
		off := y*c.stride + r.X0*4
		end := y*c.stride + r.X1*4
		copy(c.pix[off:end], src.pix[off:end])
	}
}

// disc paints a filled circle.
func (c *canvas) disc(cx, cy, radius int, col rgb) {
	for dy := -radius; dy <= radius; dy++ {
		dx := isqrt(radius*radius - dy*dy)
		c.fill(rect{cx - dx, cy + dy, cx + dx + 1, cy + dy + 1}, col)
	}
}

// ring paints a circle outline of the given thickness.
func (c *canvas) ring(cx, cy, radius, thick int, col rgb) {
	inner := radius - thick
	for dy := -radius; dy <= radius; dy++ {
		dx := isqrt(radius*radius - dy*dy)
		if inner > 0 && dy*dy < inner*inner {
			ix := isqrt(inner*inner - dy*dy)
			c.fill(rect{cx - dx, cy + dy, cx - ix, cy + dy + 1}, col)
			c.fill(rect{cx + ix + 1, cy + dy, cx + dx + 1, cy + dy + 1}, col)
			continue
		}
		c.fill(rect{cx - dx, cy + dy, cx + dx + 1, cy + dy + 1}, col)
	}
}

// line paints a segment of the given thickness by stamping squares along
// it, one pixel step at a time.
func (c *canvas) line(x0, y0, x1, y1, thick int, col rgb) {
	dx, dy := x1-x0, y1-y0
	steps := max(abs(dx), abs(dy), 1)
	if steps > 4*(c.w+c.h) { // far off-screen ends: clip the work, not the line
		steps = 4 * (c.w + c.h)
	}
	h := thick / 2
	for i := 0; i <= steps; i++ {
		x := x0 + dx*i/steps
		y := y0 + dy*i/steps
		c.fill(rect{x - h, y - h, x - h + thick, y - h + thick}, col)
	}
}

// Seven-segment digits: bit 0..6 = segments a (top), b (top right),
// c (bottom right), d (bottom), e (bottom left), f (top left), g (middle).
var sevenSeg = [10]uint8{
	0b0111111, // 0
	0b0000110, // 1
	0b1011011, // 2
	0b1001111, // 3
	0b1100110, // 4
	0b1101101, // 5
	0b1111101, // 6
	0b0000111, // 7
	0b1111111, // 8
	0b1101111, // 9
}

// digit paints d (0..9) as a seven-segment digit in the w×h box at x, y.
func (c *canvas) digit(x, y, w, h, thick int, d int, col rgb) {
	m := sevenSeg[d%10]
	mid := y + h/2
	segs := [7]rect{
		{x, y, x + w, y + thick},                         // a
		{x + w - thick, y, x + w, mid + thick/2},         // b
		{x + w - thick, mid - thick/2, x + w, y + h},     // c
		{x, y + h - thick, x + w, y + h},                 // d
		{x, mid - thick/2, x + thick, y + h},             // e
		{x, y, x + thick, mid + thick/2},                 // f
		{x, mid - thick/2, x + w, mid - thick/2 + thick}, // g
	}
	for i, r := range segs {
		if m&(1<<i) != 0 {
			c.fill(r, col)
		}
	}
}

// number paints n with at least minDigits digits, left to right from x;
// it returns the x after the last digit.
func (c *canvas) number(x, y, w, h, thick, gap int, n uint64, minDigits int, col rgb) int {
	var buf [20]int
	k := 0
	for n > 0 || k < minDigits {
		buf[k] = int(n % 10)
		n /= 10
		k++
	}
	for i := k - 1; i >= 0; i-- {
		c.digit(x, y, w, h, thick, buf[i], col)
		x += w + gap
	}
	return x
}

func isqrt(v int) int {
	if v <= 0 {
		return 0
	}
	r := 0
	for bit := 1 << 30; bit > 0; bit >>= 2 {
		if r+bit <= v {
			v -= r + bit
			r = r>>1 + bit
		} else {
			r >>= 1
		}
	}
	return r
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
