package device

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// recorder is a viewer's sample writer that keeps what it gets.
type recorder struct {
	mu      sync.Mutex
	samples [][]byte
}

func (r *recorder) WriteSample(s fanout.Sample) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, bytes.Clone(s.Unit.Data))
	return nil
}

func (r *recorder) all() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.samples...)
}

// TestRotationMidStream: the device's screen turns a quarter while a
// viewer watches. Capture follows the new size, the encoder reopens at it
// (no renegotiation: the same feed goes on, from an IDR), and a tap lands
// on the rotated screen where the viewer touched the picture.
func TestRotationMidStream(t *testing.T) {
	needFFmpeg(t)
	for _, c := range []struct {
		mode media.CaptureMode
		pool bool
	}{{media.CaptureRawFrames, false}, {media.CaptureScreencap, false}, {media.CaptureRawFrames, true}} {
		t.Run(fmt.Sprintf("%s/pool=%v", c.mode, c.pool), func(t *testing.T) {
			r := newRig(t, Config{
				Mode: c.mode, Kind: media.KindH264, WorkerPool: c.pool, Workers: 1,
				Encoder: native.Options{FrameRate: 15, BitRate: 500_000, Preset: "ultrafast"},
			})
			ctx := context.Background()
			f := r.join(t, ctx, "a")
			defer f.Close()
			var rec recorder
			if err := f.Start(&rec); err != nil {
				t.Fatal(err)
			}
			d := f.d
			portrait, landscape := media.Size{Width: 240, Height: 320}, media.Size{Width: 320, Height: 240}
			testutil.Eventually(t, "portrait frames", testutil.Generous, func() bool { return len(rec.all()) > 3 && d.Size() == portrait })
			if err := r.sim.SetRotation(1); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "the stream at the rotated size", testutil.Generous, func() bool { return d.Size() == landscape })
			n := len(rec.all())
			testutil.Eventually(t, "frames after the rotation", testutil.Generous, func() bool { return len(rec.all()) > n+3 })
			// One decoder, one stream: portrait pictures, then landscape
			// ones, every sample decodable.
			sizes := decodeAll(t, native.DecoderH264, rec.all())
			if sizes[0] != portrait || sizes[len(sizes)-1] != landscape {
				t.Fatalf("decoded sizes from %v to %v, want %v to %v", sizes[0], sizes[len(sizes)-1], portrait, landscape)
			}
			if st := d.Stats(); st.Pipeline == nil || st.Pipeline.Reopened < 1 || st.Pipeline.EncoderSwitches != 0 {
				t.Fatalf("encoder stats %+v, want a reopen and no replacement", st.Pipeline)
			}
			// Input follows the new geometry: (0.5, 0.9) of a 320x240
			// picture.
			testutil.Eventually(t, "input geometry to follow", testutil.Generous, func() bool {
				g := d.geom.Load()
				return g.Rotation == 1
			})
			if err := f.Input(ctx, media.Input{Type: media.InputTap, X: 0.5, Y: 0.9}); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "the tap on the device", testutil.Generous, func() bool { return len(r.sim.Events()) > 0 })
			ev := r.sim.Events()[0]
			if !tapAt(ev, 160, 215) || !ev.OnScreen() {
				t.Fatalf("tap landed as %+v, want (160, 215) on the rotated screen", ev)
			}
		})
	}
}

// TestServicePathConvertsToEncoderFormat: capture fills YUV420P frames;
// an encoder limited to NV12 input (as QSV and VA-API are) gets them
// converted on the service's own path, and its output decodes.
func TestServicePathConvertsToEncoderFormat(t *testing.T) {
	needFFmpeg(t)
	r := newRig(t, Config{
		Mode: media.CaptureRawFrames, Kind: media.KindH264,
		Encoder: native.Options{FrameRate: 15, BitRate: 500_000, Preset: "ultrafast", InputFormats: []native.PixelFormat{native.PixelFormatNV12}},
	})
	f := r.join(t, context.Background(), "a")
	defer f.Close()
	var rec recorder
	if err := f.Start(&rec); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "encoded frames", testutil.Generous, func() bool { return len(rec.all()) >= 10 })
	sizes := decodeAll(t, native.DecoderH264, rec.all())
	if len(sizes) < 10 || sizes[0] != (media.Size{Width: 240, Height: 320}) {
		t.Fatalf("decoded %d pictures, first %v", len(sizes), sizes)
	}
	if st := f.d.Stats(); st.Pipeline == nil || st.Pipeline.EncodingErrors != 0 || st.Encoder != native.CodecX264 {
		t.Fatalf("stats %+v", st)
	}
}

func needFFmpeg(t *testing.T) {
	t.Helper()
	if !native.Available {
		t.Skip("built without cgo: no FFmpeg")
	}
}
