//go:build cgo

package native

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	astiav.SetLogLevel(astiav.LogLevelError)
	goleak.VerifyTestMain(m)
}

// encoded is a copied access unit.
type encoded struct {
	data     []byte
	key      bool
	pts, dur time.Duration
}

// encodeN encodes frames first..first+n-1 of pat and returns the units.
func encodeN(t testing.TB, e *Encoder, pool *FramePool, pat *testPattern, first, n int) []encoded {
	t.Helper()
	var out []encoded
	for i := first; i < first+n; i++ {
		f, err := pool.Get()
		if err != nil {
			t.Fatal(err)
		}
		pat.fillFrame(t, i, f)
		if err := e.Encode(f, func(p Packet) error {
			out = append(out, encoded{bytes.Clone(p.Data), p.KeyFrame, p.PTS, p.Duration})
			return nil
		}); err != nil {
			t.Fatalf("encode frame %d: %v", i, err)
		}
	}
	return out
}

func newTestEncoder(t testing.TB, o Options) (*Encoder, *FramePool) {
	t.Helper()
	e, err := NewEncoder(o)
	if err != nil {
		t.Fatal(err)
	}
	o = e.Options()
	pool, err := NewFramePool(o.Width, o.Height, o.PixelFormat, 4)
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		pool.Close()
	})
	return e, pool
}

func TestEncodeDecodePSNR(t *testing.T) {
	for _, tc := range []struct {
		name string
		fmt  PixelFormat
		w, h int
		n    int
	}{
		{"720p-yuv420p", PixelFormatYUV420P, 1280, 720, 90},
		{"360p-nv12", PixelFormatNV12, 640, 360, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, pool := newTestEncoder(t, Options{Width: tc.w, Height: tc.h, PixelFormat: tc.fmt})
			pat := newTestPattern(tc.w, tc.h, true)
			units := encodeN(t, e, pool, pat, 0, tc.n)
			if len(units) != tc.n {
				t.Fatalf("got %d access units for %d frames; the low-latency encoder must emit one per frame", len(units), tc.n)
			}
			first := units[0]
			if !first.key || !hasNAL(first.data, nalSPS, nalPPS, nalIDR) {
				t.Fatalf("first unit: key=%v NAL types %v, want an IDR with SPS and PPS", first.key, nalTypes(first.data))
			}
			if !bytes.HasPrefix(first.data, []byte{0, 0, 0, 1}) && !bytes.HasPrefix(first.data, []byte{0, 0, 1}) {
				t.Fatalf("first unit starts % x, want an Annex-B start code", first.data[:4])
			}
			wantDur := frameInterval(30)
			for i, u := range units {
				if u.pts != time.Duration(i)*wantDur {
					t.Fatalf("unit %d: PTS %v, want %v", i, u.pts, time.Duration(i)*wantDur)
				}
				if u.dur != wantDur {
					t.Fatalf("unit %d: duration %v, want %v", i, u.dur, wantDur)
				}
			}

			dec, err := NewDecoder(DecoderH264)
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
			if decoded != tc.n {
				t.Fatalf("decoded %d pictures, want %d", decoded, tc.n)
			}
			t.Logf("%d frames, %d bytes, PSNR mean %.1f dB, worst %.1f dB", tc.n, totalSize(units), sum/float64(decoded), worst)
			if worst < 30 {
				t.Fatalf("worst PSNR %.1f dB, want at least 30 dB at the default bit rate", worst)
			}
		})
	}
}

func totalSize(units []encoded) int {
	n := 0
	for _, u := range units {
		n += len(u.data)
	}
	return n
}

func TestForceKeyFrame(t *testing.T) {
	e, pool := newTestEncoder(t, Options{Width: 320, Height: 240, KeyFrameInterval: 1000})
	pat := newTestPattern(320, 240, false)
	units := encodeN(t, e, pool, pat, 0, 10)
	for i, u := range units[1:] {
		if u.key || hasNAL(u.data, nalIDR) {
			t.Fatalf("unit %d is a keyframe without a request (keyframe interval 1000)", i+1)
		}
	}
	for round := range 3 {
		if err := e.ForceKeyFrame(); err != nil {
			t.Fatal(err)
		}
		u := encodeN(t, e, pool, pat, 10+round*2, 2)
		if !u[0].key || !hasNAL(u[0].data, nalSPS, nalPPS, nalIDR) {
			t.Fatalf("round %d: unit after ForceKeyFrame has key=%v NAL types %v, want IDR with SPS/PPS", round, u[0].key, nalTypes(u[0].data))
		}
		if u[1].key || !hasNAL(u[1].data, nalSlice) {
			t.Fatalf("round %d: the unit after the forced IDR is key=%v NAL types %v, want a P slice", round, u[1].key, nalTypes(u[1].data))
		}
	}
}

