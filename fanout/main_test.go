package fanout

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/cloudphone/media-service/internal/testutil"
	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLog is quiet unless FANOUT_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("FANOUT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// eventually waits for cond, failing the test after a generous deadline
// (a hang, not a timing threshold).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, testutil.Generous, cond)
}
