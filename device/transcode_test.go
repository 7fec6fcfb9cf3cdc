package device

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// joinCodecs joins the rig's device as a viewer that takes codecs.
func (r *rig) joinCodecs(t *testing.T, viewer string, codecs ...media.Codec) *Viewer {
	t.Helper()
	f, err := r.reg.Join(context.Background(), JoinRequest{DeviceID: r.serial, ViewerID: viewer, Codecs: codecs})
	if err != nil {
		t.Fatalf("join %s: %v", viewer, err)
	}
	return f
}

// decodeAll decodes samples with the named decoder and returns the
// pictures' sizes.
func decodeAll(t *testing.T, decoder string, samples [][]byte) []media.Size {
	t.Helper()
	dec, err := native.NewDecoder(decoder)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var sizes []media.Size
	for i, s := range samples {
		if err := dec.Decode(s, func(p *native.Picture) error {
			sizes = append(sizes, media.Size{Width: p.Width, Height: p.Height})
			return nil
		}); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
	}
	return sizes
}

// TestTranscodeScreenrecord: the original design's production settings
// (screenrecord, VIDEO_ENCODER_TYPE=h264, the worker pool or not): the
// device's H.264 is decoded here and encoded by this service; a keyframe
// request and a rate change act on the encoder at once, with no
// screenrecord restart.
func TestTranscodeScreenrecord(t *testing.T) {
	needFFmpeg(t)
	for _, pool := range []bool{false, true} {
		t.Run(fmt.Sprintf("pool=%v", pool), func(t *testing.T) {
			r := newRig(t, Config{
				Mode: media.CaptureScreenrecord, Kind: media.KindH264, WorkerPool: pool, Workers: 2,
				Encoder: native.Options{FrameRate: 15, BitRate: 1_000_000, Preset: "ultrafast"}, BitRateInterval: time.Millisecond,
			})
			f := r.joinCodecs(t, "a", media.H264)
			defer f.Close()
			var rec recorder
			if err := f.Start(&rec); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "transcoded frames", testutil.Generous, func() bool { return len(rec.all()) >= 10 })
			sizes := decodeAll(t, native.DecoderH264, rec.all())
			if len(sizes) < 10 || sizes[0] != (media.Size{Width: 240, Height: 320}) {
				t.Fatalf("decoded %d pictures, first %v", len(sizes), sizes)
			}
			d := f.d
			want := native.CodecX264
			if pool {
				want = "pool:" + native.CodecX264
			}
			st := d.Stats()
			if st.Encoder != want || st.Pipeline == nil || len(st.Outputs) != 1 || st.Outputs[0].Encoder != want {
				t.Fatalf("stats %+v", st)
			}
			restarts, forced := st.CaptureRestarts, st.KeyFramesForced
			f.RequestKeyFrame()
			testutil.Eventually(t, "a forced keyframe", testutil.Generous, func() bool { return d.Stats().KeyFramesForced > forced })
			f.SetEstimate(600_000)
			testutil.Eventually(t, "the estimate as the encoder's rate", testutil.Generous, func() bool { return d.Stats().TargetBitRate == 600_000 })
			if got := d.Stats().CaptureRestarts; got != restarts {
				t.Fatalf("screenrecord restarted %d times for a keyframe request with re-encoding", got-restarts)
			}
		})
	}
}

