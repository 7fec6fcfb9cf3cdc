package testutil

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"testing"
	"time"
)

// Deadline bounds the whole test, like pion's test.TimeOut: if the test
// has not ended d after the call, it writes every goroutine's stack to
// standard error and panics, naming the test, so that a hang names itself
// and ends the test binary at once instead of at go test's -timeout. Give
// it a generous d (minutes): it catches hangs, never slowness. The timer
// stops when the test has ended, with its subtests and the cleanups
// registered after the call (so call it first, to bound those too).
// Call it after t.Parallel, which waits for the serial tests to end.
//
// The panic is deliberate: the test's own goroutine is the one stuck, so
// neither t.Fatal nor anything else could end it.
func Deadline(tb testing.TB, d time.Duration) {
	tb.Helper()
	deadline(tb, d, os.Stderr, func(msg string) { panic(msg) })
}

// deadline is Deadline writing the dump to w and giving up with fail.
func deadline(tb testing.TB, d time.Duration, w io.Writer, fail func(msg string)) {
	name := tb.Name()
	var (
		mu    sync.Mutex
		ended bool
	)
	t := time.AfterFunc(d, func() {
		mu.Lock()
		defer mu.Unlock()
		if ended {
			return
		}
		what := fmt.Sprintf("testutil.Deadline: test %s did not end within %v", name, d)
		fmt.Fprintf(w, "\n=== %s; every goroutine's stack follows\n\n", what)
		DumpGoroutines(w)
		fail(what + ": it hangs (every goroutine's stack is above)")
	})
	tb.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		ended = true
		t.Stop()
	})
}

// DumpGoroutines writes every goroutine's stack to w, in the format of an
// unrecovered panic under GOTRACEBACK=all (goroutine profile, debug=2).
func DumpGoroutines(w io.Writer) {
	if err := pprof.Lookup("goroutine").WriteTo(w, 2); err != nil {
		fmt.Fprintf(w, "writing the goroutines' stacks: %v\n", err)
	}
}
