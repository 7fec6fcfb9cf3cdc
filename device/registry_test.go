package device

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

func TestMain(m *testing.M) {
	native.SetLogger(slog.New(slog.DiscardHandler)) // devicesim's encoders
	goleak.VerifyTestMain(m)
}

// sink is a viewer's sample writer that counts what it gets.
type sink struct {
	mu      sync.Mutex
	samples int
}

func (s *sink) WriteSample(smp fanout.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples++
	return nil
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// rig is a registry over one simulated device behind a private adb server.
type rig struct {
	reg    *Registry
	sim    *devicesim.Device
	serial string
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	return newRigWith(t, cfg, devicesim.Options{Width: 240, Height: 320, FPS: 15})
}

// newRigWith is newRig over a device with options o.
func newRigWith(t testing.TB, cfg Config, o devicesim.Options) *rig {
	t.Helper()
	testutil.Deadline(t, 3*time.Minute)
	srv := adbtest.Start(t)
	sim := simtest.Device(t, srv, o)
	client, err := adb.NewClient(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ADB = client
	if cfg.Mode == "" {
		cfg.Mode = media.CaptureScreenrecord
	}
	cfg.Log = slog.New(slog.DiscardHandler)
	r := &rig{reg: NewRegistry(cfg), sim: sim, serial: sim.Addr()}
	t.Cleanup(func() { r.reg.Close() })
	return r
}

func (r *rig) join(t testing.TB, ctx context.Context, viewer string) *Viewer {
	t.Helper()
	f, err := r.reg.Join(ctx, JoinRequest{DeviceID: r.serial, ViewerID: viewer, Codecs: []media.Codec{media.H264, media.VP8}})
	if err != nil {
		t.Fatalf("join %s: %v", viewer, err)
	}
	return f
}

func TestRegistrySharesOneDeviceAndLingers(t *testing.T) {
	r := newRig(t, Config{Linger: time.Hour})
	ctx := context.Background()
	a, b := r.join(t, ctx, "a"), r.join(t, ctx, "b")
	if fa, fb := a, b; fa.d != fb.d || fa.o != fb.o {
		t.Fatal("two viewers of one device got two owners")
	}
	f := a.Format()
	if f.Codec != media.H264 || len(f.ProfileLevelID) != 6 {
		t.Fatalf("format %+v: the device's SPS should have been read", f)
	}
	var sa, sb sink
	if err := a.Start(&sa); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(&sb); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "frames for both viewers", 30*time.Second, func() bool { return sa.count() > 5 && sb.count() > 5 })
	st := r.reg.Stats()
	if len(st) != 1 || st[0].Serial != r.serial || st[0].Encoder != media.PassthroughEncoder || st[0].Units == 0 || st[0].Width != 240 {
		t.Fatalf("stats %+v", st)
	}
	if d, ok := r.reg.Device(r.serial); !ok || d.Viewers() != 2 {
		t.Fatal("registry does not show the device with two viewers")
	}
	a.Close()
	a.Close() // idempotent
	b.Close()
	// Within the linger the device stays, and a new viewer joins it.
	c := r.join(t, ctx, "c")
	if c.d != a.d {
		t.Fatal("a viewer within the linger got a new owner")
	}
	c.Close()
	if _, err := r.reg.Join(ctx, JoinRequest{DeviceID: "127.0.0.1:1", ViewerID: "x", Codecs: []media.Codec{media.H264}}); !errors.Is(err, media.ErrUnknownDevice) {
		t.Errorf("unknown device: %v", err)
	}
	r.reg.Close()
	if _, err := r.reg.Join(ctx, JoinRequest{DeviceID: r.serial, ViewerID: "y", Codecs: []media.Codec{media.H264}}); !errors.Is(err, media.ErrClosed) {
		t.Errorf("join after close: %v", err)
	}
}

func TestRegistryStopsAfterLingerAndRestarts(t *testing.T) {
	r := newRig(t, Config{Linger: 10 * time.Millisecond})
	var first *Device
	for i := range 2 {
		f := r.join(t, context.Background(), "v")
		d := f.d
		if i == 1 && d == first {
			t.Fatal("the device was not restarted after its linger")
		}
		first = d
		f.Close()
		testutil.Eventually(t, "the stop after the linger", 30*time.Second, func() bool { _, ok := r.reg.Device(r.serial); return !ok })
	}
}

// TestFirstViewerLeavingFailsNoOne: the device starts under the
// registry's context, so when the viewer whose request started it goes
// away, a second viewer waiting for the same device still gets it.
func TestFirstViewerLeavingFailsNoOne(t *testing.T) {
	r := newRig(t, Config{})
	ctx1, cancel1 := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		f, err := r.reg.Join(ctx1, JoinRequest{DeviceID: r.serial, ViewerID: "first", Codecs: []media.Codec{media.H264}})
		if err == nil {
			f.Close()
		}
		first <- err
	}()
	testutil.Eventually(t, "the first viewer's start", 10*time.Second, func() bool {
		r.reg.mu.Lock()
		defer r.reg.mu.Unlock()
		return r.reg.entries[r.serial] != nil
	})
	second := make(chan error, 1)
	var f2 *Viewer
	go func() {
		var err error
		f2, err = r.reg.Join(context.Background(), JoinRequest{DeviceID: r.serial, ViewerID: "second", Codecs: []media.Codec{media.H264}})
		second <- err
	}()
	testutil.Eventually(t, "the second viewer waiting", 10*time.Second, func() bool {
		r.reg.mu.Lock()
		defer r.reg.mu.Unlock()
		e := r.reg.entries[r.serial]
		return e != nil && e.refs == 2
	})
	cancel1()
	if err := <-second; err != nil {
		t.Fatalf("the second viewer failed when the first left: %v", err)
	}
	defer f2.Close()
	if err := <-first; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("first viewer: %v", err)
	}
	var s sink
	if err := f2.Start(&s); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "frames for the second viewer", 30*time.Second, func() bool { return s.count() > 0 })
}

