package testutil

import (
	"os"
	"testing"
)

// SkipOrFail is for a test whose prerequisite (a program such as adb or
// chromium) is missing: it skips the test, except under CI=true, where it
// fails it, since a CI machine that lacks the program would otherwise
// pass without running the test.
func SkipOrFail(tb testing.TB, reason string) {
	tb.Helper()
	if mustFail(os.Getenv) {
		tb.Fatalf("%s; CI=true, so this fails the test instead of skipping it", reason)
	}
	tb.Skip(reason)
}

// mustFail reports whether a missing prerequisite fails the test: it does
// when the environment variable CI is "true".
func mustFail(getenv func(string) string) bool { return getenv("CI") == "true" }
