package fanout

import (
	"testing"
	"time"

	"github.com/cloudphone/media-service/media"
)

func TestRungsFromScales(t *testing.T) {
	r := Rungs([]float64{1, 0.5}, 150_000, 8_000_000)
	want := []Rung{{1, 1_000_000, 8_000_000}, {0.5, 150_000, 2_000_000}}
	if len(r) != 2 || r[0] != want[0] || r[1] != want[1] {
		t.Fatalf("rungs %v, want %v", r, want)
	}
	if got := r[1].Size(media.Size{Width: 720, Height: 1280}); got != (media.Size{Width: 360, Height: 640}) {
		t.Fatalf("half of 720x1280 = %v", got)
	}
	if got := r[1].Size(media.Size{Width: 362, Height: 642}); got != (media.Size{Width: 180, Height: 320}) {
		t.Fatalf("half of 362x642 = %v, want even sizes", got)
	}
	if one := Rungs([]float64{1}, 150_000, 8_000_000); len(one) != 1 || one[0].MinBitRate != 150_000 {
		t.Fatalf("one rung: %v", one)
	}
}

// TestRungSelectorHysteresis feeds estimates every 500 ms (the session
// sweep's pace) and checks when the viewer moves.
func TestRungSelectorHysteresis(t *testing.T) {
	s := &Selector{Rungs: Rungs([]float64{1, 0.5, 0.25}, 150_000, 8_000_000)}
	t0 := time.Unix(0, 0)
	at := 0 * time.Millisecond
	feed := func(bps int, d time.Duration) (moves []int) {
		for end := at + d; at < end; at += 500 * time.Millisecond {
			if r, ok := s.Observe(bps, t0.Add(at)); ok {
				moves = append(moves, r)
			}
		}
		return moves
	}
	// A good link stays on rung 0.
	if m := feed(5_000_000, 10*time.Second); len(m) != 0 {
		t.Fatalf("moved %v on a good link", m)
	}
	// A dip below rung 0's minimum shorter than RungDownAfter: no move.
	if m := feed(800_000, 1500*time.Millisecond); len(m) != 0 {
		t.Fatalf("moved %v on a short dip", m)
	}
	feed(5_000_000, time.Second)
	// A sustained drop below rung 0's 1 Mb/s: down one rung after 2 s,
	// and no further (rung 1 is 250 kb/s..2 Mb/s).
	if m := feed(800_000, 6*time.Second); len(m) != 1 || m[0] != 1 {
		t.Fatalf("moves %v on a sustained 800 kb/s, want down to rung 1 once", m)
	}
	if m := feed(100_000, 5*time.Second); len(m) != 1 || m[0] != 2 {
		t.Fatalf("moves %v on 100 kb/s, want down to rung 2", m)
	}
	// Hovering just above rung 1's minimum is not enough to go up: it
	// needs 1.5x.
	if m := feed(s.Rungs[1].MinBitRate+10_000, 10*time.Second); len(m) != 0 {
		t.Fatalf("moved %v while hovering at the boundary", m)
	}
	// Recovery: up one rung after 5 s of headroom, not sooner.
	if m := feed(5_000_000, 4500*time.Millisecond); len(m) != 0 {
		t.Fatalf("moved up %v before RungUpAfter", m)
	}
	if m := feed(5_000_000, time.Second); len(m) != 1 || m[0] != 1 {
		t.Fatalf("moves %v, want up to rung 1", m)
	}
	if m := feed(5_000_000, 6*time.Second); len(m) != 1 || m[0] != 0 {
		t.Fatalf("moves %v, want up to rung 0", m)
	}
	// Alternating estimates across the boundary never move the viewer.
	for range 20 {
		if m := append(feed(800_000, time.Second), feed(5_000_000, time.Second)...); len(m) != 0 {
			t.Fatalf("flapped %v", m)
		}
	}
}
