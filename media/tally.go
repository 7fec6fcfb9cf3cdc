package media

import (
	"sync"
	"time"
)

// Tally keeps counters that never go down while the things counted come
// and go: the final counts of the members that left plus the current
// counts of the members present. A device's stage histograms (over its
// outputs) and its session totals (over its sessions) are each one Tally,
// so that Prometheus counters built on them never go down. A member's
// final count is read when it leaves, under the lock that Sum holds while
// it reads the members present: a member is counted exactly once at
// every moment.
type Tally[M comparable, T any] struct {
	add func(sum *T, more T)

	mu        sync.Mutex
	retired   T
	members   map[M]func() T
	joined    uint64
	left      uint64
	idleSince time.Time // when the last member left; zero while one is present
}

// NewTally returns an empty tally whose counts add sums.
func NewTally[M comparable, T any](add func(sum *T, more T)) *Tally[M, T] {
	return &Tally[M, T]{add: add, members: map[M]func() T{}}
}

// Join adds a member whose current counts read returns. It reports false,
// changing nothing, for a member already present.
func (t *Tally[M, T]) Join(m M, read func() T) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.members[m]; ok {
		return false
	}
	t.members[m] = read
	t.joined++
	t.idleSince = time.Time{}
	return true
}

// Leave retires a member: its counts, read now, stay in the sum. It
// reports false for a member not present (it left already, or never
// joined).
func (t *Tally[M, T]) Leave(m M) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	read, ok := t.members[m]
	if !ok {
		return false
	}
	delete(t.members, m)
	t.left++
	t.add(&t.retired, read())
	if len(t.members) == 0 {
		t.idleSince = time.Now()
	}
	return true
}

// Sum returns the counts of every member that ever joined: those that
// left and those present.
func (t *Tally[M, T]) Sum() T {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.retired
	for _, read := range t.members {
		t.add(&s, read())
	}
	return s
}

// Members returns how many members joined and how many left.
func (t *Tally[M, T]) Members() (joined, left uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.joined, t.left
}

// IdleSince returns when the last member left; zero while a member is
// present or none ever joined.
func (t *Tally[M, T]) IdleSince() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.idleSince
}
