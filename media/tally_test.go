package media

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTallyNeverGoesDown: members come and go while their counters grow;
// the sum read at any moment is never below an earlier one.
func TestTallyNeverGoesDown(t *testing.T) {
	tl := NewTally[int, uint64](func(s *uint64, more uint64) { *s += more })
	var counters [8]atomic.Uint64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range counters {
		wg.Go(func() {
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				if !tl.Join(i*1_000_000+round, counters[i].Load) && round == 0 {
					t.Error("a new member was refused")
				}
				counters[i].Add(3)
				tl.Leave(i*1_000_000 + round)
				counters[i].Store(0) // the next member starts from zero
			}
		})
	}
	var last uint64
	deadline := time.Now().Add(time.Minute) // a hang guard, not a timing threshold
	for n := 0; n < 20000 || joinedSoFar(tl) < 1000; n++ {
		s := tl.Sum()
		if s < last {
			t.Fatalf("sum went down from %d to %d", last, s)
		}
		last = s
		if time.Now().After(deadline) {
			t.Fatalf("only %d members joined in a minute", joinedSoFar(tl))
		}
	}
	close(stop)
	wg.Wait()
	joined, left := tl.Members()
	if joined != left || tl.Sum() != 3*joined {
		t.Fatalf("joined %d, left %d, sum %d", joined, left, tl.Sum())
	}
	if tl.IdleSince().IsZero() {
		t.Fatal("no idle time after every member left")
	}
	if tl.Leave(-1) {
		t.Fatal("a member that never joined left")
	}
}

func joinedSoFar(tl *Tally[int, uint64]) uint64 {
	joined, _ := tl.Members()
	return joined
}
