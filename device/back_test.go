package device

import (
	"context"
	"testing"

	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
)

// TestDeviceBack: DeviceBack reaches a running device's capture in every
// capture mode; a running capture is left alone (no restart), frames keep
// coming, and a device that does not run is not touched.
func TestDeviceBack(t *testing.T) {
	for _, mode := range []media.CaptureMode{media.CaptureScreenrecord, media.CaptureScreencap, media.CaptureRawFrames} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := Config{Mode: mode, Kind: media.KindPassthrough}
			if mode != media.CaptureScreenrecord {
				cfg.Kind = media.KindH264
			}
			r := newRig(t, cfg)
			if r.reg.DeviceBack(r.serial) {
				t.Fatal("DeviceBack found a device that does not run")
			}
			f := r.join(t, context.Background(), "a")
			defer f.Close()
			var s sink
			if err := f.Start(&s); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "frames", testutil.Generous, func() bool { return s.count() > 3 })
			d, _ := r.reg.Device(r.serial)
			restarts := d.Stats().CaptureRestarts
			for range 3 {
				if !r.reg.DeviceBack(r.serial) {
					t.Fatal("DeviceBack did not find the running device")
				}
			}
			n := s.count()
			testutil.Eventually(t, "frames after the kicks", testutil.Generous, func() bool { return s.count() > n+3 })
			if got := d.Stats().CaptureRestarts; got != restarts {
				t.Fatalf("kicks restarted a running capture: %d restarts, was %d", got, restarts)
			}
			if r.reg.DeviceBack("127.0.0.1:1") {
				t.Fatal("DeviceBack found an unknown device")
			}
		})
	}
}
