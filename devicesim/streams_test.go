package devicesim

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/cloudphone/media-service/internal/testutil"
)

// TestScreenrecordStreams counts the screenrecords a device serves, on
// the Go method and on the debug shell command, through a real adb
// server: two running, then one after the first one's client goes, then
// none; the log says each change.
func TestScreenrecordStreams(t *testing.T) {
	t.Parallel()
	testutil.Deadline(t, testDeadline)
	adb := startADB(t)
	logs := &logBuffer{}
	d := newDevice(t, Options{Width: 160, Height: 240, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	serial := adb.Connect(t, d.Addr())

	streams := func() string { return adb.Shell(t, serial, "devicesim", "streams") }
	if got := streams(); got != "0\n" {
		t.Fatalf("devicesim streams before any screenrecord = %q, want \"0\\n\"", got)
	}
	if n := d.ScreenrecordStreams(); n != 0 {
		t.Fatalf("ScreenrecordStreams() = %d before any screenrecord", n)
	}

	// record starts a screenrecord that runs until its context ends, and
	// returns its end.
	record := func(format string) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		cmd := adb.Command(ctx, "-s", serial, "exec-out", "screenrecord", "--output-format="+format, "-")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(io.Discard, stdout)
		}()
		return func() {
			cancel()
			<-done
			_ = cmd.Wait()
		}
	}
	// Raw frames both: counting needs no encoder (built without cgo,
	// devicesim has no H.264).
	stop1 := record("raw-frames")
	defer stop1()
	stop2 := record("raw-frames")
	defer stop2()
	testutil.Eventually(t, "two streams counted", generous, func() bool { return d.ScreenrecordStreams() == 2 })
	if got := streams(); got != "2\n" {
		t.Fatalf("devicesim streams with two screenrecords = %q", got)
	}

	stop1()
	testutil.Eventually(t, "one stream after the first client went", generous, func() bool { return d.ScreenrecordStreams() == 1 })
	if got := streams(); got != "1\n" {
		t.Fatalf("devicesim streams with one screenrecord = %q", got)
	}
	stop2()
	testutil.Eventually(t, "no streams", generous, func() bool { return d.ScreenrecordStreams() == 0 })
	if got := streams(); got != "0\n" {
		t.Fatalf("devicesim streams after both ended = %q", got)
	}
	for _, want := range []string{"streams=1", "streams=2", "streams=0"} {
		found := false
		for line := range strings.Lines(logs.String()) {
			found = found || strings.Contains(line, `msg="screenrecord streams"`) && strings.Contains(line, want)
		}
		if !found {
			t.Errorf("no log line \"screenrecord streams\" with %s; log:\n%s", want, logs.String())
		}
	}

	// A screenrecord that ends by its time limit is uncounted as well.
	adb.ExecOut(t, serial, "screenrecord", "--output-format=raw-frames", "--time-limit", "1", "-")
	if n := d.ScreenrecordStreams(); n != 0 {
		t.Fatalf("ScreenrecordStreams() = %d after a screenrecord reached its time limit", n)
	}

	if got := adb.Shell(t, serial, "devicesim", "frobnicate"); got != "usage: devicesim streams | agents | clipboard [TEXT]\n" {
		t.Fatalf("devicesim frobnicate = %q", got)
	}
}
