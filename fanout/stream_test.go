package fanout

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/media"
)

// sink records the samples of one viewer; it blocks while gate is held.
type sink struct {
	mu      sync.Mutex
	samples []Sample
	gate    chan struct{} // nil: never blocks
}

func (s *sink) WriteSample(smp Sample) error {
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
	return nil
}

func (s *sink) got() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// unit makes the n-th unit of a stream with a keyframe every gop units.
func unit(n, gop int) media.Unit {
	return media.Unit{
		Data:     []byte{0, 0, 0, 1, byte(n), byte(n >> 8)},
		KeyFrame: n%gop == 0,
		PTS:      time.Duration(n) * 40 * time.Millisecond,
	}
}

func TestStreamJoinReplaysGroupOfPictures(t *testing.T) {
	var asked atomic.Int64
	b := New(Config{QueueSize: 16, RequestKeyFrame: func() { asked.Add(1) }, Log: testLog()})
	defer b.Close()
	for n := range 15 { // keyframes at 0 and 10: the cache holds 10..14
		b.Write(unit(n, 10))
	}
	var s sink
	v, err := b.Subscribe("v", &s)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	eventually(t, "the replay", func() bool { return len(s.got()) == 5 })
	got := s.got()
	for i, smp := range got {
		if smp.Unit.Data[4] != byte(10+i) {
			t.Errorf("sample %d is unit %d, want %d", i, smp.Unit.Data[4], 10+i)
		}
	}
	if got[1].Duration != 40*time.Millisecond {
		t.Errorf("duration %s, want the PTS difference 40ms", got[1].Duration)
	}
	if got[0].Duration != defaultFrameDuration {
		t.Errorf("first duration %s, want the default", got[0].Duration)
	}
	b.Write(unit(15, 10))
	eventually(t, "the live unit", func() bool { return len(s.got()) == 6 })
	if asked.Load() != 0 {
		t.Errorf("%d keyframe requests; the cache served the join", asked.Load())
	}
}

func TestStreamJoinWithoutKeyFrameAsksForOne(t *testing.T) {
	var asked atomic.Int64
	b := New(Config{RequestKeyFrame: func() { asked.Add(1) }, Log: testLog()})
	defer b.Close()
	var s sink
	v, err := b.Subscribe("v", &s)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	eventually(t, "a keyframe request", func() bool { return asked.Load() == 1 })
	b.Write(unit(1, 10)) // not a keyframe: skipped
	b.Write(unit(10, 10))
	b.Write(unit(11, 10))
	eventually(t, "two samples", func() bool { return len(s.got()) == 2 })
	if got := s.got(); got[0].Unit.Data[4] != 10 {
		t.Errorf("first sample is unit %d, want the keyframe 10", got[0].Unit.Data[4])
	}
	eventually(t, "the samples to be counted", func() bool { return v.Stats().Sent == 2 })
	if st := v.Stats(); st.Dropped != 1 {
		t.Errorf("viewer stats %+v", st)
	}
}

func TestStreamSlowViewerSkipsToKeyFrame(t *testing.T) {
	var asked atomic.Int64
	b := New(Config{QueueSize: 8, RequestKeyFrame: func() { asked.Add(1) }, Log: testLog()})
	defer b.Close()
	b.Write(unit(0, 1000))
	slow := &sink{gate: make(chan struct{})}
	var fast sink
	vs, _ := b.Subscribe("slow", slow)
	vf, _ := b.Subscribe("fast", &fast)
	defer vf.Close()
	defer vs.Close()
	eventually(t, "the fast viewer's replay", func() bool { return len(fast.got()) == 1 })
	for n := 1; n < 50; n++ { // the slow viewer holds one unit and queues 8
		b.Write(unit(n, 1000))
		eventually(t, "the fast viewer to keep up", func() bool { return len(fast.got()) == n+1 })
	}
	st := vs.Stats()
	if st.Skips != 1 || st.Dropped == 0 {
		t.Fatalf("slow viewer: %+v", st)
	}
	eventually(t, "a keyframe request for the slow viewer", func() bool { return asked.Load() >= 1 })
	b.Write(unit(1000, 1000)) // the keyframe it waits for
	b.Write(unit(1001, 1000))
	close(slow.gate)
	eventually(t, "the slow viewer to resume", func() bool {
		got := slow.got()
		return len(got) > 0 && got[len(got)-1].Unit.Data[4] == byte(1001&0xff)
	})
	got := slow.got()
	if got[len(got)-2].Unit.Data[4] != byte(1000&0xff) || got[len(got)-2].Unit.Data[5] != byte(1000>>8) {
		t.Errorf("slow viewer did not resume at the keyframe")
	}
	if total, want := b.Stats().Dropped, vs.Stats().Dropped; total != want {
		t.Errorf("broadcaster dropped %d, slow viewer %d", total, want)
	}
	if vf.Stats().Dropped != 0 {
		t.Errorf("the fast viewer dropped %d", vf.Stats().Dropped)
	}
}

func TestStreamKeyFrameRequestsAreCounted(t *testing.T) {
	// The device's owner merges and rate-limits keyframe requests: the
	// broadcaster passes each one on, at once, and counts it.
	var asked atomic.Int64
	b := New(Config{RequestKeyFrame: func() { asked.Add(1) }, Log: testLog()})
	for i := range 100 {
		b.RequestKeyFrame()
		if got := asked.Load(); got != int64(i+1) {
			t.Fatalf("after %d requests the device got %d", i+1, got)
		}
	}
	b.Close()
	if st := b.Stats(); st.KeyFrameRequests != 100 {
		t.Errorf("stats %+v, want 100 keyframe requests", st)
	}
	b.Write(unit(0, 1)) // ignored after Close
	if st := b.Stats(); st.UnitsIn != 0 || st.GOPCached != 0 {
		t.Errorf("a write after Close was taken: %+v", st)
	}
	if _, err := b.Subscribe("late", &sink{}); err != ErrClosed {
		t.Errorf("Subscribe after Close: %v", err)
	}

	// Without a RequestKeyFrame function, requests are still counted.
	nb := New(Config{Log: testLog()})
	defer nb.Close()
	nb.RequestKeyFrame()
	if st := nb.Stats(); st.KeyFrameRequests != 1 {
		t.Errorf("stats %+v, want 1 keyframe request", st)
	}
}

func TestStreamLongGroupKeepsKeyFrameOnly(t *testing.T) {
	var asked atomic.Int64
	b := New(Config{QueueSize: 8, RequestKeyFrame: func() { asked.Add(1) }, Log: testLog()})
	defer b.Close()
	for n := range 20 { // one keyframe, then more than the cache holds
		b.Write(unit(n, 1000))
	}
	var s sink
	v, _ := b.Subscribe("v", &s)
	defer v.Close()
	eventually(t, "the keyframe", func() bool { return len(s.got()) == 1 })
	eventually(t, "a keyframe request", func() bool { return asked.Load() == 1 })
	b.Write(unit(20, 1000)) // a delta unit that depends on what it missed
	b.Write(unit(1000, 1000))
	eventually(t, "the next keyframe", func() bool { return len(s.got()) == 2 })
	if got := s.got(); got[1].Unit.Data[5] != byte(1000>>8) {
		t.Error("the viewer got a delta unit after a partial group")
	}
}
