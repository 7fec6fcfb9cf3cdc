package rtc

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/capture/annexb"
)

// answerProfile returns the profile-level-id of the answer's H.264 format.
func answerProfile(t testing.TB, answer string) string {
	t.Helper()
	for line := range strings.Lines(answer) {
		if i := strings.Index(line, "profile-level-id="); i >= 0 && strings.HasPrefix(line, "a=fmtp:") {
			return strings.TrimSpace(line[i+len("profile-level-id=") : i+len("profile-level-id=")+6])
		}
	}
	t.Fatalf("no profile-level-id in the answer:\n%s", answer)
	return ""
}

// isKeyFrameAU reports whether an Annex-B access unit holds SPS, PPS and an
// IDR slice.
func isKeyFrameAU(au []byte) bool {
	var sps, pps, idr bool
	for nal := range annexb.NALUnits(au) {
		switch annexb.NALType(nal) {
		case annexb.NALSPS:
			sps = true
		case annexb.NALPPS:
			pps = true
		case annexb.NALIDR:
			idr = true
		}
	}
	return sps && pps && idr
}

func TestSessionStreamsToClient(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	c, s, answer := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})

	if got := answerProfile(t, answer); got != dev.format().ProfileLevelID {
		t.Errorf("answer profile-level-id %s, device's %s", got, dev.format().ProfileLevelID)
	}
	eventually(t, "30 frames at the client", func() bool { return c.frames.Load() >= 30 })
	if first := c.firstAU(); !isKeyFrameAU(first) {
		t.Errorf("first access unit is not SPS+PPS+IDR (%d bytes)", len(first))
	}
	if c.playoutZero.Load() == 0 || c.playoutOther.Load() != 0 {
		t.Errorf("playout-delay: %d packets with 0/0, %d without", c.playoutZero.Load(), c.playoutOther.Load())
	}
	if c.captureTimes.Load() == 0 {
		t.Error("no abs-capture-time extension received")
	}
	info := s.Info()
	if info.State != "connected" || info.Codec != "h264" || info.DeviceID != "dev1" || info.UserID != "alice" {
		t.Errorf("info %+v", info)
	}
	if info.Stats.PacketsSent == 0 || info.Stats.BytesSent == 0 || info.Stats.FramesSent == 0 {
		t.Errorf("stats %+v", info.Stats)
	}
	if err := r.m.Delete(s.ID()); err != nil {
		t.Fatal(err)
	}
	// Delete waits for the session to leave its device, which stops
	// with its last viewer.
	if n := r.p.stops.Load(); n != 1 {
		t.Errorf("device stopped %d times, want 1", n)
	}
	if j, l := r.p.joins.Load(), r.p.leaves.Load(); j != 1 || l != 1 {
		t.Errorf("joins %d, leaves %d", j, l)
	}
}

func TestAnswerUsesOfferedProfileOfSameClass(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	// The client offers Constrained Baseline as 42e01f, as Chrome does; the
	// device's SPS says Constrained Baseline with other flag bytes (42c0..)
	// on real encoders. The answer keeps the offer's profile bytes with
	// the device's level, and media flows.
	c, _, answer := connect(t, r.m, "dev1", "alice", clientOptions{plid: "42e01f"})
	want := "42e0" + s264.plid[4:]
	if s264.plid[:4] == "42e0" {
		want = s264.plid
	}
	if got := answerProfile(t, answer); got != want {
		t.Errorf("answer profile-level-id %s, want %s (device %s)", got, want, s264.plid)
	}
	eventually(t, "frames at the client", func() bool { return c.frames.Load() >= 5 })
}

func TestFastJoinStartsFromCachedKeyFrame(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	dev := r.p.add("dev1", s264)
	c1, _, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	eventually(t, "frames at the first client", func() bool { return c1.frames.Load() >= 10 })
	keys := dev.keyFrames.Load()

	// The second viewer joins mid-group: it starts from the cached
	// keyframe and the units since, without a keyframe request.
	c2, _, _ := connect(t, r.m, "dev1", "bob", clientOptions{plid: s264.plid})
	eventually(t, "frames at the second client", func() bool { return c2.frames.Load() >= 3 })
	if first := c2.firstAU(); !isKeyFrameAU(first) {
		t.Errorf("the joining viewer's first access unit is not SPS+PPS+IDR")
	}
	if got := dev.keyFrames.Load(); got != keys {
		t.Errorf("joining asked the device for %d keyframes; the cache should serve it", got-keys)
	}
}

// TestSilentViewerIsClosed: a viewer whose browser vanished without a
// goodbye (its socket sends nothing more) is found dead by ICE and its
// session closed, with no idle timeout to wait for.
func TestSilentViewerIsClosed(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout = 10 * time.Minute // only ICE can end the session
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	var mute atomic.Bool
	c, s, _ := connect(t, r.m, "dev1", "u1", clientOptions{plid: s264.plid, mute: &mute})
	defer c.close()
	mute.Store(true)
	start := time.Now()
	waitDone(t, s)
	if st := s.Info().State; st != "closed" {
		t.Fatalf("session state %s after it ended", st)
	}
	// The defaults find it after ICEDisconnectedTimeout + ICEFailedTimeout
	// of silence; the time is logged, not asserted (a loaded machine).
	want := cfg.WithDefaults()
	t.Logf("silent viewer closed after %v (ICE disconnected after %v, failed %v later)",
		time.Since(start).Round(100*time.Millisecond), want.ICEDisconnectedTimeout, want.ICEFailedTimeout)
	if _, err := r.m.Get(s.ID()); err == nil {
		t.Fatal("the closed session is still listed")
	}
}

// TestICETimeoutDefaults: a silent viewer fails within 10 s.
func TestICETimeoutDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if total := c.ICEDisconnectedTimeout + c.ICEFailedTimeout; total > 10*time.Second || c.ICEKeepalive >= c.ICEDisconnectedTimeout {
		t.Fatalf("disconnected %v + failed %v (keepalive %v): a silent viewer must fail within 10s", c.ICEDisconnectedTimeout, c.ICEFailedTimeout, c.ICEKeepalive)
	}
}
