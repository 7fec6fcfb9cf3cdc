package rtc

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func TestPLIAndFIRRequestKeyFrames(t *testing.T) {
	// The device's owner merges and rate-limits keyframe requests; rtc
	// passes every PLI and FIR on.
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	b := r.p.hold(t, "dev1")
	eventually(t, "a cached keyframe", func() bool { return b.Stats().GOPCached > 0 })

	c, s, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	eventually(t, "frames at the client", func() bool { return c.frames.Load() >= 3 })
	if n := dev.keyFrames.Load(); n != 0 {
		t.Fatalf("%d keyframe requests before any PLI", n)
	}
	asked := b.Stats().KeyFrameRequests
	for range 5 {
		c.sendPLI()
	}
	eventually(t, "the PLIs to arrive", func() bool { return s.Info().Stats.PLIs >= 5 })
	eventually(t, "every PLI to reach the device", func() bool { return dev.keyFrames.Load() >= 5 })
	if got := b.Stats().KeyFrameRequests - asked; got < 5 {
		t.Errorf("broadcaster saw %d keyframe requests, want 5", got)
	}

	c.mu.Lock()
	ssrc := uint32(c.track.SSRC())
	c.mu.Unlock()
	if err := c.pc.WriteRTCP([]rtcp.Packet{&rtcp.FullIntraRequest{MediaSSRC: ssrc, FIR: []rtcp.FIREntry{{SSRC: ssrc, SequenceNumber: 1}}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the FIR to arrive", func() bool { return s.Info().Stats.FIRs == 1 })
	eventually(t, "the FIR to reach the device", func() bool { return dev.keyFrames.Load() >= 6 })
	if st := s.Info().Stats; st.PLIs != 5 {
		t.Errorf("stats %+v, want 5 PLIs", st)
	}
}

func TestBandwidthEstimateReachesFeed(t *testing.T) {
	cfg := testConfig()
	cfg.MinBitRate, cfg.MaxBitRate = 100_000, 5_000_000
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	c, s, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	eventually(t, "frames at the client", func() bool { return c.frames.Load() >= 3 })
	eventually(t, "an estimate at the device", func() bool { return dev.estimates.Load() >= 1 })
	if bps := dev.lastEstimate.Load(); bps < 100_000 || bps > 5_000_000 {
		t.Errorf("estimate %d outside the bounds", bps)
	}
	if s.Info().Stats.TargetBitRate <= 0 {
		t.Errorf("no target bit rate in the session's stats")
	}
	// Every sweep reports the estimate, moved or not: the device's owner
	// decides what to do with it.
	n := dev.estimates.Load()
	eventually(t, "more sweeps to report", func() bool { return dev.estimates.Load() >= n+2 })
	if bps := dev.lastEstimate.Load(); bps < 100_000 || bps > 5_000_000 {
		t.Errorf("estimate %d outside the bounds", bps)
	}
}

func TestNoTransportCCNoEstimate(t *testing.T) {
	cfg := testConfig()
	cfg.SweepInterval = time.Hour // the test runs the report itself
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	other := r.p.add("dev2", s264)
	c, s, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid, noTWCC: true})
	c2, s2, _ := connect(t, r.m, "dev2", "bob", clientOptions{plid: s264.plid})
	eventually(t, "frames at the client", func() bool { return c.frames.Load() >= 3 })
	eventually(t, "frames at the other client", func() bool { return c2.frames.Load() >= 3 })
	later := time.Now().Add(time.Hour)
	if _, ok := s.estimate(later); ok {
		t.Error("an estimate without transport-wide feedback")
	}
	eventually(t, "the other client's estimate", func() bool {
		_, ok := s2.estimate(later)
		return ok
	})
	r.m.reportEstimates(later)
	if n := dev.estimates.Load(); n != 0 {
		t.Errorf("SetEstimate called %d times without feedback", n)
	}
	if n := other.estimates.Load(); n != 1 {
		t.Errorf("SetEstimate called %d times for the client with feedback, want 1", n)
	}
	if s.Info().Stats.TargetBitRate != 0 {
		t.Errorf("a target bit rate without feedback")
	}
}