// TestCodecRefusedBeforeStart: an offer that cannot take the configured
// codec (VP8 with VIDEO_ENCODER_TYPE=passthrough, H.264 with vp8) is
// refused without touching the device.
func TestCodecRefusedBeforeStart(t *testing.T) {
	addr, conns := adbtest.Sentinel(t)
	client, err := adb.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(Config{ADB: client, Mode: media.CaptureScreenrecord, Kind: media.KindPassthrough, Log: slog.New(slog.DiscardHandler)})
	defer reg.Close()
	_, err = reg.Join(context.Background(), JoinRequest{DeviceID: "dev1", ViewerID: "v", Codecs: []media.Codec{media.VP8}})
	if !errors.Is(err, media.ErrCodecUnsupported) || !strings.Contains(err.Error(), "passthrough") {
		t.Fatalf("VP8-only viewer of a pass-through device: %v", err)
	}
	vp8 := NewRegistry(Config{ADB: client, Mode: media.CaptureRawFrames, Kind: media.KindVP8, Log: slog.New(slog.DiscardHandler)})
	defer vp8.Close()
	if _, err := vp8.Join(context.Background(), JoinRequest{DeviceID: "dev1", ViewerID: "v", Codecs: []media.Codec{media.H264}}); !errors.Is(err, media.ErrCodecUnsupported) {
		t.Fatalf("H.264-only viewer of a VP8 device: %v", err)
	}
	if _, err := reg.Join(context.Background(), JoinRequest{DeviceID: "a;reboot", ViewerID: "v", Codecs: []media.Codec{media.H264}}); !errors.Is(err, media.ErrInvalidDeviceID) {
		t.Fatalf("hostile device ID: %v", err)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the adb server", n)
	}
}

// TestEncodedOutputControls: raw frames encoded here, on the device's own
// pipeline and on the worker pool. Keyframe requests reach the encoder
// after merging; the lowest bandwidth estimate of the viewers sets the
// encoder's rate; input takes control for one viewer at a time.
func TestEncodedOutputControls(t *testing.T) {
	for _, pool := range []bool{false, true} {
		name := "pipeline"
		if pool {
			name = "pool"
		}
		t.Run(name, func(t *testing.T) {
			r := newRig(t, Config{
				Mode: media.CaptureRawFrames, Kind: media.KindH264, WorkerPool: pool, Workers: 2,
				Encoder: native.Options{FrameRate: 15, BitRate: 1_000_000, Preset: "ultrafast"}, BitRateInterval: time.Millisecond,
			})
			ctx := context.Background()
			a, b := r.join(t, ctx, "a"), r.join(t, ctx, "b")
			defer a.Close()
			defer b.Close()
			var s sink
			if err := a.Start(&s); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "encoded frames", 30*time.Second, func() bool { return s.count() > 5 })
			d := a.d
			wantEnc := "libx264"
			if pool {
				wantEnc = "pool:libx264"
				if r.reg.WorkerPoolStats() == nil {
					t.Fatal("no worker pool statistics")
				}
			}
			if d.EncoderName() != wantEnc {
				t.Fatalf("encoder %q, want %q", d.EncoderName(), wantEnc)
			}
			before := d.Stats().KeyFramesForced
			for range 20 {
				a.RequestKeyFrame()
				b.RequestKeyFrame()
			}
			testutil.Eventually(t, "a forced keyframe", 30*time.Second, func() bool { return d.Stats().KeyFramesForced > before })
			if st := d.Stats(); st.KeyFramesForced-before > 2 {
				t.Fatalf("40 requests forced %d keyframes; they should merge", st.KeyFramesForced-before)
			}
			a.SetEstimate(3_000_000)
			time.Sleep(5 * time.Millisecond)
			b.SetEstimate(600_000)
			testutil.Eventually(t, "the lowest estimate as the encoder's rate", 10*time.Second, func() bool { return d.Stats().TargetBitRate == 600_000 })

			msg := media.Input{Type: media.InputTap, X: 0.5, Y: 0.5}
			if err := a.Input(ctx, msg); err != nil {
				t.Fatal(err)
			}
			if !a.Controller() {
				t.Fatal("input did not take control")
			}
			if err := b.Input(ctx, msg); !errors.Is(err, media.ErrNotController) {
				t.Fatalf("input from a viewer without control: %v", err)
			}
			if prev := b.TakeControl(); prev != "a" || !b.Controller() || a.Controller() {
				t.Fatalf("take control: previous %q", prev)
			}
			testutil.Eventually(t, "the tap on the device", 10*time.Second, func() bool { return len(r.sim.Events()) > 0 })
			if ev := r.sim.Events()[0]; !tapAt(ev, 120, 160) {
				t.Fatalf("tap landed as %+v, want (120, 160)", ev)
			}
		})
	}
}
