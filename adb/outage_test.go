package adb

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/retry"
	"github.com/cloudphone/media-service/internal/testutil"
)

// logRecorder is a slog.Handler that keeps each record's level and
// message.
type logRecorder struct {
	mu   sync.Mutex
	recs []logLine
}

type logLine struct {
	level slog.Level
	msg   string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, logLine{rec.Level, rec.Message})
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) lines() []logLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// count returns how many records have msg, and how many are warnings or
// worse.
func (r *logRecorder) count(msg string) (n, warnings int) {
	for _, l := range r.lines() {
		if l.msg == msg {
			n++
		}
		if l.level >= slog.LevelWarn {
			warnings++
		}
	}
	return n, warnings
}

// fakeClock is a clock that only moves when told, or by step at each
// reading.
type fakeClock struct {
	now   atomic.Int64 // Unix nanoseconds
	step  time.Duration
	reads atomic.Int64
}

func newFakeClock(step time.Duration) *fakeClock {
	c := &fakeClock{step: step}
	c.now.Store(time.Unix(1_000_000, 0).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time {
	c.reads.Add(1)
	return time.Unix(0, c.now.Add(int64(c.step)))
}

func (c *fakeClock) advance(d time.Duration) { c.now.Add(int64(d)) }

// TestServerOutageLogging: an unreachable adb server is logged once at
// info level when the outage starts, warned of once when it has lasted
// ServerWarnAfter, and its end is logged; a short outage is never warned
// of; a failure of a request that started before the last success does
// not start an outage.
func TestServerOutageLogging(t *testing.T) {
	clock := newFakeClock(0)
	c := &Client{addr: "127.0.0.1:1", now: clock.Now}
	rec := &logRecorder{}
	log := slog.New(rec)
	err := errors.New("dial tcp 127.0.0.1:1: connect: connection refused: error starting server for dial")

	// A server that starts within the delay: no warning.
	for range 20 {
		c.serverDown(log, clock.Now(), err)
		clock.advance(ServerWarnAfter / 40)
	}
	c.serverUp(log)
	want := []logLine{{slog.LevelInfo, "waiting for the adb server"}, {slog.LevelInfo, "adb server answers"}}
	if got := rec.lines(); !slices.Equal(got, want) {
		t.Fatalf("a short outage logged %v, want %v", got, want)
	}
	c.serverUp(log)
	if n := len(rec.lines()); n != 2 {
		t.Fatalf("a success with no outage logged: %v", rec.lines())
	}

	// A stale failure: the request started before the last success.
	started := clock.Now()
	clock.advance(time.Millisecond)
	c.serverUp(log)
	c.serverDown(log, started, err)
	if n := len(rec.lines()); n != 2 {
		t.Fatalf("a stale failure logged: %v", rec.lines())
	}

	// An outage that lasts: one warning, however long it lasts.
	for range 100 {
		c.serverDown(log, clock.Now(), err)
		clock.advance(ServerWarnAfter / 10)
	}
	c.serverUp(log)
	want = append(want, logLine{slog.LevelInfo, "waiting for the adb server"}, logLine{slog.LevelWarn, "adb server unreachable"},
		logLine{slog.LevelInfo, "adb server answers again"})
	if got := rec.lines(); !slices.Equal(got, want) {
		t.Fatalf("a long outage logged %v, want %v", got, want)
	}
}

// TestWatchWaitsForServer runs Watch and KeepConnected against an adb
// server that is not there yet, with a clock that the test moves: while
// the outage is young, the two say "waiting for the adb server" once
// between them and warn of nothing; once it has lasted ServerWarnAfter
// they warn once; when the server answers, they say so.
func TestWatchWaitsForServer(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	adbs := adbtest.Start(t)
	adbs.Stop(t)
	c, err := NewClient(adbs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(time.Microsecond)
	c.now = clock.Now
	rec := &logRecorder{}
	log := slog.New(rec)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { c.Watch(ctx, log, 10*time.Millisecond, func([]DeviceInfo) {}) })
	wg.Go(func() {
		c.keepConnected(ctx, log, []string{"127.0.0.1:9"}, 10*time.Millisecond, retry.Backoff{Min: time.Hour, Max: time.Hour}, nil)
	})
	// Many failed polls, all within the delay.
	testutil.Eventually(t, "many failed polls", testutil.Generous, func() bool { return clock.reads.Load() >= 60 })
	if n, warnings := rec.count("waiting for the adb server"); n != 1 || warnings != 0 {
		t.Fatalf("young outage: %d waiting lines (want 1), %d warnings (want none): %v", n, warnings, rec.lines())
	}
	// It lasts: one warning.
	clock.advance(ServerWarnAfter)
	testutil.Eventually(t, "the warning", testutil.Generous, func() bool { n, _ := rec.count("adb server unreachable"); return n > 0 })
	reads := clock.reads.Load()
	testutil.Eventually(t, "more failed polls", testutil.Generous, func() bool { return clock.reads.Load() >= reads+60 })
	if n, warnings := rec.count("adb server unreachable"); n != 1 || warnings != 1 {
		t.Fatalf("lasting outage: %d warnings, want one: %v", warnings, rec.lines())
	}
	adbs.ServeAgain(t)
	testutil.Eventually(t, "the server's return logged", testutil.Generous, func() bool {
		n, _ := rec.count("adb server answers again")
		return n > 0
	})
	cancel()
	wg.Wait()
	// (KeepConnected may warn by now that it cannot connect its device,
	// which is not there: only the server's lines count.)
	waiting, _ := rec.count("waiting for the adb server")
	unreachable, _ := rec.count("adb server unreachable")
	if waiting != 1 || unreachable != 1 {
		t.Fatalf("%d waiting lines (want 1), %d warnings of the server (want 1): %v", waiting, unreachable, rec.lines())
	}
}
