package rtc

import (
	"testing"
	"time"

	"github.com/cloudphone/media-service/encoder"
)

func TestPLIRequestsKeyFrameRateLimited(t *testing.T) {
	cfg := testConfig()
	cfg.KeyFrameMinInterval = time.Hour // one request forwarded, the rest merged
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.src.add("dev1", s264)
	_, b, release, err := r.hub.Acquire(t.Context(), "dev1")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	eventually(t, "a cached keyframe", b.KeyFrameCached)

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
	eventually(t, "a keyframe request", func() bool { return dev.keyFrames.Load() >= 1 })
	if got := b.Stats().KeyFrameRequests - asked; got < 5 {
		t.Errorf("broadcaster saw %d keyframe requests, want 5", got)
	}
	if n := dev.keyFrames.Load(); n != 1 {
		t.Errorf("device got %d keyframe requests within the interval, want 1", n)
	}
}

func TestBandwidthEstimateReachesSetBitRate(t *testing.T) {
	cfg := testConfig()
	cfg.MinBitRate, cfg.MaxBitRate = 100_000, 5_000_000
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.src.add("dev1", s264)
	c, s, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	eventually(t, "frames at the client", func() bool { return c.frames.Load() >= 3 })
	eventually(t, "a SetBitRate call", func() bool { return dev.bitRates.Load() >= 1 })
	if bps := dev.lastBitRate.Load(); bps < 100_000 || bps > 5_000_000 {
		t.Errorf("bit rate %d outside the bounds", bps)
	}
	if s.Info().Stats.TargetBitRate <= 0 {
		t.Errorf("no target bit rate in the session's stats")
	}
}

func TestPassThroughBitRateIsNotRetried(t *testing.T) {
	cfg := testConfig()
	cfg.BitRateInterval = time.Hour // the test runs the adjustment itself
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.src.add("dev1", s264)
	dev.bitRateErr = encoder.ErrUnsupported
	c, s, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	eventually(t, "frames at the client", func() bool { return c.frames.Load() >= 3 })
	eventually(t, "an estimate", func() bool {
		_, ok := s.estimate(time.Now().Add(2 * time.Second))
		return ok
	})
	later := time.Now().Add(2 * time.Second)
	r.m.adjustBitRates(later)
	r.m.adjustBitRates(later.Add(time.Second))
	if n := dev.bitRates.Load(); n != 1 {
		t.Errorf("SetBitRate called %d times after ErrUnsupported, want 1", n)
	}
}

func TestNoTransportCCNoBitRate(t *testing.T) {
	cfg := testConfig()
	cfg.BitRateInterval = time.Hour
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.src.add("dev1", s264)
	c, s, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid, noTWCC: true})
	eventually(t, "frames at the client", func() bool { return c.frames.Load() >= 3 })
	if _, ok := s.estimate(time.Now().Add(time.Hour)); ok {
		t.Error("an estimate without transport-wide feedback")
	}
	r.m.adjustBitRates(time.Now().Add(time.Hour))
	if n := dev.bitRates.Load(); n != 0 {
		t.Errorf("SetBitRate called %d times without feedback", n)
	}
}

func TestNextBitRate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		est       []int
		last      int
		want      int
		wantApply bool
	}{
		{"none", nil, 0, 0, false},
		{"zeros ignored", []int{0, -5}, 0, 0, false},
		{"first", []int{2_000_000}, 0, 2_000_000, true},
		{"lowest wins", []int{3_000_000, 800_000, 1_500_000}, 0, 800_000, true},
		{"clamped low", []int{10_000}, 0, 150_000, true},
		{"clamped high", []int{90_000_000}, 0, 8_000_000, true},
		{"small change skipped", []int{1_020_000}, 1_000_000, 1_000_000, false},
		{"change of 5% applied", []int{1_050_000}, 1_000_000, 1_050_000, true},
		{"drop applied", []int{500_000}, 1_000_000, 500_000, true},
		{"clamped equal skipped", []int{90_000_000}, 8_000_000, 8_000_000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := NextBitRate(tc.est, tc.last, 150_000, 8_000_000)
			if ok != tc.wantApply || (ok && got != tc.want) {
				t.Errorf("NextBitRate(%v, %d) = %d, %v; want %d, %v", tc.est, tc.last, got, ok, tc.want, tc.wantApply)
			}
		})
	}
}
