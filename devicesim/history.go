package devicesim

// Limits of each log that tests read (commands, command lines, input
// events): beyond either, the oldest entries are dropped, so that a
// long-running simulator's memory stays bounded.
const (
	historyItems = 10000
	historyBytes = 8 << 20
)

// history is a bounded log, oldest entry first. It is not safe for
// concurrent use; the Device guards it.
type history[T any] struct {
	items []T
	sizes []int
	bytes int
}

// add appends v, which weighs size bytes, and drops the oldest entries
// beyond the limits (never v itself).
func (h *history[T]) add(v T, size int) {
	h.items = append(h.items, v)
	h.sizes = append(h.sizes, size)
	h.bytes += size
	drop := 0
	for len(h.items)-drop > 1 && (len(h.items)-drop > historyItems || h.bytes > historyBytes) {
		h.bytes -= h.sizes[drop]
		drop++
	}
	if drop > 0 {
		var zero T
		for i := range drop {
			h.items[i] = zero
		}
		h.items = h.items[drop:]
		h.sizes = h.sizes[drop:]
	}
}

// all returns a copy of the entries.
func (h *history[T]) all() []T {
	return append([]T(nil), h.items...)
}
