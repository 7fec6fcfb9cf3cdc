package devicesim

import (
	"image"
	"time"
)

// The capture stamp: every frame the simulated screen renders carries the
// wall-clock time it was drawn at, in Unix milliseconds, as two rows of
// large black and white blocks along the bottom edge of the screen. It
// survives H.264 at low bit rates and scaling, so a viewer can read it back
// from the decoded picture and measure glass-to-glass latency.
//
// Layout (the viewer page, api/web/index.html, reads the same layout):
//
//   - the cell size is B = width/StampDivisor pixels (16 at 720 wide, 8 at
//     360); cell (row r, column c) covers x in [c·W/45, (c+1)·W/45) and y in
//     [H − (2−r)·B, H − (1−r)·B), so the two rows sit flush on the bottom
//     edge, starting at the left edge;
//   - columns 0 and 1 are the start marker and the reader's black and white
//     reference: row 0 is white, black; row 1 is black, white;
//   - columns 2..29 carry 56 bits, 28 a row, row 0 first, left to right:
//     bits 0..43 are the milliseconds, least significant bit first, and
//     bits 44..55 are a CRC-12 (polynomial 0x80F, initial value 0, fed the 44
//     value bits in that same order), least significant bit first;
//   - a set bit is white, a clear bit black.
const (
	StampDivisor  = 45 // cells across the full width
	StampRows     = 2
	StampColumns  = 30 // cells used in a row: 2 marker + 28 data
	stampValueLen = 44
	stampCheckLen = 12
	stampBits     = stampValueLen + stampCheckLen
	stampPoly     = 0x80F
)

var (
	stampWhite = rgb{255, 255, 255}
	stampBlack = rgb{0, 0, 0}
)

// stampCell returns the rectangle of cell (row, col) on a w×h screen.
func stampCell(w, h, row, col int) rect {
	b := w / StampDivisor
	return rect{col * w / StampDivisor, h - (StampRows-row)*b, (col + 1) * w / StampDivisor, h - (StampRows-1-row)*b}
}

// stampArea returns the rectangle the stamp covers on a w×h screen.
func stampArea(w, h int) rect {
	b := w / StampDivisor
	return rect{0, h - StampRows*b, StampColumns * w / StampDivisor, h}
}

// stampCRC is the CRC-12 of the low 44 bits of v, fed least significant
// bit first.
func stampCRC(v uint64) uint16 {
	var crc uint16
	for i := 0; i < stampValueLen; i++ {
		bit := uint16(v>>i) & 1
		fb := (crc>>(stampCheckLen-1))&1 ^ bit
		crc = (crc << 1) & (1<<stampCheckLen - 1)
		if fb != 0 {
			crc ^= stampPoly & (1<<stampCheckLen - 1)
		}
	}
	return crc
}

// stampWord returns the 56 data bits for t: the milliseconds, then the CRC.
func stampWord(t time.Time) uint64 {
	ms := uint64(t.UnixMilli()) & (1<<stampValueLen - 1)
	return ms | uint64(stampCRC(ms))<<stampValueLen
}

// drawStamp paints the stamp for t on c. It is a few dozen row copies.
func (c *canvas) drawStamp(t time.Time) {
	if c.w/StampDivisor < 1 || c.h < StampRows*(c.w/StampDivisor) {
		return // too small to carry a stamp
	}
	word := stampWord(t)
	c.fill(stampCell(c.w, c.h, 0, 0), stampWhite)
	c.fill(stampCell(c.w, c.h, 0, 1), stampBlack)
	c.fill(stampCell(c.w, c.h, 1, 0), stampBlack)
	c.fill(stampCell(c.w, c.h, 1, 1), stampWhite)
	perRow := StampColumns - 2
	for i := 0; i < stampBits; i++ {
		col := stampBlack
		if word>>i&1 != 0 {
			col = stampWhite
		}
		c.fill(stampCell(c.w, c.h, i/perRow, 2+i%perRow), col)
	}
}

// ReadStamp reads the capture stamp from a picture of the simulated screen,
// at its size or scaled (the aspect ratio kept). It reports false when no
// stamp is there or its check bits do not match.
func ReadStamp(img image.Image) (time.Time, bool) {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	cell := float64(w) / StampDivisor
	if cell < 2 || float64(h) < StampRows*cell {
		return time.Time{}, false
	}
	// luma averages the middle half of a cell, in 0..255.
	luma := func(row, col int) float64 {
		x0 := float64(col) * cell
		y0 := float64(h) - float64(StampRows-row)*cell
		var sum float64
		n := 0
		for y := int(y0 + cell/4); y < int(y0+cell*3/4+0.5); y++ {
			for x := int(x0 + cell/4); x < int(x0+cell*3/4+0.5); x++ {
				cr, cg, cb, _ := img.At(r.Min.X+x, r.Min.Y+y).RGBA()
				sum += (0.299*float64(cr) + 0.587*float64(cg) + 0.114*float64(cb)) / 257
				n++
			}
		}
		if n == 0 {
			return 0
		}
		return sum / float64(n)
	}
	white := (luma(0, 0) + luma(1, 1)) / 2
	black := (luma(0, 1) + luma(1, 0)) / 2
	if white-black < 64 {
		return time.Time{}, false
	}
	threshold := (white + black) / 2
	for _, m := range [4][3]int{{0, 0, 1}, {0, 1, 0}, {1, 0, 0}, {1, 1, 1}} {
		if (luma(m[0], m[1]) > threshold) != (m[2] == 1) {
			return time.Time{}, false
		}
	}
	perRow := StampColumns - 2
	var word uint64
	for i := 0; i < stampBits; i++ {
		if luma(i/perRow, 2+i%perRow) > threshold {
			word |= 1 << i
		}
	}
	ms := word & (1<<stampValueLen - 1)
	if uint16(word>>stampValueLen) != stampCRC(ms) {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(ms)), true
}
