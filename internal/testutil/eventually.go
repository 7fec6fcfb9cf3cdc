package testutil

import (
	"fmt"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/retry"
)

// Generous is the bound to give a wait on something that should happen
// soon (a frame, a peer, a device). It catches hangs; no test asserts
// anything about how fast something happened.
const Generous = 30 * time.Second

// Polling intervals: a few milliseconds at first, for conditions that
// hold almost at once, growing to pollMax for the slow ones (a page in a
// browser, a device) so that a long wait costs little CPU.
const (
	pollMin = 2 * time.Millisecond
	pollMax = 50 * time.Millisecond
)

// Eventually polls cond until it returns true, or fails the test with
// what when timeout passes first. It must run on the test's goroutine.
func Eventually(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	EventuallyErr(tb, what, timeout, func() (bool, error) { return cond(), nil })
}

// EventuallyErr is Eventually for a condition that can fail to be
// evaluated: an error only means "not yet", and the last one is reported
// if the wait fails.
func EventuallyErr(tb testing.TB, what string, timeout time.Duration, cond func() (bool, error)) {
	tb.Helper()
	if err := poll(timeout, cond); err != nil {
		tb.Fatalf("timed out waiting for %s: %v", what, err)
	}
}

// poll is the loop of EventuallyErr; it returns nil once cond holds, or
// an error saying how long it waited and the last error cond returned.
func poll(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	b := retry.Backoff{Min: pollMin, Max: pollMax}
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("not within %v (last error: %w)", timeout, last)
			}
			return fmt.Errorf("not within %v", timeout)
		}
		time.Sleep(b.Next())
	}
}
