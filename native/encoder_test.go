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

// encoded is a copied packet.
type encoded struct {
	data     []byte
	key      bool
	pts, dur time.Duration
	// during is the frame whose Encode call emitted the packet; -1 for
	// packets that came out of Flush.
	during int
}

// encodeN encodes frames first..first+n-1 of pat and returns the packets.
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
			out = append(out, encoded{bytes.Clone(p.Data), p.KeyFrame, p.PTS, p.Duration, i})
			return nil
		}); err != nil {
			t.Fatalf("encode frame %d: %v", i, err)
		}
	}
	return out
}

// flushAll drains e and returns the packets it still held.
func flushAll(t testing.TB, e *Encoder) []encoded {
	t.Helper()
	var out []encoded
	if err := e.Flush(func(p Packet) error {
		out = append(out, encoded{bytes.Clone(p.Data), p.KeyFrame, p.PTS, p.Duration, -1})
		return nil
	}); err != nil {
		t.Fatalf("flush: %v", err)
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

func totalSize(units []encoded) int {
	n := 0
	for _, u := range units {
		n += len(u.data)
	}
	return n
}

// TestX264PSNR720p keeps the figure docs/development.md quotes: 90 frames of the
// textured pattern at 1280x720 and the default 2 Mb/s decode to at least
// 30 dB (about 39 dB worst, 44 dB mean). TestConformance checks every
// backend at 640x360.
func TestX264PSNR720p(t *testing.T) {
	checkPSNR(t, Options{Width: 1280, Height: 720}, 90)
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
		{"codec", Options{Codec: "mpeg2video", Width: 64, Height: 64}, `codec "mpeg2video" is not supported (want one of h264_nvenc, h264_qsv, h264_vaapi, libx264, libvpx)`},
		{"vaapi device", Options{Codec: CodecVAAPI, Width: 64, Height: 64, VAAPIDevice: "renderD128"}, `VAAPI device "renderD128" must be the absolute path`},
		{"vp8 preset", Options{Codec: CodecVP8, Width: 64, Height: 64, Preset: "warp"}, `preset "warp"`},
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

// TestEncodeRejectsMismatchedFrame: a frame of another size is refused,
// in either format, and still goes back to its pool; a frame of the other
// planar format is converted, not refused (convert_test.go).
func TestEncodeRejectsMismatchedFrame(t *testing.T) {
	for _, format := range []PixelFormat{PixelFormatYUV420P, PixelFormatNV12} {
		e, _ := newTestEncoder(t, Options{Width: 64, Height: 64})
		other, err := NewFramePool(128, 64, format, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		f, err := other.Get()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Encode(f, func(Packet) error { return nil }); !errors.Is(err, ErrFrameMismatch) || !strings.Contains(err.Error(), "frame 128x64, encoder 64x64") {
			t.Fatalf("Encode(128x64 %s into 64x64) = %v, want ErrFrameMismatch naming both sizes", format, err)
		}
		if f.Plane(0) != nil {
			t.Fatal("Encode did not release the mismatched frame")
		}
		// The frame went back to its pool: the one-frame pool hands it out again.
		if f2, err := other.Get(); err != nil {
			t.Fatalf("frame not returned to its pool: %v", err)
		} else {
			f2.Release()
		}
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
	for _, want := range []string{CodecX264, CodecVP8, CodecVAAPI, CodecQSV, CodecNVENC} {
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
