package main

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/chromium"
)

// BenchmarkGlassToGlass measures glass-to-glass latency: devicesim at
// 720x1280, 30 fps, stamps every frame with its capture time; the service
// streams it to the viewer page in headless Chromium, which reads the stamp
// at display time (see devicesim/stamp.go and api/web/index.html). Each
// sub-benchmark collects the page's samples for E2E_LATENCY_SECONDS
// (default 30) after a short warm-up and reports their p50, p95 and p99
// in ms and the sample count.
//
// It measures a fixed duration, not b.N iterations: the body runs once per
// call whatever b.N is, and since one call takes longer than the default
// -benchtime the framework makes only one. ns/op is meaningless here; read
// the p50-ms, p95-ms, p99-ms and samples metrics.
//
//	third_party/with-ffmpeg.sh go test -run '^$' -bench GlassToGlass ./cmd/media-service
func BenchmarkGlassToGlass(b *testing.B) {
	seconds := 30
	if v := os.Getenv("E2E_LATENCY_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("E2E_LATENCY_SECONDS=%q: want a whole number of seconds ≥ 1", v)
		}
		seconds = n
	}
	for _, c := range []struct {
		name  string
		extra map[string]string
	}{
		{"passthrough", nil}, // CAPTURE_MODE=screenrecord, the default
		{"libx264", map[string]string{"CAPTURE_MODE": "raw-frames", "VIDEO_ENCODER_TYPE": "h264"}},
		// The device's H.264 decoded here and re-encoded with libx264.
		{"transcode", map[string]string{"CAPTURE_MODE": "screenrecord", "VIDEO_ENCODER_TYPE": "h264"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			lat := collectLatency(b, c.extra, time.Duration(seconds)*time.Second)
			if len(lat) == 0 {
				b.Fatal("no latency samples")
			}
			sort.Float64s(lat)
			b.ReportMetric(percentile(lat, 50), "p50-ms")
			b.ReportMetric(percentile(lat, 95), "p95-ms")
			b.ReportMetric(percentile(lat, 99), "p99-ms")
			b.ReportMetric(float64(len(lat)), "samples")
		})
	}
}

// collectLatency runs the service and the viewer page, and returns the
// latency samples the page measured during d, after a warm-up.
func collectLatency(b *testing.B, extra map[string]string, d time.Duration) []float64 {
	b.Helper()
	vars := map[string]string{"LOG_LEVEL": "info"}
	for k, v := range extra {
		vars[k] = v
	}
	base, sim, _ := serviceWith(b, devicesim.Options{Width: 720, Height: 1280, FPS: 30}, vars)
	br := chromium.Launch(b)
	if err := br.Navigate(fmt.Sprintf("%s/?device=%s&token=%s", base, sim.Addr(), e2eToken)); err != nil {
		b.Fatal(err)
	}
	type state struct {
		Count     int       `json:"count"`
		Latencies []float64 `json:"latencies"`
	}
	read := func() (state, error) {
		var s state
		err := br.Eval(`window.viewer && viewer.latencies ? {count: viewer.latencyCount, latencies: viewer.latencies} : {count: 0, latencies: []}`, &s)
		return s, err
	}
	// Warm-up: the first samples, then 2 s for the stream to settle.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s, err := read()
		if err == nil && s.Count > 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("no latency samples on the page within 60 s (last error: %v)", err)
		}
	}
	time.Sleep(2 * time.Second)
	// The page keeps the last 600 samples: poll every second (30 fps: 30
	// new ones) and take what is new since the last poll.
	prev, err := read()
	if err != nil {
		b.Fatal(err)
	}
	var out []float64
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(min(time.Second, time.Until(end)))
		s, err := read()
		if err != nil {
			b.Fatal(err)
		}
		n := min(s.Count-prev.Count, len(s.Latencies))
		if s.Count-prev.Count > len(s.Latencies) {
			b.Logf("%d samples lost between polls", s.Count-prev.Count-len(s.Latencies))
		}
		out = append(out, s.Latencies[len(s.Latencies)-n:]...)
		prev = s
	}
	return out
}

// percentile returns the p-th percentile of sorted v (nearest rank).
func percentile(sorted []float64, p float64) float64 {
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}
