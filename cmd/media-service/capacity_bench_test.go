package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/testutil"
)

// measure runs for d and returns the cores the service used and each
// viewer's frames per second.
func measure(tb testing.TB, cmd *exec.Cmd, viewers []*lightViewer, d time.Duration) (cores float64, fps []float64) {
	tb.Helper()
	c0 := testutil.ProcessCPU(tb, cmd.Process.Pid)
	f0 := make([]int64, len(viewers))
	for i, v := range viewers {
		f0[i] = v.Frames()
	}
	t0 := time.Now()
	time.Sleep(d)
	el := time.Since(t0).Seconds()
	cores = (testutil.ProcessCPU(tb, cmd.Process.Pid) - c0) / el
	for i, v := range viewers {
		fps = append(fps, float64(v.Frames()-f0[i])/el)
	}
	slices.Sort(fps)
	return cores, fps
}

// BenchmarkCapacity measures what one core of service CPU carries, side
// by side in one run. The service runs as a child process (its CPU is
// read from /proc); the simulated devices and the Pion viewers run in the
// benchmark's process, so their cost is not counted. Each case streams
// for CAPACITY_SECONDS (default 10) after its viewers got their first
// frames, and reports the service's cores, the viewers' frame rate
// (lowest and median) and the work per core.
//
//   - viewers: N viewers of one pass-through device (360x640, 30 fps);
//   - devices: N pass-through devices (360x640, 30 fps), one viewer each;
//   - encode: one 720p30 raw-frames device encoded here with libx264 at
//     the default preset (faster) and at ultrafast, one viewer.
func BenchmarkCapacity(b *testing.B) {
	seconds := 10
	if v := os.Getenv("CAPACITY_SECONDS"); v != "" {
		seconds, _ = strconv.Atoi(v)
	}
	d := time.Duration(seconds) * time.Second
	report := func(b *testing.B, cores float64, fps []float64, units float64, unit string) {
		b.ReportMetric(cores, "cores")
		b.ReportMetric(fps[0], "min-fps")
		b.ReportMetric(fps[len(fps)/2], "median-fps")
		if cores > 0 {
			b.ReportMetric(units/cores, unit+"/core")
		}
	}
	waitFrames := func(b *testing.B, viewers []*lightViewer) {
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			ok := true
			for _, v := range viewers {
				ok = ok && v.Frames() >= 3
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				b.Fatal("viewers without frames")
			}
		}
	}
	for _, n := range []int{50, 100, 200} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			base, sim, cmd, _ := childService(b, devicesim.Options{Width: 360, Height: 640, FPS: 30}, map[string]string{"LOG_LEVEL": "warn"})
			viewers := openViewers(b, base, sim.Addr(), n)
			waitFrames(b, viewers)
			cores, fps := measure(b, cmd, viewers, d)
			report(b, cores, fps, float64(n), "viewers")
		})
	}
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			base, sims, cmd, _ := childServiceDevices(b, n, devicesim.Options{Width: 360, Height: 640, FPS: 30}, map[string]string{"LOG_LEVEL": "warn"})
			var devs []string
			for _, sim := range sims {
				devs = append(devs, sim.Addr())
			}
			waitListed(b, base, devs)
			var viewers []*lightViewer
			for _, dev := range devs {
				viewers = append(viewers, openViewers(b, base, dev, 1)...)
			}
			waitFrames(b, viewers)
			cores, fps := measure(b, cmd, viewers, d)
			report(b, cores, fps, float64(n), "devices")
		})
	}
	for _, preset := range []string{"faster", "ultrafast"} {
		b.Run("encode-720p30-"+preset, func(b *testing.B) {
			base, sim, cmd, _ := childService(b, devicesim.Options{Width: 720, Height: 1280, FPS: 30}, map[string]string{
				"LOG_LEVEL": "warn", "CAPTURE_MODE": "raw-frames", "VIDEO_ENCODER_TYPE": "h264", "H264_PRESET": preset,
			})
			viewers := openViewers(b, base, sim.Addr(), 1)
			waitFrames(b, viewers)
			cores, fps := measure(b, cmd, viewers, d)
			report(b, cores, fps, 1, "streams")
		})
	}
}

// waitListed waits until the service lists every device in state
// "device".
func waitListed(tb testing.TB, base string, devs []string) {
	tb.Helper()
	var last string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest("GET", base+"/api/media/devices", nil)
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var body struct {
				Devices []struct{ Serial, State string }
			}
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %+v", resp.StatusCode, body.Devices)
			n := 0
			for _, d := range body.Devices {
				if d.State == "device" && slices.Contains(devs, d.Serial) {
					n++
				}
			}
			if n == len(devs) {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the service does not list all of %v: %s", devs, last)
		}
	}
}
