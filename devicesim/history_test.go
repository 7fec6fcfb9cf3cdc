package devicesim

import (
	"strings"
	"testing"
)

func TestHistoryBounds(t *testing.T) {
	var h history[string]
	for i := range historyItems + 5 {
		h.add(strings.Repeat("x", i%3), 1)
	}
	if got := len(h.all()); got != historyItems {
		t.Fatalf("%d entries kept, want %d", got, historyItems)
	}
	big := strings.Repeat("y", historyBytes/4)
	for range 10 {
		h.add(big, len(big))
	}
	if h.bytes > historyBytes || len(h.all()) != 4 {
		t.Fatalf("%d bytes in %d entries, want at most %d bytes", h.bytes, len(h.all()), historyBytes)
	}
	huge := strings.Repeat("z", 2*historyBytes)
	h.add(huge, len(huge))
	if all := h.all(); len(all) != 1 || all[0] != huge {
		t.Fatal("an entry over the byte limit must still be kept, alone")
	}
}
