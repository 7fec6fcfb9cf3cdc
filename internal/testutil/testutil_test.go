package testutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a testing.TB that records Fatalf, Skip and Cleanup instead
// of acting on them. Fatalf and Skip end the calling goroutine, as the
// real ones do, so run the code under test with run.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	fatal    string
	skip     string
	cleanups []func()
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return "TestRecorded" }
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) {
	r.mu.Lock()
	r.skip = fmt.Sprint(args...)
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// run runs f on a goroutine of its own, as a test's body, and waits.
func (r *recorder) run(f func(tb testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

// end runs the cleanups, last first, as the end of a test does.
func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestEventually(t *testing.T) {
	var n atomic.Int64
	Eventually(t, "the third call", Generous, func() bool { return n.Add(1) == 3 })
	if n.Load() != 3 {
		t.Fatalf("cond called %d times, want 3", n.Load())
	}
	// A condition that holds at once is not waited on.
	Eventually(t, "true", Generous, func() bool { return true })
}

func TestEventuallyFails(t *testing.T) {
	r := &recorder{TB: t}
	r.run(func(tb testing.TB) {
		Eventually(tb, "the impossible", 20*time.Millisecond, func() bool { return false })
	})
	if want := "timed out waiting for the impossible: not within 20ms"; r.fatal != want {
		t.Fatalf("Fatalf(%q), want %q", r.fatal, want)
	}
}

func TestEventuallyErr(t *testing.T) {
	var n int
	EventuallyErr(t, "the second call", Generous, func() (bool, error) {
		n++
		if n < 2 {
			return false, errors.New("not yet")
		}
		return true, nil
	})

	// A failed wait reports the last error cond returned, even if later
	// calls returned none.
	r := &recorder{TB: t}
	calls := 0
	r.run(func(tb testing.TB) {
		EventuallyErr(tb, "the page", 20*time.Millisecond, func() (bool, error) {
			calls++
			if calls == 1 {
				return false, errors.New("page not loaded")
			}
			return false, nil
		})
	})
	if want := "timed out waiting for the page: not within 20ms (last error: page not loaded)"; r.fatal != want {
		t.Fatalf("Fatalf(%q), want %q", r.fatal, want)
	}
}

// TestDeadlineEnded: a test that ends in time stops its deadline and
// leaves no goroutine behind.
func TestDeadlineEnded(t *testing.T) {
	defer goleak.VerifyNone(t)
	var fired atomic.Bool
	t.Run("quick", func(t *testing.T) {
		Deadline(t, time.Minute)
		deadline(t, 50*time.Millisecond, io.Discard, func(string) { fired.Store(true) })
	})
	time.Sleep(100 * time.Millisecond) // past the short deadline: it must not fire
	if fired.Load() {
		t.Fatal("the deadline fired after its test had ended")
	}
}

// blockedInTestutilHang is a function name to find in a goroutine dump.
func blockedInTestutilHang(ch chan struct{}) { <-ch }

// TestDeadlineFires: a test that outlives its deadline gets every
// goroutine's stack dumped, the stuck one included, and then fails with
// its name.
func TestDeadlineFires(t *testing.T) {
	stuck := make(chan struct{})
	go blockedInTestutilHang(stuck)
	defer close(stuck)
	Eventually(t, "the goroutine to block", Generous, func() bool {
		var b strings.Builder
		DumpGoroutines(&b)
		return strings.Contains(b.String(), "testutil.blockedInTestutilHang")
	})

	r := &recorder{TB: t}
	var dump SyncBuffer
	failed := make(chan string, 1)
	deadline(r, 10*time.Millisecond, &dump, func(msg string) { failed <- msg })
	defer r.end()
	var msg string
	select {
	case msg = <-failed:
	case <-time.After(Generous):
		t.Fatal("the deadline did not fire")
	}
	if !strings.Contains(msg, "TestRecorded") || !strings.Contains(msg, "10ms") {
		t.Fatalf("failure message %q does not name the test and its deadline", msg)
	}
	out := dump.String()
	for _, want := range []string{"test TestRecorded did not end within 10ms; every goroutine's stack follows", "testutil.blockedInTestutilHang", "[chan receive"} {
		if !strings.Contains(out, want) {
			t.Fatalf("dump lacks %q:\n%s", want, out)
		}
	}
}

// TestDeadlinePanics runs a hanging test in a child test binary: the
// deadline must end the binary with the test's name and the stuck
// goroutine's stack, long before go test's -timeout.
func TestDeadlinePanics(t *testing.T) {
	if os.Getenv("TESTUTIL_HANG") == "1" {
		Deadline(t, 100*time.Millisecond)
		blockedInTestutilHang(make(chan struct{}))
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeadlinePanics$", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), "TESTUTIL_HANG=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the hanging test binary: %v, want a failed exit\n%s", err, out)
	}
	for _, want := range []string{
		"panic: testutil.Deadline: test TestDeadlinePanics did not end within 100ms",
		"testutil.blockedInTestutilHang",
	} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("the hanging test binary's output lacks %q:\n%s", want, out)
		}
	}
}

func TestMustFail(t *testing.T) {
	for _, c := range []struct {
		ci   string
		want bool
	}{{"", false}, {"true", true}, {"false", false}, {"1", false}, {"TRUE", false}} {
		getenv := func(k string) string {
			if k == "CI" {
				return c.ci
			}
			return ""
		}
		if got := mustFail(getenv); got != c.want {
			t.Errorf("CI=%q: mustFail = %v, want %v", c.ci, got, c.want)
		}
	}
}

func TestSkipOrFail(t *testing.T) {
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	r.run(func(tb testing.TB) { SkipOrFail(tb, "adb is not installed") })
	if r.skip != "adb is not installed" || r.fatal != "" {
		t.Fatalf("without CI: skip %q, fatal %q; want a skip", r.skip, r.fatal)
	}

	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	r.run(func(tb testing.TB) { SkipOrFail(tb, "adb is not installed") })
	if r.skip != "" || !strings.HasPrefix(r.fatal, "adb is not installed; CI=true") {
		t.Fatalf("CI=true: skip %q, fatal %q; want a failure", r.skip, r.fatal)
	}
}
