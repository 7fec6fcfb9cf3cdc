package encoder

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

// errHang, returned by a script, makes a flaky encoder block until its
// release channel closes.
var errHang = errors.New("hang")

// flaky is an encoder driven by a script: for each call (1, 2, ...) the
// script says encode (nil), fail (an error) or hang (errHang). Frames it
// encodes go to a real libx264 at the size it was opened with.
type flaky struct {
	name    string
	script  func(call int64) error
	release chan struct{}
	real    *native.Encoder
	calls   atomic.Int64
	closed  atomic.Bool
}

func newFlaky(t testing.TB, name string, size media.Size, release chan struct{}, script func(int64) error) *flaky {
	t.Helper()
	o := x264Options()
	o.Width, o.Height = size.Width, size.Height
	e, err := native.NewEncoder(o)
	if err != nil {
		t.Fatal(err)
	}
	return &flaky{name: name, script: script, release: release, real: e}
}

func (f *flaky) Encode(fr *native.Frame, emit func(native.Packet) error) error {
	switch err := f.script(f.calls.Add(1)); {
	case errors.Is(err, errHang):
		<-f.release
		fr.Release()
		return errors.New("flaky: released after hanging")
	case err != nil:
		fr.Release()
		return err
	}
	return f.real.Encode(fr, emit)
}

func (f *flaky) ForceKeyFrame() error     { return f.real.ForceKeyFrame() }
func (f *flaky) SetBitRate(bps int) error { return f.real.SetBitRate(bps) }
func (f *flaky) Name() string             { return f.name }
func (f *flaky) Close() error             { f.closed.Store(true); return f.real.Close() }

// fakeClock is the back-off's clock in these tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// noStalls is a stall meter that never saw the process frozen.
type noStalls struct{}

func (noStalls) frozen(time.Time, time.Time) time.Duration { return 0 }

// errorLog collects OnError's errors.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errorLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// step submits frame n and waits until it came out as a unit or was
// dropped; it returns the unit, if any.
func step(t *testing.T, p *Pipeline, pool *native.FramePool, n int) (media.Unit, bool) {
	t.Helper()
	before := p.Stats()
	if err := p.Submit(frame(t, pool, n)); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(testutil.Generous)
	for {
		select {
		case u := <-p.Output():
			return u, true
		case <-deadline:
			t.Fatalf("frame %d neither encoded nor dropped (stats %+v)", n, p.Stats())
		case <-time.After(time.Millisecond):
		}
		s := p.Stats()
		if dropped(s) > dropped(before) {
			return media.Unit{}, false
		}
	}
}

