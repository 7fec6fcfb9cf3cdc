//go:build cgo

package native

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// The conformance suite: one set of checks, run against every backend
// (TestConformance/<codec>/...). A hardware encoder that this machine does
// not have is skipped with the prober's reason; libx264 and libvpx must
// pass everywhere. Nothing here depends on timing.

// conformanceCodecs are the backends, H.264 in probing order, then VP8.
func conformanceCodecs() []string { return append(slices.Clone(H264Candidates), CodecVP8) }

// testProber probes each encoder once for the whole test binary.
var testProber = NewProber(0, "")

// requireEncoder skips tb when codec is a hardware encoder that does not
// work here, and fails it when a software encoder does not.
func requireEncoder(tb testing.TB, codec string) {
	tb.Helper()
	for _, r := range testProber.All(context.Background()) {
		if r.Encoder != codec || r.Available {
			continue
		}
		if IsHardware(codec) {
			tb.Skipf("%s unavailable: %s", codec, r.Reason)
		}
		tb.Fatalf("%s unavailable: %s", codec, r.Reason)
	}
}

func TestConformance(t *testing.T) {
	for _, codec := range conformanceCodecs() {
		t.Run(codec, func(t *testing.T) {
			requireEncoder(t, codec)
			t.Run("PSNR", func(t *testing.T) {
				for _, pf := range []PixelFormat{PixelFormatYUV420P, PixelFormatNV12} {
					t.Run("640x360-"+pf.String(), func(t *testing.T) {
						checkPSNR(t, Options{Codec: codec, Width: 640, Height: 360, PixelFormat: pf}, 30)
					})
				}
			})
			t.Run("ForceKeyFrame", func(t *testing.T) { checkForceKeyFrame(t, codec) })
			t.Run("SetBitRate", func(t *testing.T) { checkSetBitRate(t, codec) })
			t.Run("Close", func(t *testing.T) { checkClose(t, codec) })
		})
	}
}

// isKeyUnit reports whether a packet of media is a key frame that a
// decoder can start at: an IDR with SPS and PPS, or a VP8 key frame.
func isKeyUnit(media string, data []byte) bool {
	if media == MediaCodecVP8 {
		return vp8KeyFrame(data)
	}
	return hasNAL(data, nalSPS, nalPPS, nalIDR)
}

// isDeltaUnit reports whether a packet is a predicted frame.
func isDeltaUnit(media string, data []byte) bool {
	if media == MediaCodecVP8 {
		return len(data) > 3 && data[0]&1 == 1
	}
	return hasNAL(data, nalSlice) && !hasNAL(data, nalIDR)
}

// vp8KeyFrame parses the VP8 frame tag (RFC 6386, section 9.1): bit 0 of
// the first byte is 0 for a key frame, whose header then carries the start
// code 9d 01 2a.
func vp8KeyFrame(data []byte) bool {
	return len(data) >= 10 && data[0]&1 == 0 && data[3] == 0x9d && data[4] == 0x01 && data[5] == 0x2a
}

// byPTS indexes packets by presentation time, so that checks hold for an
// encoder that returns a packet one call late.
func byPTS(t testing.TB, units []encoded) map[time.Duration]encoded {
	t.Helper()
	m := make(map[time.Duration]encoded, len(units))
	for _, u := range units {
		if _, dup := m[u.pts]; dup {
			t.Fatalf("two packets with PTS %v", u.pts)
		}
		m[u.pts] = u
	}
	return m
}

// checkPSNR encodes n frames of the textured moving pattern with o, decodes
// them, and checks the stream: a packet per frame, the first one a key
// frame (with SPS and PPS, in Annex-B form, for H.264), PTS and duration
// from the nominal frame rate, and at least 30 dB PSNR on every frame.
func checkPSNR(t *testing.T, o Options, n int) {
	e, pool := newTestEncoder(t, o)
	media := MediaCodecOf(e.Name())
	if e.MediaCodec() != media {
		t.Fatalf("MediaCodec %q, want %q", e.MediaCodec(), media)
	}
	pat := newTestPattern(o.Width, o.Height, true)
	units := append(encodeN(t, e, pool, pat, 0, n), flushAll(t, e)...)
	late := 0
	for _, u := range units {
		if u.during < 0 || u.pts != time.Duration(u.during)*frameInterval(30) {
			late++
		}
	}
	if len(units) != n {
		t.Fatalf("got %d packets for %d frames, want one per frame", len(units), n)
	}
	if late > 0 {
		// Latency, not correctness: logged, so that a hardware encoder's
		// queue shows in the test output.
		t.Logf("%d of %d packets came out of a later Encode call or Flush", late, n)
	}
	if !IsHardware(e.Name()) && late > 0 {
		t.Fatalf("%d packets came late; %s must return each frame's packet from its own Encode call", late, e.Name())
	}
	first := units[0]
	if !first.key || !isKeyUnit(media, first.data) {
		t.Fatalf("first packet: key=%v, want a key frame (NAL types %v)", first.key, nalTypes(first.data))
	}
	if media == MediaCodecH264 && !hasAnnexBStart(first.data) {
		t.Fatalf("first packet starts % x, want an Annex-B start code", first.data[:4])
	}
	wantDur := frameInterval(30)
	for i, u := range units {
		if u.pts != time.Duration(i)*wantDur {
			t.Fatalf("packet %d: PTS %v, want %v", i, u.pts, time.Duration(i)*wantDur)
		}
		if u.dur != wantDur {
			t.Fatalf("packet %d: duration %v, want %v", i, u.dur, wantDur)
		}
	}

	dec, err := NewDecoder(media) // the decoder names are the media codec names
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	decoded, worst, sum := 0, 100.0, 0.0
	check := func(pic *Picture) error {
		p := psnr(t, pat.reference(decoded), pic)
		worst, sum = min(worst, p), sum+p
		decoded++
		return nil
	}
	for _, u := range units {
		if err := dec.Decode(u.data, check); err != nil {
			t.Fatal(err)
		}
	}
	if err := dec.Flush(check); err != nil {
		t.Fatal(err)
	}
	if decoded != n {
		t.Fatalf("decoded %d pictures, want %d", decoded, n)
	}
	t.Logf("%s %dx%d %s: %d frames, %d bytes, PSNR mean %.1f dB, worst %.1f dB",
		e.Name(), o.Width, o.Height, e.Options().PixelFormat, n, totalSize(units), sum/float64(decoded), worst)
	if worst < 30 {
		t.Fatalf("worst PSNR %.1f dB, want at least 30 dB at the default bit rate", worst)
	}
}

