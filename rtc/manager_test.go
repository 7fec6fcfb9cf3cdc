package rtc

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/media"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// vp8Only offers VP8 alone.
var vp8Only = []webrtc.RTPCodecParameters{
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96},
}

// offerOf returns an offer of a client that is closed at once: good for
// sessions that never connect.
func offerOf(t *testing.T, opts clientOptions) string {
	t.Helper()
	c := newClient(t, opts)
	o := c.offer()
	c.close()
	return o
}

func TestCreateDeleteCyclesLeakNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := testConfig()
	cfg.MaxSessionsPerUser = 2
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	good := offerOf(t, clientOptions{plid: s264.plid})
	vp8 := offerOf(t, clientOptions{codecs: vp8Only})
	ctx := context.Background()
	badOffers := []string{"", "v=0", strings.Replace(good, "m=video", "m=audio", 1), `{"type":"answer","sdp":""}`}

	var want struct{ ok, badOffer, unknown, limit, codec int }
	for i := range 200 {
		switch i % 5 {
		case 0, 1: // create and delete
			s, answer, err := r.m.Create(ctx, CreateRequest{DeviceID: "dev1", UserID: "u", Offer: good})
			if err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
			if !strings.Contains(answer, "a=candidate") {
				t.Fatalf("cycle %d: answer without candidates", i)
			}
			if err := r.m.Delete(s.ID()); err != nil {
				t.Fatal(err)
			}
			want.ok++
		case 2: // a bad offer: refused before the device is joined
			calls := r.p.calls.Load()
			_, _, err := r.m.Create(ctx, CreateRequest{DeviceID: "dev1", UserID: "u", Offer: badOffers[i%len(badOffers)]})
			if !errors.Is(err, ErrBadOffer) || StatusCode(err) != http.StatusBadRequest {
				t.Fatalf("cycle %d: err %v, want ErrBadOffer", i, err)
			}
			if r.p.calls.Load() != calls {
				t.Fatalf("cycle %d: a bad offer reached the provider", i)
			}
			want.badOffer++
		case 3: // an unknown device, and a codec the device cannot send
			_, _, err := r.m.Create(ctx, CreateRequest{DeviceID: "nope", UserID: "u", Offer: good})
			if !errors.Is(err, ErrUnknownDevice) || StatusCode(err) != http.StatusNotFound {
				t.Fatalf("cycle %d: err %v, want ErrUnknownDevice", i, err)
			}
			_, _, err = r.m.Create(ctx, CreateRequest{DeviceID: "dev1", UserID: "u", Offer: vp8})
			if !errors.Is(err, ErrCodecUnsupported) || StatusCode(err) != http.StatusNotAcceptable {
				t.Fatalf("cycle %d: err %v, want ErrCodecUnsupported", i, err)
			}
			want.unknown++
			want.codec++
		case 4: // the per-user limit
			s1, _, err1 := r.m.Create(ctx, CreateRequest{DeviceID: "dev1", UserID: "v", Offer: good})
			s2, _, err2 := r.m.Create(ctx, CreateRequest{DeviceID: "dev1", UserID: "v", Offer: good})
			if err1 != nil || err2 != nil {
				t.Fatalf("cycle %d: %v, %v", i, err1, err2)
			}
			_, _, err := r.m.Create(ctx, CreateRequest{DeviceID: "dev1", UserID: "v", Offer: good})
			if !errors.Is(err, ErrTooManySessions) || StatusCode(err) != http.StatusTooManyRequests {
				t.Fatalf("cycle %d: err %v, want ErrTooManySessions", i, err)
			}
			if n := len(r.m.List()); n != 2 {
				t.Fatalf("cycle %d: %d sessions listed, want 2", i, n)
			}
			_ = r.m.Delete(s1.ID())
			_ = r.m.Delete(s2.ID())
			want.limit++
		}
	}
	if n := len(r.m.List()); n != 0 {
		t.Errorf("%d sessions left", n)
	}
	// Every feed was closed with its session, and the device stopped with
	// its last viewer: the manager's Close has nothing left to do.
	if j, l := r.p.joins.Load(), r.p.leaves.Load(); j != l || j == 0 {
		t.Errorf("joined %d times, left %d", j, l)
	}
	if st, sp := r.p.starts.Load(), r.p.stops.Load(); st != sp || st == 0 {
		t.Errorf("device started %d times, stopped %d", st, sp)
	}
	r.close()
	if j, l := r.p.joins.Load(), r.p.leaves.Load(); j != l {
		t.Errorf("after Close: joined %d times, left %d", j, l)
	}
	t.Logf("%+v; device started %d times", want, r.p.starts.Load())
}

func TestUnconnectedSessionIsClosedWhenIdle(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout = 200 * time.Millisecond
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	s, _, err := r.m.Create(context.Background(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: offerOf(t, clientOptions{plid: s264.plid})})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, s)
	if _, err := r.m.Get(s.ID()); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("Get after idle close: %v", err)
	}
	if j, l := r.p.joins.Load(), r.p.leaves.Load(); j != 1 || l != 1 {
		t.Errorf("device joined %d times, left %d", j, l)
	}
}

