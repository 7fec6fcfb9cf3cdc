package lograte

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	now := time.Unix(1000, 0)
	l := &Limiter{Interval: time.Second, Now: func() time.Time { return now }}
	logged := 0
	for i := range 100 { // 100 occurrences over 5 s: one line per second
		if l.Log(log, slog.LevelWarn, "encode failed", "i", i) {
			logged++
		}
		now = now.Add(50 * time.Millisecond)
	}
	if logged != 5 {
		t.Fatalf("logged %d lines for 100 occurrences over 5s at one per second, want 5", logged)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 || strings.Contains(lines[0], "suppressed") || !strings.Contains(lines[1], "suppressed=19") {
		t.Fatalf("lines:\n%s", buf.String())
	}
	l.Reset()
	if !l.Log(log, slog.LevelWarn, "again") {
		t.Fatal("Reset did not let the next line out")
	}
}

func TestLimiterZeroValue(t *testing.T) {
	var l Limiter
	log := slog.New(slog.DiscardHandler)
	if !l.Log(log, slog.LevelInfo, "first") || l.Log(log, slog.LevelInfo, "second") {
		t.Fatal("the zero Limiter should log the first line and hold the second")
	}
}