func hasAnnexBStart(b []byte) bool {
	return len(b) >= 4 && (b[0] == 0 && b[1] == 0 && b[2] == 1 || b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 1)
}

// checkForceKeyFrame: with keyframes 1000 frames apart, only the first
// packet is a key frame until ForceKeyFrame, after which the next frame's
// packet is one and the frame after it is predicted again.
func checkForceKeyFrame(t *testing.T, codec string) {
	e, pool := newTestEncoder(t, Options{Codec: codec, Width: 320, Height: 240, KeyFrameInterval: 1000})
	media := e.MediaCodec()
	pat := newTestPattern(320, 240, false)
	units := encodeN(t, e, pool, pat, 0, 10)
	var forced []int
	for round := range 3 {
		if err := e.ForceKeyFrame(); err != nil {
			t.Fatal(err)
		}
		forced = append(forced, 10+round*2)
		units = append(units, encodeN(t, e, pool, pat, 10+round*2, 2)...)
	}
	units = append(units, flushAll(t, e)...)
	pkts := byPTS(t, units)
	iv := frameInterval(30)
	for i := 1; i < 10; i++ {
		if u := pkts[time.Duration(i)*iv]; u.key || !isDeltaUnit(media, u.data) {
			t.Fatalf("frame %d: key=%v (NAL types %v); want a predicted frame without a request (keyframe interval 1000)", i, u.key, nalTypes(u.data))
		}
	}
	for _, i := range forced {
		u, ok := pkts[time.Duration(i)*iv]
		if !ok || !u.key || !isKeyUnit(media, u.data) {
			t.Fatalf("frame %d after ForceKeyFrame: key=%v NAL types %v, want a key frame", i, u.key, nalTypes(u.data))
		}
		next := pkts[time.Duration(i+1)*iv]
		if next.key || !isDeltaUnit(media, next.data) {
			t.Fatalf("frame %d, after the forced key frame: key=%v NAL types %v, want a predicted frame", i+1, next.key, nalTypes(next.data))
		}
	}
}

// checkSetBitRate: of two encoders fed the same frames, the one whose rate
// is halved produces measurably less (at most 0.75 of the other's bytes).
// Backends that reopen to change the rate start over with a key frame.
func checkSetBitRate(t *testing.T, codec string) {
	const w, h, rate = 640, 360, 1_500_000
	pat := newTestPattern(w, h, true)
	// One thread each, so that the software encoders are deterministic.
	steady, poolA := newTestEncoder(t, Options{Codec: codec, Width: w, Height: h, BitRate: rate, Threads: 1})
	halved, poolB := newTestEncoder(t, Options{Codec: codec, Width: w, Height: h, BitRate: rate, Threads: 1})
	media := halved.MediaCodec()

	encodeN(t, steady, poolA, pat, 0, 30)
	encodeN(t, halved, poolB, pat, 0, 30)
	if err := halved.SetBitRate(rate / 2); err != nil {
		t.Fatal(err)
	}
	// The change takes effect within a few frames; compare the frames after.
	a := encodeN(t, steady, poolA, pat, 30, 60)
	b := encodeN(t, halved, poolB, pat, 30, 60)
	if !halved.be.dynamicRate {
		if len(b) == 0 || !b[0].key || !isKeyUnit(media, b[0].data) {
			t.Fatalf("%s reopens to change its rate: the first packet after SetBitRate must be a key frame", codec)
		}
	}
	a, b = a[5:], b[5:]
	ratio := float64(totalSize(b)) / float64(totalSize(a))
	t.Logf("after SetBitRate(%d): %d bytes against %d at %d b/s (ratio %.2f)", rate/2, totalSize(b), totalSize(a), rate, ratio)
	if ratio > 0.75 {
		t.Fatalf("halving the bit rate changed the output size by a ratio of %.2f, want at most 0.75", ratio)
	}
	if err := halved.SetBitRate(0); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("SetBitRate(0) = %v, want ErrInvalidOptions", err)
	}
}

// checkClose: Close is idempotent, and every use after it returns ErrClosed
// and still takes the frame back.
func checkClose(t *testing.T, codec string) {
	e, pool := newTestEncoder(t, Options{Codec: codec, Width: 320, Height: 240})
	encodeN(t, e, pool, newTestPattern(320, 240, false), 0, 2)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	f, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Encode(f, func(Packet) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Encode after Close = %v, want ErrClosed", err)
	}
	if f.Plane(0) != nil {
		t.Fatal("Encode did not release the frame after failing")
	}
	if err := e.Flush(func(Packet) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close = %v, want ErrClosed", err)
	}
	if err := e.ForceKeyFrame(); !errors.Is(err, ErrClosed) {
		t.Fatalf("ForceKeyFrame after Close = %v, want ErrClosed", err)
	}
	if err := e.SetBitRate(1_000_000); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetBitRate after Close = %v, want ErrClosed", err)
	}
}
