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
// whatever the log level, and they reach the logger at debug level only;
// other threads' lines are not captured and reach it at their level.
func TestLogCapture(t *testing.T) {
	var buf safeBuffer
	SetLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
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
	for _, want := range []string{`level=DEBUG msg="capture me: probe thread" component=ffmpeg`, `level=ERROR msg="from another thread"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("logger missed %q: %s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), `level=ERROR msg="capture me`) {
		t.Errorf("a captured line reached the logger as an error: %s", buf.String())
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

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) records() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

func attrOf(rec slog.Record, key string) (v slog.Value, ok bool) {
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, ok = a.Value, true
			return false
		}
		return true
	})
	return v, ok
}

// TestProberLogsQuietly probes every encoder and decoder on this machine
// (on one without a GPU, the hardware ones fail) with a logger that keeps
// every record: FFmpeg's lines meanwhile reach it at debug level only,
// never as warnings or errors, and become part of the reasons; each
// result is logged once, at info level, however often the results are
// asked for.
func TestProberLogsQuietly(t *testing.T) {
	rec := &recorder{}
	SetLogger(slog.New(rec))
	defer func() {
		SetLogger(nil)
		astiav.SetLogLevel(astiav.LogLevelError) // as TestMain has it
	}()
	p := NewProber(0, "")
	ctx := context.Background()
	enc := p.All(ctx)
	dec := p.Decoders(ctx)
	// Asked again, as the service's /encoders and Best do: cached, not
	// logged again.
	p.All(ctx)
	p.Decoders(ctx)
	if _, err := p.Best(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.BestDecoder(ctx); err != nil {
		t.Fatal(err)
	}

	results := map[string]ProbeResult{}
	for _, r := range enc {
		results["encoder "+r.Encoder] = r
	}
	for _, r := range dec {
		results["decoder "+r.Decoder] = r
	}
	logged := map[string]int{}
	var pending []string // FFmpeg's lines since the last probe's result
	for _, r := range rec.records() {
		if c, _ := attrOf(r, "component"); c.String() == "ffmpeg" {
			if r.Level > slog.LevelDebug {
				t.Errorf("FFmpeg's line at %s while probing: %q", r.Level, r.Message)
			}
			if pr, _ := attrOf(r, "probe"); pr.Kind() != slog.KindBool || !pr.Bool() {
				t.Errorf("FFmpeg's line while probing without probe=true: %q", r.Message)
			}
			if l := strings.TrimRight(r.Message, ". "); !slices.Contains(pending, l) {
				pending = append(pending, l)
			}
			continue
		}
		kind, _, ok := strings.Cut(r.Message, " probe")
		if !ok || r.Level != slog.LevelInfo {
			t.Errorf("unexpected record at %s: %q", r.Level, r.Message)
			continue
		}
		name, _ := attrOf(r, kind)
		key := kind + " " + name.String()
		logged[key]++
		res, ok := results[key]
		if !ok {
			t.Errorf("logged %s, which has no result", key)
			continue
		}
		avail, _ := attrOf(r, "available")
		reason := ""
		if v, ok := attrOf(r, "reason"); ok {
			reason = v.String()
		}
		if avail.Bool() != res.Available || reason != res.Reason {
			t.Errorf("%s logged available=%v reason=%q; the result says %v %q", key, avail, reason, res.Available, res.Reason)
		}
		if !res.Available {
			t.Logf("%s unavailable: %s", key, res.Reason)
			// The probe's own lines (up to the number it keeps) are
			// in its reason.
			for i, l := range pending {
				if i < maxProbeLines && !strings.Contains(res.Reason, l) {
					t.Errorf("%s: FFmpeg's %q missing from the reason %q", key, l, res.Reason)
				}
			}
		}
		pending = nil
	}
	for key := range results {
		if logged[key] != 1 {
			t.Errorf("%s logged %d times, want once", key, logged[key])
		}
	}
}
