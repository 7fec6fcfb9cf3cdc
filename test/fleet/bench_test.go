package fleet

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/test/fleet/lab"
)

// BenchmarkFleet runs 100 concurrent pass-through sessions (360x640 at
// 30 fps) spread over a fleet of three instances and six devices, all
// opened through the proxy, for FLEET_BENCH_DURATION (10m by default;
// make bench-fleet). It reports each session's frame rate (the lowest
// and the median), the sessions and the CPU each instance served, and the
// time a session takes to play. The viewers (Pion peers), the simulated
// devices, the API server and the proxy share the machine with the
// instances: the CPU figures are the instances' own, from /proc.
func BenchmarkFleet(b *testing.B) {
	d := 10 * time.Minute
	if v := os.Getenv("FLEET_BENCH_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			b.Fatalf("FLEET_BENCH_DURATION=%q: %v", v, err)
		}
	}
	sessions := 100
	if v := os.Getenv("FLEET_BENCH_SESSIONS"); v != "" {
		sessions, _ = strconv.Atoi(v)
	}
	for range b.N {
		runFleetBench(b, sessions, d)
	}
}

func runFleetBench(b *testing.B, n int, d time.Duration) {
	l := startLab(b, lab.Config{Instances: 3, Devices: 6, DeviceFPS: 30, LeaseDuration: fleetLease,
		Env: append(slices.Clone(fleetEnv), "MAX_SESSIONS_PER_TOKEN=0", "MAX_VIEWERS_PER_DEVICE=1000", "RATE_LIMIT=1000")})
	ids := l.DeviceIDs()
	var all []*session
	var ready []time.Duration
	for i := range n {
		start := time.Now()
		s := mustOpen(b, l, l.ProxyURL(), ids[i%len(ids)])
		plays(b, s.id, s.viewer)
		ready = append(ready, time.Since(start))
		all = append(all, s)
	}
	perInstance := map[string]int{}
	for _, s := range all {
		perInstance[s.owner]++
	}
	time.Sleep(5 * time.Second) // settle
	cpu0 := map[string]float64{}
	for _, in := range l.Instances() {
		cpu0[in.Name()] = testutil.ProcessCPU(b, in.PID())
	}
	frames0 := make([]int64, len(all))
	for i, s := range all {
		frames0[i] = s.viewer.Frames()
	}
	start := time.Now()
	time.Sleep(d)
	elapsed := time.Since(start).Seconds()
	fps := make([]float64, len(all))
	for i, s := range all {
		fps[i] = float64(s.viewer.Frames()-frames0[i]) / elapsed
	}
	slices.Sort(fps)
	var cpu []string
	total := 0.0
	for _, in := range l.Instances() {
		c := (testutil.ProcessCPU(b, in.PID()) - cpu0[in.Name()]) / elapsed
		total += c
		cpu = append(cpu, fmt.Sprintf("%s %.2f cores, %d sessions", in.Name(), c, perInstance[in.Name()]))
	}
	slices.Sort(ready)
	b.Logf("%d sessions for %v: fps min %.1f, median %.1f, max %.1f; %s; session to first frames: median %v, max %v",
		len(all), d, fps[0], fps[len(fps)/2], fps[len(fps)-1], strings.Join(cpu, "; "),
		ready[len(ready)/2].Round(time.Millisecond), ready[len(ready)-1].Round(time.Millisecond))
	b.ReportMetric(fps[0], "min_fps")
	b.ReportMetric(fps[len(fps)/2], "median_fps")
	b.ReportMetric(total, "instance_cores")
	b.ReportMetric(float64(len(all)), "sessions")
}
