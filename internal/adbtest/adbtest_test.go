package adbtest

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStartAndRestart: a private server answers on its own port; after
// Restart, a new one answers on the same port, and both are stopped when
// the test ends.
func TestStartAndRestart(t *testing.T) {
	t.Run("server", func(t *testing.T) { // its cleanups run before goleak looks
		s := Start(t)
		if out := string(s.Run(t, "devices")); !strings.Contains(out, "List of devices") {
			t.Fatalf("adb devices: %q", out)
		}
		before := time.Now()
		if at := s.Restart(t, 10*time.Millisecond); at.Before(before) {
			t.Fatalf("Restart returned %v, before it began", at)
		}
		if out := string(s.Run(t, "devices")); !strings.Contains(out, "List of devices") {
			t.Fatalf("adb devices after the restart: %q", out)
		}
	})
}