func dropped(s Snapshot) int64 {
	var n int64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// checkStream checks that units are in order and that each encoder's run
// starts with a keyframe, and decodes every run.
func checkStream(t *testing.T, units []media.Unit, runStarts []int) {
	t.Helper()
	for i := 1; i < len(units); i++ {
		if units[i].PTS <= units[i-1].PTS {
			t.Fatalf("unit %d out of order: PTS %v after %v", i, units[i].PTS, units[i-1].PTS)
		}
	}
	bounds := append(append([]int(nil), runStarts...), len(units))
	for r := 0; r+1 < len(bounds); r++ {
		run := units[bounds[r]:bounds[r+1]]
		if len(run) == 0 {
			continue
		}
		if !run[0].KeyFrame {
			t.Fatalf("run %d (units %d..) starts without a keyframe", r, bounds[r])
		}
		if n := decodeUnits(t, run); n != len(run) {
			t.Fatalf("run %d: decoded %d of %d", r, n, len(run))
		}
	}
}

// TestRecoveryEncoderHangsOnce: the only candidate hangs on its third
// frame. It is abandoned, the chain is exhausted, and after the back-off
// (an injected clock) the candidate opens again; the stream goes on with
// an IDR, in order.
func TestRecoveryEncoderHangsOnce(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 8)
	release := make(chan struct{})
	defer close(release)
	var opens atomic.Int64
	clock := newClock()
	var errs errorLog
	p, err := NewPipeline(PipelineOptions{
		Chain: chainFunc(func(size media.Size) (Encoder, error) {
			first := opens.Add(1) == 1
			return newFlaky(t, fmt.Sprintf("x264#%d", opens.Load()), size, release, func(n int64) error {
				if first && n == 3 {
					return errHang
				}
				return nil
			}), nil
		}),
		// Long enough that only the scripted hang times out, however loaded
		// the machine.
		EncodeTimeout: 2 * time.Second, OnError: errs.add, Log: quiet,
		now: clock.Now, stalls: noStalls{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var units []media.Unit
	var starts []int
	lost := 0
	for i := range 12 {
		if i == 4 {
			clock.Advance(DefaultRetryMin) // the back-off is over
		}
		u, ok := step(t, p, pool, i)
		if !ok {
			lost++
			continue
		}
		if len(units) == 0 || u.Encoder != units[len(units)-1].Encoder {
			starts = append(starts, len(units))
		}
		units = append(units, u)
	}
	// Frame 2 hung; frame 3 came during the back-off: both lost.
	if lost != 2 || len(units) != 10 || len(starts) != 2 || units[2].Encoder != "x264#2" {
		t.Fatalf("lost %d, %d units, runs start at %v (stats %+v)", lost, len(units), starts, p.Stats())
	}
	checkStream(t, units, starts)
	s := p.Stats()
	if s.EncodingTimeouts != 1 || s.Abandoned != 1 || s.Replacements["timeout"] != 1 || s.Restarts != 1 ||
		s.Dropped["encode_error"] != 1 || s.Dropped["no_encoder"] != 1 {
		t.Fatalf("stats %+v", s)
	}
	if p.EncoderName() != "x264#2" {
		t.Fatalf("encoder %q", p.EncoderName())
	}
	if len(errs.all()) == 0 || !strings.Contains(errs.all()[0].Error(), "hung") {
		t.Fatalf("OnError got %v", errs.all())
	}
}

// TestRecoveryCandidateFailsEveryTime: the best candidate fails on every
// frame; the next one takes over, and when it too fails the chain starts
// over from the best after a back-off that doubles while failures go on,
// rechecking the best before reusing it.
func TestRecoveryCandidateFailsEveryTime(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 8)
	clock := newClock()
	var errs errorLog
	var rechecks atomic.Int64
	var swFails atomic.Bool
	chain := chainFunc(
		func(size media.Size) (Encoder, error) {
			return newFlaky(t, "hw", size, nil, func(int64) error { return errors.New("hw: device lost") }), nil
		},
		func(size media.Size) (Encoder, error) {
			return newFlaky(t, "sw", size, nil, func(int64) error {
				if swFails.Load() {
					return errors.New("sw: out of memory")
				}
				return nil
			}), nil
		},
	)
	chain.Recheck = func(i int, _ media.Size) error {
		if i == 0 {
			rechecks.Add(1)
			return errors.New("probe: still broken")
		}
		return nil
	}
	p, err := NewPipeline(PipelineOptions{Chain: chain, OnError: errs.add, EncodeTimeout: time.Minute, Log: quiet, now: clock.Now, stalls: noStalls{}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var units []media.Unit
	for i := range 6 {
		if u, ok := step(t, p, pool, i); ok {
			units = append(units, u)
		}
	}
	// Frame 0 failed on hw; sw took over at once.
	if len(units) != 5 || units[0].Encoder != "sw" || !units[0].KeyFrame {
		t.Fatalf("%d units, first from %s", len(units), units[0].Encoder)
	}
	checkStream(t, units, []int{0})
	// Now sw fails too: every candidate failed, and each restart waits
	// longer. The failed hw is probed again before each reuse.
	swFails.Store(true)
	restarts := func() []string {
		var waits []string
		for _, e := range errs.all() {
			s := e.Error()
			if i := strings.Index(s, "best in "); i >= 0 {
				w := s[i+len("best in "):]
				waits = append(waits, w[:strings.Index(w, ":")])
			}
		}
		return waits
	}
	for i := 6; i < 40 && len(restarts()) < 4; i++ {
		step(t, p, pool, i)
		clock.Advance(10 * time.Second) // past any back-off
	}
	waits := restarts()
	if got := strings.Join(waits, " "); got != "100ms 200ms 400ms 800ms" {
		t.Fatalf("back-offs %q, want 100ms 200ms 400ms 800ms", got)
	}
	if rechecks.Load() < 3 {
		t.Fatalf("hw rechecked %d times, want one per restart", rechecks.Load())
	}
	// sw recovers: the stream resumes with an IDR and the back-off resets.
	swFails.Store(false)
	var after []media.Unit
	for i := 40; len(after) < 3 && i < 60; i++ {
		clock.Advance(10 * time.Second)
		if u, ok := step(t, p, pool, i); ok {
			after = append(after, u)
		}
	}
	if len(after) != 3 || !after[0].KeyFrame {
		t.Fatalf("after recovery: %d units, first key=%v", len(after), len(after) > 0 && after[0].KeyFrame)
	}
	if s := p.Stats(); s.Restarts < 4 || s.Replacements["error"] < 2 {
		t.Fatalf("stats %+v", s)
	}
}

// TestRecoveryAlternatingEncoder: every encoder instance fails on its
// second frame. The stream keeps producing: each replacement starts with
// an IDR and the units stay in order.
func TestRecoveryAlternatingEncoder(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 8)
	clock := newClock()
	var opens atomic.Int64
	p, err := NewPipeline(PipelineOptions{
		Chain: chainFunc(func(size media.Size) (Encoder, error) {
			return newFlaky(t, fmt.Sprintf("alt#%d", opens.Add(1)), size, nil, func(n int64) error {
				if n%2 == 0 {
					return errors.New("alt: transient failure")
				}
				return nil
			}), nil
		}),
		EncodeTimeout: time.Minute, Log: quiet, now: clock.Now, stalls: noStalls{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var units []media.Unit
	var starts []int
	for i := range 20 {
		clock.Advance(time.Second) // each restart's back-off is over by the next frame
		u, ok := step(t, p, pool, i)
		if !ok {
			continue
		}
		if len(units) == 0 || u.Encoder != units[len(units)-1].Encoder {
			starts = append(starts, len(units))
		}
		units = append(units, u)
	}
	if len(units) != 10 || len(starts) != 10 {
		t.Fatalf("%d units in %d runs, want 10 in 10 (one per instance)", len(units), len(starts))
	}
	checkStream(t, units, starts)
}

// stallMeter is a stall meter the test switches: while frozen is set, all
// time counts as frozen.
type switchedStalls struct{ on atomic.Bool }

func (s *switchedStalls) frozen(from, to time.Time) time.Duration {
	if s.on.Load() {
		return to.Sub(from)
	}
	return 0
}

// TestRecoveryProcessStallNotBlamed: an encode that overruns its timeout
// while the process was frozen is waited for, not abandoned.
func TestRecoveryProcessStallNotBlamed(t *testing.T) {
	needFFmpeg(t)
	pool := newPool(t, 4)
	release := make(chan struct{})
	stalls := &switchedStalls{}
	stalls.on.Store(true)
	p, err := NewPipeline(PipelineOptions{
		Chain: chainFunc(func(size media.Size) (Encoder, error) {
			return newFlaky(t, "x264", size, release, func(n int64) error {
				if n == 1 {
					return errHang
				}
				return nil
			}), nil
		}),
		EncodeTimeout: 20 * time.Millisecond, Log: quiet, stalls: stalls,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Submit(frame(t, pool, 0)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the overrun to be seen as a stall", testutil.Generous, func() bool { return p.Stats().ProcessStalls > 0 })
	stalls.on.Store(false)
	close(release) // the "frozen" encode returns (with the flaky's error)
	// The encoder was never abandoned: its late failure is an error, not a
	// timeout.
	testutil.Eventually(t, "the encode to finish", testutil.Generous, func() bool { return p.Stats().EncodingErrors > 0 })
	if s := p.Stats(); s.EncodingTimeouts != 0 || s.Abandoned != 0 || s.ProcessStalls != 1 {
		t.Fatalf("stats %+v, want one stall, no timeout", s)
	}
}

// TestRecoveryAbandonedCap: at MaxAbandoned hung encoders no encoder
// opens until one returns.
func TestRecoveryAbandonedCap(t *testing.T) {
	needFFmpeg(t)
	old := MaxAbandoned
	MaxAbandoned = abandonedNow.Load() + 1
	defer func() { MaxAbandoned = old }()
	pool := newPool(t, 4)
	release := make(chan struct{})
	clock := newClock()
	var opens atomic.Int64
	p, err := NewPipeline(PipelineOptions{
		Chain: chainFunc(func(size media.Size) (Encoder, error) {
			first := opens.Add(1) == 1
			return newFlaky(t, "x264", size, release, func(int64) error {
				if first {
					return errHang
				}
				return nil
			}), nil
		}),
		EncodeTimeout: time.Second, Log: quiet, now: clock.Now, stalls: noStalls{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, ok := step(t, p, pool, 0); ok {
		t.Fatal("the hung frame came out")
	}
	clock.Advance(time.Minute)
	if _, ok := step(t, p, pool, 1); ok || opens.Load() != 1 {
		t.Fatalf("an encoder opened (%d opens) with the abandoned cap reached", opens.Load())
	}
	close(release)
	testutil.Eventually(t, "the abandoned encoder to return", testutil.Generous, func() bool { return AbandonedEncoders() < MaxAbandoned })
	// The chain goes on where it was (exhausted: a back-off), then starts
	// over from the best.
	var u media.Unit
	ok := false
	for i := 2; i < 5 && !ok; i++ {
		clock.Advance(time.Minute)
		u, ok = step(t, p, pool, i)
	}
	if !ok || !u.KeyFrame || opens.Load() != 2 {
		t.Fatalf("no keyframe after the hung encoder returned (opens %d)", opens.Load())
	}
}

// TestPipelineReopensAtNewSize: a frame of another size (a rotation)
// reopens the encoder at that size; the stream goes on with an IDR that
// decodes at the new size.
func TestPipelineReopensAtNewSize(t *testing.T) {
	needFFmpeg(t)
	small := newPool(t, 4)
	rotated, err := native.NewFramePool(testH, testW, native.PixelFormatYUV420P, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rotated.Close()
	p, err := NewPipeline(PipelineOptions{Chain: ChainFor([]string{native.CodecX264}, x264Options()), EncodeTimeout: time.Minute, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	units := lockstep(t, p, small, 0, 3)
	f, err := rotated.Get()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		plane := f.Plane(i)
		for j := range plane {
			plane[j] = byte(j)
		}
	}
	f.PTS = time.Second
	if err := p.Submit(f); err != nil {
		t.Fatal(err)
	}
	var u media.Unit
	select {
	case u = <-p.Output():
	case <-time.After(testutil.Generous):
		t.Fatal("no unit at the new size")
	}
	if !u.KeyFrame {
		t.Fatal("the first unit at the new size is not a keyframe")
	}
	dec, err := native.NewDecoder(native.DecoderH264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var sizes []string
	for _, x := range append(units, u) {
		if err := dec.Decode(x.Data, func(p *native.Picture) error {
			sizes = append(sizes, fmt.Sprintf("%dx%d", p.Width, p.Height))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	want := fmt.Sprintf("%dx%d", testH, testW)
	if len(sizes) != 4 || sizes[3] != want {
		t.Fatalf("decoded sizes %v, want the last at %s", sizes, want)
	}
	if s := p.Stats(); s.Reopened != 1 || s.EncoderSwitches != 0 {
		t.Fatalf("stats %+v, want one reopen and no replacement", s)
	}
}

func TestWatchdogFrozen(t *testing.T) {
	w := &watchdog{tick: 10 * time.Millisecond, slack: 40 * time.Millisecond}
	t0 := time.Unix(100, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	w.last = t0
	w.refs = 1 // as if acquired, without its goroutine
	for ms := 10; ms <= 100; ms += 10 {
		w.note(at(ms))
	}
	w.note(at(400)) // frozen from 110 to 400
	for ms := 410; ms <= 500; ms += 10 {
		w.note(at(ms))
	}
	cases := []struct {
		from, to int
		want     time.Duration
	}{
		{0, 100, 0},
		{50, 450, 290 * time.Millisecond},
		{200, 300, 100 * time.Millisecond},
		{420, 500, 0},
		// The watchdog is late now (last tick at 500): a freeze in
		// progress counts too.
		{450, 700, 190 * time.Millisecond},
	}
	for _, c := range cases {
		if got := w.frozen(at(c.from), at(c.to)); got != c.want {
			t.Errorf("frozen(%d, %d) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

func TestWatchdogStartsAndStops(t *testing.T) {
	w := &watchdog{tick: time.Millisecond, slack: time.Second}
	w.acquire()
	w.acquire()
	w.release()
	w.release() // the goroutine ends here; goleak checks it
	w.acquire()
	w.release()
}