func TestSetBitRateLowersOutput(t *testing.T) {
	const w, h, rate = 640, 360, 1_500_000
	pat := newTestPattern(w, h, true)
	// One thread each, so that the two encoders are deterministic.
	steady, poolA := newTestEncoder(t, Options{Width: w, Height: h, BitRate: rate, Threads: 1})
	halved, poolB := newTestEncoder(t, Options{Width: w, Height: h, BitRate: rate, Threads: 1})

	a := encodeN(t, steady, poolA, pat, 0, 30)
	b := encodeN(t, halved, poolB, pat, 0, 30)
	if totalSize(a) != totalSize(b) {
		t.Fatalf("identical encoders differ before the change: %d and %d bytes", totalSize(a), totalSize(b))
	}
	if err := halved.SetBitRate(rate / 2); err != nil {
		t.Fatal(err)
	}
	// The change takes effect within a few frames; compare the frames after.
	a = encodeN(t, steady, poolA, pat, 30, 60)[5:]
	b = encodeN(t, halved, poolB, pat, 30, 60)[5:]
	ratio := float64(totalSize(b)) / float64(totalSize(a))
	t.Logf("after SetBitRate(%d): %d bytes against %d at %d b/s (ratio %.2f)", rate/2, totalSize(b), totalSize(a), rate, ratio)
	if ratio > 0.75 {
		t.Fatalf("halving the bit rate changed the output size by a ratio of %.2f, want at most 0.75", ratio)
	}
	if err := halved.SetBitRate(0); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("SetBitRate(0) = %v, want ErrInvalidOptions", err)
	}
}

func TestExplicitPTS(t *testing.T) {
	e, pool := newTestEncoder(t, Options{Width: 160, Height: 120})
	pat := newTestPattern(160, 120, false)
	var got []time.Duration
	for _, pts := range []time.Duration{5 * time.Millisecond, 45 * time.Millisecond, 45 * time.Millisecond, NoPTS, 400 * time.Millisecond} {
		f, err := pool.Get()
		if err != nil {
			t.Fatal(err)
		}
		pat.fillFrame(t, 0, f)
		f.PTS = pts
		if err := e.Encode(f, func(p Packet) error { got = append(got, p.PTS); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// A repeated PTS is nudged forward; NoPTS is one interval after the last.
	want := []time.Duration{5 * time.Millisecond, 45 * time.Millisecond, 45*time.Millisecond + time.Microsecond,
		45*time.Millisecond + time.Microsecond + frameInterval(30), 400 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("packet %d PTS %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
}

func TestOddDimensions(t *testing.T) {
	_, err := NewEncoder(Options{Width: 1279, Height: 719})
	if !errors.Is(err, ErrOddDimensions) || !strings.Contains(err.Error(), "1279x719") || !strings.Contains(err.Error(), "1278x718") {
		t.Fatalf("NewEncoder(1279x719) = %v, want ErrOddDimensions naming the size and the even size to use", err)
	}
	if _, err := NewFramePool(1279, 720, PixelFormatYUV420P, 0); !errors.Is(err, ErrOddDimensions) {
		t.Fatalf("NewFramePool(1279x720) = %v, want ErrOddDimensions", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"zero size", Options{}, "size 0x0"},
		{"huge", Options{Width: 10000, Height: 720}, "size 10000x720"},
		{"codec", Options{Codec: "mpeg2video", Width: 64, Height: 64}, `codec "mpeg2video"`},
		{"packed input", Options{Width: 64, Height: 64, PixelFormat: PixelFormatRGBA}, "pixel format rgba"},
		{"preset", Options{Width: 64, Height: 64, Preset: "warp"}, `preset "warp"`},
		{"profile", Options{Width: 64, Height: 64, Profile: "high10"}, `profile "high10"`},
		{"bitrate", Options{Width: 64, Height: 64, BitRate: -5}, "bit rate -5"},
		{"framerate", Options{Width: 64, Height: 64, FrameRate: 1000}, "frame rate 1000"},
		{"keyint", Options{Width: 64, Height: 64, KeyFrameInterval: -1}, "keyframe interval -1"},
		{"threads", Options{Width: 64, Height: 64, Threads: 100}, "threads 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEncoder(tc.o)
			if err == nil {
				e.Close()
				t.Fatal("NewEncoder accepted invalid options")
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want ErrInvalidOptions containing %q", err, tc.want)
			}
		})
	}
}

func TestCloseAndUseAfterClose(t *testing.T) {
	e, pool := newTestEncoder(t, Options{Width: 64, Height: 64})
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

func TestEncodeRejectsMismatchedFrame(t *testing.T) {
	e, _ := newTestEncoder(t, Options{Width: 64, Height: 64})
	other, err := NewFramePool(128, 64, PixelFormatYUV420P, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	f, err := other.Get()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Encode(f, func(Packet) error { return nil }); !errors.Is(err, ErrFrameMismatch) {
		t.Fatalf("Encode(128x64 into 64x64) = %v, want ErrFrameMismatch", err)
	}
	// The frame went back to its pool: the one-frame pool hands it out again.
	if f2, err := other.Get(); err != nil {
		t.Fatalf("frame not returned to its pool: %v", err)
	} else {
		f2.Release()
	}
}

func TestEmitErrorStopsEncode(t *testing.T) {
	e, pool := newTestEncoder(t, Options{Width: 64, Height: 64})
	f, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("consumer gone")
	if err := e.Encode(f, func(Packet) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Encode = %v, want the callback's error", err)
	}
	// The encoder is still usable.
	if u := encodeN(t, e, pool, newTestPattern(64, 64, false), 1, 2); len(u) != 2 {
		t.Fatalf("got %d units after a failed callback, want 2", len(u))
	}
}

func TestVersion(t *testing.T) {
	if v := FFmpegVersion(); !strings.HasPrefix(v, "7.1.") {
		t.Fatalf("linked FFmpeg %q, want 7.1.x", v)
	}
	encs := VideoEncoders()
	for _, want := range []string{"libx264", "libvpx", "h264_vaapi", "h264_qsv"} {
		found := false
		for _, e := range encs {
			found = found || e == want
		}
		if !found {
			t.Errorf("encoder %s not compiled in (have %v)", want, encs)
		}
	}
	if LibraryVersions()["libavcodec"] == "" {
		t.Fatal("no libavcodec version")
	}
}
