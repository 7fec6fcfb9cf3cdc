package device

import (
	"context"
	"testing"
	"time"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// TestSetLive: settings reloaded while a device runs apply to the outputs
// opened from then on, leave the running one as it was, and resize the
// worker pool at once.
func TestSetLive(t *testing.T) {
	scales := []float64{1, 0.5}
	r := newRig(t, Config{
		Mode: media.CaptureRawFrames, Kind: media.KindAuto, WorkerPool: true, Workers: 1,
		Encoder:    native.Options{FrameRate: 15, BitRate: 1_000_000, Preset: "ultrafast"},
		MinBitRate: 150_000, MaxBitRate: 8_000_000, Rungs: fanout.Rungs(scales, 150_000, 8_000_000),
	})
	ctx := context.Background()
	a := r.join(t, ctx, "a")
	defer a.Close()
	var sa sink
	if err := a.Start(&sa); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "encoded frames", 30*time.Second, func() bool { return sa.count() > 3 })
	d := a.d

	r.reg.SetLive(Config{
		Encoder:    native.Options{FrameRate: 10, BitRate: 500_000, Preset: "superfast"},
		MinBitRate: 200_000, MaxBitRate: 4_000_000, Rungs: fanout.Rungs(scales, 200_000, 4_000_000), Workers: 3,
	})
	if p := r.reg.pool.Load(); p == nil || p.pool.Workers() != 3 {
		t.Fatal("the worker pool was not resized to 3")
	}
	if c := d.cfg.current(); c.Encoder.FrameRate != 10 || c.Encoder.Preset != "superfast" || c.Encoder.BitRate != 500_000 || c.MaxBitRate != 4_000_000 {
		t.Fatalf("a running device does not see the live settings: %+v", c.Encoder)
	}
	// A VP8 viewer opens a new output: it takes the new bounds; the
	// running H.264 output keeps its own and keeps sending.
	v, err := r.reg.Join(ctx, JoinRequest{DeviceID: r.serial, ViewerID: "v", Codecs: []media.Codec{media.VP8}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var sv sink
	if err := v.Start(&sv); err != nil {
		t.Fatal(err)
	}
	before := sa.count()
	testutil.Eventually(t, "frames on both outputs", 30*time.Second, func() bool { return sv.count() > 3 && sa.count() > before+3 })
	outs := map[string]OutputStats{}
	for _, o := range d.Stats().Outputs {
		outs[o.Codec] = o
	}
	if o := outs["vp8"]; o.MaxBitRate != 4_000_000 || o.MinBitRate < 200_000 {
		t.Fatalf("new output's range %d..%d, want within 200000..4000000", o.MinBitRate, o.MaxBitRate)
	}
	if o := outs["h264"]; o.MaxBitRate != 8_000_000 {
		t.Fatalf("the running output's range changed to %d..%d", o.MinBitRate, o.MaxBitRate)
	}
	// The VP8 output stops after its viewer: the device's stage counts
	// keep what it recorded (metrics never go down).
	before2 := d.stages()
	v.Close()
	testutil.Eventually(t, "the VP8 output stopped", 30*time.Second, func() bool { return len(d.Stats().Outputs) == 1 })
	after := d.stages()
	for name, pair := range map[string][2]media.StageSnapshot{"encode": {before2.Encode, after.Encode},
		"queue": {before2.Queue, after.Queue}, "send": {before2.Send, after.Send}} {
		if pair[0].Count() == 0 || pair[1].Count() < pair[0].Count() {
			t.Errorf("%s stage count %d before the output stopped, %d after", name, pair[0].Count(), pair[1].Count())
		}
	}
	// A rung count that differs from VIDEO_RUNGS's is ignored.
	r.reg.SetLive(Config{Encoder: native.Options{FrameRate: 10}, Rungs: fanout.Rungs([]float64{1}, 1, 2), Workers: 2})
	if got := len(d.rungs()); got != 2 {
		t.Fatalf("%d rungs after a SetLive with one", got)
	}
	if p := r.reg.pool.Load(); p.pool.Workers() != 2 {
		t.Fatalf("%d workers, want 2", p.pool.Workers())
	}
}
