package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
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
// Besides, it reports where the time goes. Stage metrics (p50 and p95, in
// ms, over the same window) come from the service's /metrics: the
// service's stages (media_service_stage_latency_seconds: capture, encode,
// queue, send) and the viewer's (media_service_viewer_stage_latency_seconds:
// viewer_network, viewer_jitter, viewer_decode, viewer_render). From the
// page's own samples, where Chromium gives a frame's receiveTime:
// arrival-* is the device's stamp to the frame's last packet received
// (the device, adb, the service and the network) and browser-* the rest
// (jitter buffer, decode, render), per frame. callback-* is the latency
// as the page measured it before it took the frame's presentationTime:
// to when its requestVideoFrameCallback ran, the page's main-thread wait
// included.
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
			run := collectLatency(b, c.extra, time.Duration(seconds)*time.Second)
			lat := run.e2e
			if len(lat) == 0 {
				b.Fatal("no latency samples")
			}
			sort.Float64s(lat)
			b.ReportMetric(percentile(lat, 50), "p50-ms")
			b.ReportMetric(percentile(lat, 95), "p95-ms")
			b.ReportMetric(percentile(lat, 99), "p99-ms")
			b.ReportMetric(float64(len(lat)), "samples")
			for _, split := range []struct {
				name string
				v    []float64
			}{{"arrival", run.arrival}, {"browser", run.browser}, {"callback", run.callback}} {
				if len(split.v) == 0 {
					continue
				}
				sort.Float64s(split.v)
				b.ReportMetric(percentile(split.v, 50), split.name+"-p50-ms")
				b.ReportMetric(percentile(split.v, 95), split.name+"-p95-ms")
				b.ReportMetric(percentile(split.v, 99), split.name+"-p99-ms")
			}
			for _, st := range run.stages {
				b.ReportMetric(st.p50, st.name+"-p50-ms")
				b.ReportMetric(st.p95, st.name+"-p95-ms")
			}
		})
	}
}

// latencyRun is what one run measured: the page's glass-to-glass samples
// in ms; for those with a receive time, their split at the frame's
// arrival; and the stages' quantiles over the same window.
type latencyRun struct {
	e2e, arrival, browser, callback []float64
	stages                          []stageQuantiles
}

// stageQuantiles are one stage's p50 and p95 in ms.
type stageQuantiles struct {
	name     string
	p50, p95 float64
}

// collectLatency runs the service and the viewer page, and returns the
// latency samples the page measured during d, after a warm-up, with the
// stages' quantiles over the same time.
func collectLatency(b *testing.B, extra map[string]string, d time.Duration) latencyRun {
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
		Count     int        `json:"count"`
		Latencies []float64  `json:"latencies"`
		Arrivals  []*float64 `json:"arrivals"`
		Lags      []float64  `json:"lags"`
	}
	read := func() (state, error) {
		var s state
		err := br.Eval(`window.viewer && viewer.latencies ? {count: viewer.latencyCount, latencies: viewer.latencies, arrivals: viewer.arrivals || [], lags: viewer.callbackLags || []} : {count: 0, latencies: [], arrivals: [], lags: []}`, &s)
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
	before := scrapeStages(b, base)
	var run latencyRun
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
		run.e2e = append(run.e2e, s.Latencies[len(s.Latencies)-n:]...)
		if len(s.Arrivals) == len(s.Latencies) {
			for i := len(s.Latencies) - n; i < len(s.Latencies); i++ {
				if a := s.Arrivals[i]; a != nil {
					run.arrival = append(run.arrival, *a)
					run.browser = append(run.browser, s.Latencies[i]-*a)
				}
			}
		}
		if len(s.Lags) == len(s.Latencies) {
			for i := len(s.Latencies) - n; i < len(s.Latencies); i++ {
				run.callback = append(run.callback, s.Latencies[i]+s.Lags[i])
			}
		}
		prev = s
	}
	after := scrapeStages(b, base)
	for _, name := range stageOrder {
		h, ok := after[name]
		if !ok {
			continue
		}
		h = h.sub(before[name])
		if h.count() == 0 {
			continue
		}
		run.stages = append(run.stages, stageQuantiles{name: name, p50: h.quantile(0.5), p95: h.quantile(0.95)})
	}
	return run
}

// stageOrder lists the stages in a frame's order: the service's, then the
// viewer's.
var stageOrder = []string{"capture", "encode", "queue", "send", "viewer_network", "viewer_jitter", "viewer_decode", "viewer_render"}

// promHist is one histogram series read from /metrics: cumulative counts
// by upper bound (seconds), ascending.
type promHist struct {
	le  []float64
	cum []float64
}

func (h promHist) count() float64 {
	if len(h.cum) == 0 {
		return 0
	}
	return h.cum[len(h.cum)-1]
}

// sub returns h less an earlier reading of the same series.
func (h promHist) sub(earlier promHist) promHist {
	out := promHist{le: h.le, cum: slices.Clone(h.cum)}
	if len(earlier.cum) == len(h.cum) {
		for i := range out.cum {
			out.cum[i] -= earlier.cum[i]
		}
	}
	return out
}

// quantile is Prometheus' histogram_quantile, in ms.
func (h promHist) quantile(q float64) float64 {
	n := h.count()
	rank := q * n
	prevLE, prevCum := 0.0, 0.0
	for i, le := range h.le {
		if h.cum[i] >= rank {
			if math.IsInf(le, 1) {
				return prevLE * 1000
			}
			if h.cum[i] == prevCum {
				return le * 1000
			}
			return 1000 * (prevLE + (le-prevLE)*(rank-prevCum)/(h.cum[i]-prevCum))
		}
		prevLE, prevCum = le, h.cum[i]
	}
	return prevLE * 1000
}

// scrapeStages reads the stage histograms from the service's /metrics
// (one device: the series are summed over devices), by stage.
func scrapeStages(b *testing.B, base string) map[string]promHist {
	b.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	byStage := map[string]map[float64]float64{}
	for line := range strings.Lines(string(body)) {
		name, rest, ok := strings.Cut(line, "{")
		if !ok || (name != "media_service_stage_latency_seconds_bucket" && name != "media_service_viewer_stage_latency_seconds_bucket") {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		stage, le := "", math.NaN()
		for kv := range strings.SplitSeq(labels, ",") {
			k, val, _ := strings.Cut(kv, "=")
			val = strings.Trim(val, `"`)
			switch k {
			case "stage":
				stage = val
			case "le":
				le, _ = strconv.ParseFloat(val, 64) // "+Inf" parses
			}
		}
		if stage == "" || math.IsNaN(le) {
			continue
		}
		if byStage[stage] == nil {
			byStage[stage] = map[float64]float64{}
		}
		byStage[stage][le] += v
	}
	out := map[string]promHist{}
	for stage, m := range byStage {
		var h promHist
		h.le = slices.Sorted(maps.Keys(m))
		for _, le := range h.le {
			h.cum = append(h.cum, m[le])
		}
		out[stage] = h
	}
	return out
}

// percentile returns the p-th percentile of sorted v (nearest rank).
func percentile(sorted []float64, p float64) float64 {
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}
