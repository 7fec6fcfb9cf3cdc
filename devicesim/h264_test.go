package devicesim

import (
	"testing"

	"github.com/cloudphone/media-service/native"
)

// nal is one NAL unit of an Annex-B stream: its start code's offset, and
// the unit's bytes after the start code.
type nal struct {
	off, end int // the start code's offset; the offset past the unit
	data     []byte
}

func (n nal) typ() byte { return n.data[0] & 0x1f }

// nalUnits splits an Annex-B stream at its start codes (00 00 01, or
// 00 00 00 01).
func nalUnits(b []byte) []nal {
	var starts []int // offset of each start code
	var bodies []int // offset of each unit's first byte
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			s := i
			if s > 0 && b[s-1] == 0 {
				s--
			}
			starts = append(starts, s)
			bodies = append(bodies, i+3)
			i += 2
		}
	}
	units := make([]nal, 0, len(starts))
	for k, body := range bodies {
		end := len(b)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		if body < end {
			units = append(units, nal{off: starts[k], end: end, data: b[body:end]})
		}
	}
	return units
}

// isSlice reports a coded slice NAL unit: non-IDR (1) or IDR (5).
func isSlice(t byte) bool { return t == 1 || t == 5 }

// accessUnits groups the stream's NAL units into access units, each ending
// with its picture's slice: the device's encoder writes one slice per
// picture. Each unit keeps its start codes, as the decoder wants it.
func accessUnits(b []byte) [][]byte {
	var aus [][]byte
	start := -1
	for _, n := range nalUnits(b) {
		if start < 0 {
			start = n.off
		}
		if isSlice(n.typ()) {
			aus = append(aus, b[start:n.end])
			start = -1
		}
	}
	return aus
}

// sliceCount counts the pictures whose slices have started in b.
func sliceCount(b []byte) int {
	n := 0
	for _, u := range nalUnits(b) {
		if isSlice(u.typ()) {
			n++
		}
	}
	return n
}

// decodeH264 decodes an Annex-B stream and returns the number of pictures
// and their size (the size of the last one; every one must match it).
func decodeH264(t testing.TB, b []byte) (frames, width, height int) {
	t.Helper()
	dec, err := native.NewDecoder(native.DecoderH264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	onPic := func(p *native.Picture) error {
		if frames > 0 && (p.Width != width || p.Height != height) {
			t.Errorf("picture %d is %dx%d, earlier ones %dx%d", frames, p.Width, p.Height, width, height)
		}
		frames++
		width, height = p.Width, p.Height
		return nil
	}
	for i, au := range accessUnits(b) {
		if err := dec.Decode(au, onPic); err != nil {
			t.Fatalf("access unit %d: %v", i, err)
		}
	}
	if err := dec.Flush(onPic); err != nil {
		t.Fatal(err)
	}
	return frames, width, height
}

func needFFmpeg(t testing.TB) {
	t.Helper()
	if !native.Available {
		t.Skip("H.264 needs FFmpeg, linked only with cgo")
	}
}

func TestAccessUnits(t *testing.T) {
	b := []byte{
		0, 0, 0, 1, 0x67, 1, 2, // SPS
		0, 0, 0, 1, 0x68, 3, // PPS
		0, 0, 1, 0x65, 0x88, 4, // IDR slice
		0, 0, 0, 1, 0x41, 0x9a, 5, 0, // P slice, trailing zero kept
	}
	aus := accessUnits(b)
	if len(aus) != 2 {
		t.Fatalf("%d access units, want 2", len(aus))
	}
	if got := len(aus[0]); got != 19 {
		t.Fatalf("first unit is %d bytes, want 19", got)
	}
	if got := sliceCount(b); got != 2 {
		t.Fatalf("sliceCount = %d, want 2", got)
	}
}
