package capture

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/retry"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/native"
)

var errGone = errors.New("device gone")

// scriptedStarts is a supervisor's run function whose generations do what
// the test tells each one: the test receives a channel per start, and
// sends it nil (the generation streams one startable unit and runs until
// stopped) or an error (it ends with it).
type scriptedStarts chan chan error

func (s scriptedStarts) run(ctx context.Context, send func(int, bool, time.Time) error) error {
	res := make(chan error)
	select {
	case s <- res:
	case <-ctx.Done():
		return nil
	}
	select {
	case err := <-res:
		if err != nil {
			return err
		}
		if send(1, true, time.Now()) != nil {
			return nil
		}
		<-ctx.Done()
		return nil
	case <-ctx.Done():
		return nil
	}
}

// next waits for the next start; the test's deadline is far shorter than
// the hour the back-off would wait, so a start within it came from a kick.
func (s scriptedStarts) next(t *testing.T, what string) chan error {
	t.Helper()
	select {
	case res := <-s:
		return res
	case <-time.After(testutil.Generous):
		t.Fatalf("no start: %s", what)
		return nil
	}
}

// TestSupervisorKick: a supervisor waiting to retry (here for an hour)
// starts again at once when kicked, and a kick during a start that then
// fails retries at once too.
func TestSupervisorKick(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	starts := make(scriptedStarts)
	errs := make(chan error, 16)
	s := newSupervisor(supervisorConfig[int]{
		log:     slog.New(slog.DiscardHandler),
		run:     starts.run,
		release: func(int) {},
		backoff: retry.Backoff{Min: time.Hour, Max: time.Hour},
		onError: func(err error) { errs <- err },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	units := make(chan int, 16)
	done := make(chan error, 1)
	go func() {
		done <- s.loop(ctx, func(v int, _ time.Time) error { units <- v; return nil })
	}()

	starts.next(t, "the first") <- errGone
	starts.next(t, "the restart after the stream ended") <- errGone
	// The loop reports each failure before it arms the retry: after the
	// second report, it waits an hour.
	for range 2 {
		<-errs
	}
	s.kickNow()
	gen3 := starts.next(t, "after the kick")

	// A kick while that start is under way; then it fails.
	s.kickNow()
	testutil.Eventually(t, "the loop to take the kick", testutil.Generous, func() bool { return len(s.kick) == 0 })
	gen3 <- errGone
	starts.next(t, "after a kicked start failed") <- nil
	select {
	case <-units:
	case <-time.After(testutil.Generous):
		t.Fatal("no unit after the device came back")
	}

	// A kick while a stream runs leaves it alone.
	s.kickNow()
	testutil.Eventually(t, "the loop to take the kick", testutil.Generous, func() bool { return len(s.kick) == 0 })
	select {
	case <-starts:
		t.Fatal("a kick restarted a running stream")
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("loop: %v", err)
	}
}

// TestScreencapKick: a screencap source waiting to retry a failed capture
// tries again when kicked, without waiting out the delay, and the kick
// resets its back-off to the shortest delay.
func TestScreencapKick(t *testing.T) {
	if !native.Available {
		t.Skip("decoding needs FFmpeg, linked only with cgo")
	}
	testutil.Deadline(t, testDeadline)
	src, err := NewScreencapSource(nil, "emulator-5554", ScreencapOptions{Decoder: PNGDecoderGo, FrameRate: 10})
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	src.clk = clk
	img := pngOf(t, 48, 64)
	shots := make(chan chan bool) // true: the capture works
	src.shoot = func(ctx context.Context) ([]byte, error) {
		ok := make(chan bool)
		select {
		case shots <- ok:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		select {
		case works := <-ok:
			if works {
				return img, nil
			}
			return nil, errGone
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	shot := func(what string) chan bool {
		t.Helper()
		select {
		case ok := <-shots:
			return ok
		case <-time.After(testutil.Generous):
			t.Fatalf("no capture: %s", what)
			return nil
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(f *native.Frame) error { f.Release(); return nil })
	}()

	// The device is gone: the delays grow 200, 400, 800 ms.
	shot("the first") <- false
	for _, d := range []time.Duration{200, 400} {
		clk.waitArmed(t, 1)
		clk.Advance(d * time.Millisecond)
		shot("after the back-off") <- false
	}
	clk.waitArmed(t, 1) // waiting 800 ms
	src.Kick()
	ok := shot("after the kick, with the clock still") // no time passed
	// A kick during a capture that fails retries it at once.
	src.Kick()
	ok <- false
	ok = shot("after a kicked capture failed")
	// And the back-off starts again from its shortest delay.
	ok <- false
	clk.waitArmed(t, 1)
	clk.Advance(199 * time.Millisecond)
	select {
	case <-shots:
		t.Fatal("retried before the shortest delay")
	default:
	}
	clk.Advance(time.Millisecond)
	shot("after the shortest delay") <- true
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}
