package fleet

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them
// (watches and renewals must stop with Close).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
