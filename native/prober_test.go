//go:build cgo

package native

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

func TestProberOnThisMachine(t *testing.T) {
	var calls atomic.Int32
	p := NewProber(0, "")
	p.probe = func(codec, dev string) error {
		calls.Add(1)
		return probeEncoder(codec, dev)
	}
	res := p.All(context.Background())
	var names []string
	for _, r := range res {
		names = append(names, r.Encoder)
		t.Logf("%-11s available=%v %v %s", r.Encoder, r.Available, r.Elapsed, r.Reason)
		switch {
		case r.Available && r.Reason != "":
			t.Errorf("%s: available with reason %q", r.Encoder, r.Reason)
		case !r.Available && r.Reason == "":
			t.Errorf("%s: unavailable without a reason", r.Encoder)
		case !r.Available && !IsHardware(r.Encoder):
			t.Errorf("software encoder %s unavailable: %s", r.Encoder, r.Reason)
		}
		if r.Elapsed <= 0 {
			t.Errorf("%s: elapsed %v", r.Encoder, r.Elapsed)
		}
	}
	if want := append(slices.Clone(H264Candidates), CodecVP8); !slices.Equal(names, want) {
		t.Fatalf("probed %v, want %v", names, want)
	}
	best, err := p.Best(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Available {
			if best != r.Encoder {
				t.Fatalf("Best = %s, want the first available, %s", best, r.Encoder)
			}
			break
		}
	}
	// Cached: no encoder is probed twice.
	p.All(context.Background())
	p.H264(context.Background())
	if n := int(calls.Load()); n != len(res) {
		t.Fatalf("%d probes for %d encoders; results must be cached", n, len(res))
	}
	if got := p.H264(context.Background()); !slices.Equal(got, res[:len(H264Candidates)]) {
		t.Fatalf("cached H264 results differ: %v, then %v", res, got)
	}
}

func TestProberTimeout(t *testing.T) {
	release, ended := make(chan struct{}), make(chan struct{})
	p := NewProber(200*time.Millisecond, "")
	p.probe = func(codec, _ string) error {
		if codec == CodecQSV {
			defer close(ended)
			<-release // a driver that hangs
		}
		if IsHardware(codec) {
			return atStage("open", errors.New("no device"))
		}
		return nil
	}
	defer func() {
		close(release)
		<-ended // the abandoned probe ends once released
	}()
	res := p.H264(context.Background())
	if res[1].Encoder != CodecQSV || res[1].Available || !strings.HasPrefix(res[1].Reason, "timed out after 200ms") {
		t.Fatalf("hung probe: %+v, want unavailable, timed out after 200ms", res[1])
	}
	if !strings.HasPrefix(res[2].Reason, "open: no device") || !res[3].Available {
		t.Fatalf("the probes after a hung one: %+v", res[2:])
	}
	if best, err := p.Best(context.Background()); err != nil || best != CodecX264 {
		t.Fatalf("Best = %q, %v; want libx264", best, err)
	}
}

func TestProberCancelledIsNotCached(t *testing.T) {
	var calls atomic.Int32
	p := NewProber(0, "")
	p.probe = func(string, string) error { calls.Add(1); return nil }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range p.H264(ctx) {
		if r.Available || !strings.Contains(r.Reason, "context canceled") {
			t.Fatalf("probe with a cancelled context: %+v", r)
		}
	}
	if calls.Load() != 0 {
		t.Fatal("probed with a cancelled context")
	}
	if _, err := p.Best(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Best with a cancelled context = %v, want ErrUnavailable", err)
	}
	if best, err := p.Best(context.Background()); err != nil || best != CodecNVENC {
		t.Fatalf("Best after the cancelled run = %q, %v; want a fresh probe", best, err)
	}
}

func TestProbeReason(t *testing.T) {
	err := &stageError{stage: "open", err: errors.New("Operation not permitted")}
	got := probeReason(err, []string{"Cannot load libcuda.so.1", "Cannot load libcuda.so.1", "Operation not permitted", "No device."})
	if want := "open: Operation not permitted (Cannot load libcuda.so.1; No device)"; got != want {
		t.Fatalf("reason %q, want %q", got, want)
	}
	if got := probeReason(errors.New("native: encode: boom"), nil); got != "encode: boom" {
		t.Fatalf("reason %q", got)
	}
}

// TestLogCapture: a probe's thread has its warnings and errors captured,
// whatever the log level, while they still reach the logger; other
// threads' lines are not captured.
func TestLogCapture(t *testing.T) {
	var buf safeBuffer
	SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	defer func() {
		SetLogger(nil)
		astiav.SetLogLevel(astiav.LogLevelError) // as TestMain has it
	}()
	sink := &lineSink{}
	err := withLogCapture(sink, func() error {
		astiav.Log(nil, astiav.LogLevelError, "capture me: %s\n", "probe thread")
		astiav.Log(nil, astiav.LogLevelInfo, "info is not captured\n")
		done := make(chan struct{})
		go func() { // another OS thread: this one is locked
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			astiav.Log(nil, astiav.LogLevelError, "from another thread\n")
			close(done)
		}()
		<-done
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := sink.snapshot(); !slices.Equal(got, []string{"capture me: probe thread"}) {
		t.Fatalf("captured %q, want only the probe thread's error", got)
	}
	for _, want := range []string{"capture me: probe thread", "from another thread"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("logger missed %q: %s", want, buf.String())
		}
	}

	// Without a logger, below the log level: still captured.
	SetLogger(nil)
	astiav.SetLogLevel(astiav.LogLevelQuiet)
	sink = &lineSink{}
	_ = withLogCapture(sink, func() error {
		astiav.Log(nil, astiav.LogLevelWarning, "quiet warning\n")
		return nil
	})
	if got := sink.snapshot(); !slices.Equal(got, []string{"quiet warning"}) {
		t.Fatalf("captured %q at log level quiet, want the warning", got)
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