func TestSessionEndsWhenClientCloses(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	c, s, _ := connect(t, r.m, "dev1", "u", clientOptions{plid: s264.plid})
	eventually(t, "frames", func() bool { return c.frames.Load() >= 1 })
	c.close()
	waitDone(t, s)
	if err := r.m.Delete(s.ID()); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("Delete after the client left: %v", err)
	}
	// The session ends after its feed closed, and the device stops with
	// its last viewer.
	if n := r.p.stops.Load(); n != 1 {
		t.Errorf("device stopped %d times, want 1", n)
	}
}

func TestVP8Session(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	r.p.add("vp8dev", syntheticStream(media.VP8, 60, 30))
	c, s, answer := connect(t, r.m, "vp8dev", "u", clientOptions{})
	if !strings.Contains(answer, "VP8/90000") || strings.Contains(answer, "H264") {
		t.Errorf("answer does not carry VP8 alone:\n%s", answer)
	}
	eventually(t, "VP8 frames", func() bool { return c.frames.Load() >= 5 })
	if s.Codec() != media.VP8 {
		t.Errorf("codec %s", s.Codec())
	}
}

func TestTrickle(t *testing.T) {
	// The client trickles its candidates; the server's are all in the
	// answer.
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	c := newClient(t, clientOptions{plid: s264.plid, trickle: true})
	defer c.close()
	offer := c.offer()
	if strings.Contains(offer, "a=candidate") {
		t.Fatal("the trickling client's offer has candidates")
	}
	s, answer, err := r.m.Create(context.Background(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: offer})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, "a=candidate") {
		t.Fatalf("the answer has no candidates:\n%s", answer)
	}
	c.accept(answer)
	// The client's candidates go in as a WHEP PATCH body would carry them.
	eventually(t, "client candidates", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.candidates) > 0
	})
	c.mu.Lock()
	frag := "a=ice-ufrag:" + iceUfrag(offer) + "\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
	for _, ci := range c.candidates {
		frag += "a=" + ci.Candidate + "\r\n"
	}
	c.mu.Unlock()
	if err := r.m.AddSDPFragment(s.ID(), frag+"a=end-of-candidates\r\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "frames over trickled candidates", func() bool { return c.frames.Load() >= 3 })
	if err := r.m.AddSDPFragment(s.ID(), "a=ice-ufrag:other\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n"); !errors.Is(err, ErrBadCandidate) {
		t.Errorf("ICE restart fragment: %v", err)
	}
	if err := r.m.AddCandidate(s.ID(), webrtc.ICECandidateInit{Candidate: "candidate:garbage"}); !errors.Is(err, ErrBadCandidate) {
		t.Errorf("garbage candidate: %v", err)
	}
	if err := r.m.AddCandidate("nope", webrtc.ICECandidateInit{}); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("unknown session: %v", err)
	}
}

// iceUfrag returns an SDP's first ice-ufrag.
func iceUfrag(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

func TestCreateValidatesRequest(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	for _, req := range []CreateRequest{
		{DeviceID: "", UserID: "u"},
		{DeviceID: "dev 1", UserID: "u"},
		{DeviceID: "dev1;reboot", UserID: "u"},
		{DeviceID: strings.Repeat("d", 129), UserID: "u"},
		{DeviceID: "dev1", UserID: "u\n"},
	} {
		if _, _, err := r.m.Create(context.Background(), req); !errors.Is(err, ErrBadRequest) || StatusCode(err) != 400 {
			t.Errorf("%+v: %v", req, err)
		}
	}
	if r.p.calls.Load() != 0 {
		t.Error("a bad request reached the provider")
	}
}

func TestClosedManagerRefuses(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	_, s, _ := connect(t, r.m, "dev1", "u", clientOptions{plid: s264.plid})
	if err := r.m.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, s)
	_, _, err := r.m.Create(context.Background(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: offerOf(t, clientOptions{plid: s264.plid})})
	if !errors.Is(err, ErrClosed) || StatusCode(err) != http.StatusServiceUnavailable {
		t.Errorf("Create after Close: %v", err)
	}
	if j, l := r.p.joins.Load(), r.p.leaves.Load(); j != l || j == 0 {
		t.Errorf("joined %d times, left %d at Close", j, l)
	}
	if st, sp := r.p.starts.Load(), r.p.stops.Load(); st != sp {
		t.Errorf("device started %d times, stopped %d at Close", st, sp)
	}
}

func TestSessionIDsAreRandom(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	cfgOffer := offerOf(t, clientOptions{plid: s264.plid})
	seen := map[string]bool{}
	for range 3 {
		s, _, err := r.m.Create(context.Background(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: cfgOffer})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.ID()) != 26 || seen[s.ID()] {
			t.Errorf("session ID %q", s.ID())
		}
		seen[s.ID()] = true
		if got, err := r.m.Get(s.ID()); err != nil || got != s {
			t.Errorf("Get: %v", err)
		}
		_ = r.m.Delete(s.ID())
	}
}
