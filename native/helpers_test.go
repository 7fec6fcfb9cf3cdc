//go:build cgo

package native

import (
	"math"
	"testing"
)

// testPattern writes frame n of a moving test picture into y, u and v
// (YUV420P planes with the given strides): soft gradients, a diagonal
// sinusoid that drifts, and a bright box that crosses the screen. detail
// adds per-pixel texture that makes the picture expensive to code.
type testPattern struct {
	w, h   int
	detail bool
	sinTab [1024]uint8
}

func newTestPattern(w, h int, detail bool) *testPattern {
	p := &testPattern{w: w, h: h, detail: detail}
	for i := range p.sinTab {
		p.sinTab[i] = uint8(128 + 90*math.Sin(2*math.Pi*float64(i)/float64(len(p.sinTab))))
	}
	return p
}

func (p *testPattern) fill(n int, y []byte, ys int, u []byte, us int, v []byte, vs int) {
	bx, by := (n*12)%(p.w-p.w/5), (n*7)%(p.h-p.h/5)
	for row := 0; row < p.h; row++ {
		line := y[row*ys : row*ys+p.w]
		for col := range line {
			val := int(p.sinTab[(col*3+row*2+n*8)&1023])/2 + (col*64)/p.w + (row*32)/p.h
			if p.detail {
				val += int((uint32(col+n*5)*2654435761^uint32(row*40503))>>27) * 3
			}
			if col >= bx && col < bx+p.w/5 && row >= by && row < by+p.h/5 {
				val = 220 - (col-bx)%16*4
			}
			line[col] = uint8(min(max(val, 16), 235))
		}
	}
	for row := 0; row < p.h/2; row++ {
		for col := 0; col < p.w/2; col++ {
			u[row*us+col] = uint8(96 + (col*64)/(p.w/2) + n%16)
			v[row*vs+col] = uint8(160 - (row*64)/(p.h/2) + n%8)
		}
	}
}

// fillFrame draws frame n into f, which may be YUV420P or NV12.
func (p *testPattern) fillFrame(t testing.TB, n int, f *Frame) {
	t.Helper()
	switch f.Format() {
	case PixelFormatYUV420P:
		p.fill(n, f.Plane(0), f.Stride(0), f.Plane(1), f.Stride(1), f.Plane(2), f.Stride(2))
	case PixelFormatNV12:
		u := make([]byte, p.w/2*p.h/2)
		v := make([]byte, p.w/2*p.h/2)
		p.fill(n, f.Plane(0), f.Stride(0), u, p.w/2, v, p.w/2)
		uv, s := f.Plane(1), f.Stride(1)
		for row := 0; row < p.h/2; row++ {
			for col := 0; col < p.w/2; col++ {
				uv[row*s+2*col] = u[row*p.w/2+col]
				uv[row*s+2*col+1] = v[row*p.w/2+col]
			}
		}
	default:
		t.Fatalf("fillFrame: format %s", f.Format())
	}
}

// yuv is a tightly packed YUV420P picture, kept to compare against.
type yuv struct {
	w, h    int
	y, u, v []byte
}

func (p *testPattern) reference(n int) yuv {
	r := yuv{w: p.w, h: p.h, y: make([]byte, p.w*p.h), u: make([]byte, p.w*p.h/4), v: make([]byte, p.w*p.h/4)}
	p.fill(n, r.y, p.w, r.u, p.w/2, r.v, p.w/2)
	return r
}

// psnr returns the PSNR in dB of a decoded YUV420P picture against ref,
// over all three planes weighted by their size.
func psnr(t testing.TB, ref yuv, pic *Picture) float64 {
	t.Helper()
	if pic.Width != ref.w || pic.Height != ref.h || pic.Format != PixelFormatYUV420P {
		t.Fatalf("decoded %dx%d %s, want %dx%d yuv420p", pic.Width, pic.Height, pic.Format, ref.w, ref.h)
	}
	var sse float64
	plane := func(a []byte, aw, ah int, b []byte, bs int) {
		for row := 0; row < ah; row++ {
			for col := 0; col < aw; col++ {
				d := float64(a[row*aw+col]) - float64(b[row*bs+col])
				sse += d * d
			}
		}
	}
	plane(ref.y, ref.w, ref.h, pic.Planes[0], pic.Strides[0])
	plane(ref.u, ref.w/2, ref.h/2, pic.Planes[1], pic.Strides[1])
	plane(ref.v, ref.w/2, ref.h/2, pic.Planes[2], pic.Strides[2])
	mse := sse / float64(ref.w*ref.h*3/2)
	if mse == 0 {
		return 100
	}
	return 10 * math.Log10(255*255/mse)
}

// nalTypes lists the NAL unit types of an Annex-B access unit.
func nalTypes(au []byte) []int {
	var types []int
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 {
			types = append(types, int(au[i+3]&0x1f))
			i += 3
		}
	}
	return types
}

func hasNAL(au []byte, want ...int) bool {
	got := nalTypes(au)
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}

// NAL unit types.
const (
	nalSlice = 1
	nalIDR   = 5
	nalSPS   = 7
	nalPPS   = 8
)