// TestAutoServesVP8BesideH264: in screenrecord mode with
// VIDEO_ENCODER_TYPE=auto, an H.264 viewer gets the device's own stream
// and a VP8-only viewer a VP8 encoding of it; the VP8 output stops after
// its last viewer.
func TestAutoServesVP8BesideH264(t *testing.T) {
	needFFmpeg(t)
	r := newRig(t, Config{Mode: media.CaptureScreenrecord, Kind: media.KindAuto,
		Encoder: native.Options{FrameRate: 15, BitRate: 500_000}})
	h := r.joinCodecs(t, "h264-viewer", media.H264, media.VP8)
	defer h.Close()
	v := r.joinCodecs(t, "vp8-viewer", media.VP8)
	var hr, vr recorder
	if err := h.Start(&hr); err != nil {
		t.Fatal(err)
	}
	if err := v.Start(&vr); err != nil {
		t.Fatal(err)
	}
	if h.Format().Codec != media.H264 || v.Format().Codec != media.VP8 {
		t.Fatalf("formats %v and %v", h.Format(), v.Format())
	}
	testutil.Eventually(t, "frames for both", testutil.Generous, func() bool { return len(hr.all()) >= 5 && len(vr.all()) >= 5 })
	if sizes := decodeAll(t, native.DecoderVP8, vr.all()); len(sizes) < 5 || sizes[0] != (media.Size{Width: 240, Height: 320}) {
		t.Fatalf("VP8 pictures %v", sizes)
	}
	d := h.d
	var encoders []string
	for _, o := range d.Stats().Outputs {
		encoders = append(encoders, o.Codec+":"+o.Encoder)
	}
	if !slices.Equal(encoders, []string{"h264:passthrough", "vp8:libvpx"}) {
		t.Fatalf("outputs %v", encoders)
	}
	if s := v.Stats(); s.Codec != "vp8" || s.Sent == 0 {
		t.Fatalf("VP8 viewer stats %+v", s)
	}
	v.Close()
	testutil.Eventually(t, "the VP8 output to stop", testutil.Generous, func() bool { return len(d.Stats().Outputs) == 1 })
}

// TestViewerMovesBetweenRungs: a viewer whose estimate stays low moves to
// the half-size rung at its keyframe, on the same track (the pictures
// decode in one stream, full size then half), and back up when the
// estimate recovers.
func TestViewerMovesBetweenRungs(t *testing.T) {
	needFFmpeg(t)
	r := newRig(t, Config{Mode: media.CaptureRawFrames, Kind: media.KindH264,
		Encoder: native.Options{FrameRate: 15, BitRate: 1_000_000, Preset: "ultrafast"},
		Rungs:   fanout.Rungs([]float64{1, 0.5}, 150_000, 8_000_000)})
	f := r.joinCodecs(t, "a", media.H264)
	defer f.Close()
	var rec recorder
	if err := f.Start(&rec); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "frames", testutil.Generous, func() bool { return len(rec.all()) >= 3 })
	estimate := func(bps int, until func() bool) {
		t.Helper()
		testutil.Eventually(t, fmt.Sprintf("a move at %d b/s", bps), testutil.Generous, func() bool {
			f.SetEstimate(bps)
			time.Sleep(50 * time.Millisecond)
			return until()
		})
	}
	estimate(300_000, func() bool { return f.Stats().Rung == 1 })
	n := len(rec.all())
	testutil.Eventually(t, "frames on rung 1", testutil.Generous, func() bool { return len(rec.all()) > n+3 })
	sizes := decodeAll(t, native.DecoderH264, rec.all())
	full, half := media.Size{Width: 240, Height: 320}, media.Size{Width: 120, Height: 160}
	if sizes[0] != full || sizes[len(sizes)-1] != half {
		t.Fatalf("pictures from %v to %v, want %v to %v", sizes[0], sizes[len(sizes)-1], full, half)
	}
	d := f.d
	if outs := d.Stats().Outputs; len(outs) != 2 || outs[1].Rung != 1 || outs[1].Width != 120 || outs[1].Viewers != 1 || outs[0].Viewers != 0 {
		t.Fatalf("outputs %+v", outs)
	}
	estimate(5_000_000, func() bool { return f.Stats().Rung == 0 })
	testutil.Eventually(t, "the rung-1 output to stop", testutil.Generous, func() bool { return len(d.Stats().Outputs) == 1 })
	if s := f.Stats(); s.Switches != 2 {
		t.Fatalf("stats %+v, want two switches", s)
	}
}
