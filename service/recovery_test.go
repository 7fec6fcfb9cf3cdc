package service

import (
	"net/http"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
)

// recoveryRig is the service over one animated simulated device, kept
// connected through ADB_DEVICES, with one viewer watching it.
type recoveryRig struct {
	adb  *adbtest.Server
	sim  *devicesim.Device
	addr string
	svc  *running
	v    *viewer
}

var simOptions = devicesim.Options{Width: 240, Height: 320, FPS: 15}

func newRecoveryRig(tb testing.TB, vars map[string]string) *recoveryRig {
	tb.Helper()
	srv := adbtest.Start(tb)
	sim := simtest.Device(tb, srv, simOptions)
	env := map[string]string{"ADB_DEVICES": sim.Addr()}
	for k, v := range vars {
		env[k] = v
	}
	r := &recoveryRig{adb: srv, sim: sim, addr: sim.Addr()}
	r.svc = runService(tb, srv.Addr(), env, nil)
	r.v = watch(tb, r.svc, r.addr)
	return r
}

// vanish closes the device, waits out the outage and starts a new device
// on the same address (the same serial), as a restarted Redroid container
// does. It returns when the device was back.
func (r *recoveryRig) vanish(tb testing.TB, outage time.Duration) time.Time {
	tb.Helper()
	r.sim.Close()
	time.Sleep(outage)
	o := simOptions
	o.Addr = r.addr
	sim, err := devicesim.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	sim.Start()
	tb.Cleanup(func() { sim.Close() })
	r.sim = sim
	return time.Now()
}

// restartADB stops the adb server, waits out the outage and starts a new
// one on the same port, which knows no device until the service connects
// it again. It returns when the new server listened.
func (r *recoveryRig) restartADB(tb testing.TB, outage time.Duration) time.Time {
	tb.Helper()
	return r.adb.Restart(tb, outage)
}

// resumed waits for the viewer's first packet after back, on the same
// session, and returns how long after back it came.
func (r *recoveryRig) resumed(tb testing.TB, back time.Time) time.Duration {
	tb.Helper()
	var first time.Time
	testutil.Eventually(tb, "packets on the same session after the device came back", 2*testutil.Generous, func() bool {
		var ok bool
		first, ok = r.v.FirstAfter(back)
		return ok
	})
	if code, body := r.svc.call(tb, "GET", "/api/media/sessions/"+r.v.session, ""); code != http.StatusOK {
		tb.Fatalf("the session is gone after the device came back: %d %s", code, body)
	}
	return first.Sub(back)
}

// TestDeviceReturnResumesSession: a device that vanishes and returns on
// the same address, and an adb server that restarts, are followed by
// packets on the viewer's same session, in each capture path (the
// screenrecord supervisor, screencap's own loop).
func TestDeviceReturnResumesSession(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vars   map[string]string
		outage func(*recoveryRig, testing.TB, time.Duration) time.Time
	}{
		{"screenrecord/vanish", nil, (*recoveryRig).vanish},
		{"screenrecord/adb-restart", nil, (*recoveryRig).restartADB},
		{"screencap/vanish", map[string]string{"CAPTURE_MODE": "screencap", "VIDEO_FRAMERATE": "10"}, (*recoveryRig).vanish},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.Deadline(t, 3*time.Minute)
			r := newRecoveryRig(t, tc.vars)
			back := tc.outage(r, t, 3*time.Second) // long enough for the capture's back-off to grow
			gap := r.resumed(t, back)
			t.Logf("first packet %v after the device was back", gap.Round(time.Millisecond))
			n := r.v.count()
			testutil.Eventually(t, "packets keep coming", testutil.Generous, func() bool { return r.v.count() >= n+20 })
		})
	}
}

// BenchmarkDeviceReturn reports how long after a device comes back its
// viewer gets packets again on the same session (ms/return), after an
// outage long enough for every retry back-off to reach its longest
// delay: the device vanishing and returning on the same address, and
// the adb server restarting.
func BenchmarkDeviceReturn(b *testing.B) {
	for _, bc := range []struct {
		name   string
		outage func(*recoveryRig, testing.TB, time.Duration) time.Time
	}{
		{"vanish", (*recoveryRig).vanish},
		{"adb-restart", (*recoveryRig).restartADB},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := newRecoveryRig(b, nil)
			var total, worst time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				back := bc.outage(r, b, 8*time.Second)
				gap := r.resumed(b, back)
				total += gap
				worst = max(worst, gap)
				b.Logf("return %d: first packet %v after the device was back", i+1, gap.Round(time.Millisecond))
			}
			b.StopTimer()
			b.ReportMetric(float64(total)/float64(b.N)/float64(time.Millisecond), "ms/return")
			b.ReportMetric(float64(worst)/float64(time.Millisecond), "worst-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
