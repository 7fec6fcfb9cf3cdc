package metrics

import (
	"context"
	"encoding/json"
	"github.com/cloudphone/media-service/fanout"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/rtc"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCollectorSeries(t *testing.T) {
	snap := &encoder.Snapshot{EncodingErrors: 2, EncodingTimeouts: 1, EncoderSwitches: 3,
		Replacements: map[string]int64{"timeout": 1, "error": 2}, Reopened: 1, Restarts: 1, ProcessStalls: 2,
		Dropped:        map[string]int64{"stale": 5, "write_timeout": 1, "no_encoder": 4},
		LatencyBuckets: []int64{3, 1, 0, 0, 0, 0, 0, 0, 1}, LatencySum: 600 * time.Millisecond}
	c := NewCollector(Sources{
		Streams: func() []device.Stats {
			return []device.Stats{{Serial: "dev1", Encoder: "libx264", FPS: 29.5, BitRateBytes: 250000, Units: 100, CaptureErrors: 4, Pipeline: snap,
				Stages: device.StageStats{ViewerDrops: 7}}}
		},
		Broadcasters: func() []fanout.Stats {
			return []fanout.Stats{{DeviceID: "dev1", Viewers: 3}}
		},
		Sessions: func() []rtc.SessionInfo {
			return []rtc.SessionInfo{{ID: "s1", UserID: "alice", DeviceID: "dev1", Stats: rtc.SessionStats{BytesSent: 10, PacketsSent: 2, NACKs: 1, PLIs: 1}},
				{ID: "s2", UserID: "bob", DeviceID: "dev1", Stats: rtc.SessionStats{BytesSent: 5, PacketsSent: 1, FIRs: 1}}}
		},
		Totals: func() []rtc.DeviceTotals {
			return []rtc.DeviceTotals{{DeviceID: "dev1", SessionsOpened: 3, SessionsClosed: 1,
				Stats: rtc.SessionStats{BytesSent: 25, PacketsSent: 5, NACKs: 1, PLIs: 2, FIRs: 1}}}
		},
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	want := `
# HELP media_service_pipeline_fps Frames per second a device's stream delivers (0 while its screen is still).
# TYPE media_service_pipeline_fps gauge
media_service_pipeline_fps{device="dev1"} 29.5
# HELP media_service_active_sessions WebRTC sessions open.
# TYPE media_service_active_sessions gauge
media_service_active_sessions 2
# HELP media_service_webrtc_plis_received_total PLIs and FIRs received from a device's viewers.
# TYPE media_service_webrtc_plis_received_total counter
media_service_webrtc_plis_received_total{device="dev1"} 3
# HELP media_service_sessions_total WebRTC sessions created for a device.
# TYPE media_service_sessions_total counter
media_service_sessions_total{device="dev1"} 3
# HELP media_service_capture_errors_total Capture failures (adb errors, a device gone); capture retries with backoff.
# TYPE media_service_capture_errors_total counter
media_service_capture_errors_total{device="dev1"} 4
# HELP media_service_device_encoder The encoder a device's stream uses (value 1).
# TYPE media_service_device_encoder gauge
media_service_device_encoder{device="dev1",encoder="libx264"} 1
# HELP media_service_encoding_timeouts_total Encodes that exceeded ENCODE_TIMEOUT (the encoder was abandoned).
# TYPE media_service_encoding_timeouts_total counter
media_service_encoding_timeouts_total{device="dev1"} 1
# HELP media_service_encoder_replacements_total Times a device's encoder was replaced, by cause: timeout (hung) or error (failed).
# TYPE media_service_encoder_replacements_total counter
media_service_encoder_replacements_total{cause="error",device="dev1"} 2
media_service_encoder_replacements_total{cause="timeout",device="dev1"} 1
# HELP media_service_encoder_reopens_total Times a device's encoder was reopened at a new frame size (a rotation).
# TYPE media_service_encoder_reopens_total counter
media_service_encoder_reopens_total{device="dev1"} 1
# HELP media_service_encoder_chain_restarts_total Times every encoder candidate had failed and the chain started over from the best after a back-off.
# TYPE media_service_encoder_chain_restarts_total counter
media_service_encoder_chain_restarts_total{device="dev1"} 1
# HELP media_service_process_stalls_total Encodes that overran ENCODE_TIMEOUT while the whole process was frozen (not blamed on the encoder).
# TYPE media_service_process_stalls_total counter
media_service_process_stalls_total{device="dev1"} 2
# HELP media_service_encoders_abandoned Hung encoders abandoned process-wide that have not returned yet.
# TYPE media_service_encoders_abandoned gauge
media_service_encoders_abandoned 0
`
	if err := promtest.GatherAndCompare(reg, strings.NewReader(want), "media_service_pipeline_fps", "media_service_active_sessions",
		"media_service_webrtc_plis_received_total", "media_service_device_encoder", "media_service_encoding_timeouts_total",
		"media_service_sessions_total", "media_service_capture_errors_total", "media_service_encoder_replacements_total",
		"media_service_encoder_reopens_total", "media_service_encoder_chain_restarts_total", "media_service_process_stalls_total",
		"media_service_encoders_abandoned"); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if n := l.GetName(); n != "device" && n != "encoder" && n != "reason" && n != "cause" && n != "stage" && n != "resource" {
					t.Errorf("%s has label %s: only device, encoder, reason, cause, stage and resource are allowed", f.GetName(), n)
				}
			}
		}
		if f.GetName() == "media_service_encode_latency_seconds" {
			h := f.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 5 || h.GetSampleSum() != 0.6 {
				t.Errorf("encode latency histogram: count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// seriesValues returns every gathered sample, by name{device}.
func seriesValues(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName() + "{"
			for _, l := range m.GetLabel() {
				key += l.GetName() + "=" + l.GetValue()
			}
			key += "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// TestCollectorCountersSurviveClosedSessions scrapes while a session is
// open, then after it closed: the session leaves active_sessions, and its
// counters stay in the webrtc_*_total series, which go on from there when
// a second session opens.
func TestCollectorCountersSurviveClosedSessions(t *testing.T) {
	var (
		mu       sync.Mutex
		sessions []rtc.SessionInfo
		totals   []rtc.DeviceTotals
	)
	set := func(s []rtc.SessionInfo, tot rtc.DeviceTotals) {
		mu.Lock()
		defer mu.Unlock()
		sessions, totals = s, []rtc.DeviceTotals{tot}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(Sources{
		Sessions: func() []rtc.SessionInfo { mu.Lock(); defer mu.Unlock(); return sessions },
		Totals:   func() []rtc.DeviceTotals { mu.Lock(); defer mu.Unlock(); return totals },
	}))
	counters := []string{
		`media_service_sessions_total{device=dev1}`,
		`media_service_webrtc_bytes_sent_total{device=dev1}`,
		`media_service_webrtc_packets_sent_total{device=dev1}`,
		`media_service_webrtc_nacks_received_total{device=dev1}`,
		`media_service_webrtc_plis_received_total{device=dev1}`,
	}
	s1 := rtc.SessionStats{BytesSent: 1000, PacketsSent: 10, NACKs: 2, PLIs: 1, FIRs: 1}
	s2 := rtc.SessionStats{BytesSent: 300, PacketsSent: 3, NACKs: 1, PLIs: 1}
	sum := s1
	sum.BytesSent += s2.BytesSent
	sum.PacketsSent += s2.PacketsSent
	sum.NACKs += s2.NACKs
	sum.PLIs += s2.PLIs
	steps := []struct {
		name     string
		sessions []rtc.SessionInfo
		totals   rtc.DeviceTotals
		active   float64
		want     []float64 // counters' values
	}{
		{"open", []rtc.SessionInfo{{ID: "s1", DeviceID: "dev1", Stats: s1}},
			rtc.DeviceTotals{DeviceID: "dev1", SessionsOpened: 1, Stats: s1}, 1, []float64{1, 1000, 10, 2, 2}},
		{"closed", nil,
			rtc.DeviceTotals{DeviceID: "dev1", SessionsOpened: 1, SessionsClosed: 1, Stats: s1}, 0, []float64{1, 1000, 10, 2, 2}},
		{"second open", []rtc.SessionInfo{{ID: "s2", DeviceID: "dev1", Stats: s2}},
			rtc.DeviceTotals{DeviceID: "dev1", SessionsOpened: 2, SessionsClosed: 1, Stats: sum}, 1, []float64{2, 1300, 13, 3, 3}},
		{"second closed", nil,
			rtc.DeviceTotals{DeviceID: "dev1", SessionsOpened: 2, SessionsClosed: 2, Stats: sum}, 0, []float64{2, 1300, 13, 3, 3}},
	}
	last := map[string]float64{}
	for _, st := range steps {
		set(st.sessions, st.totals)
		got := seriesValues(t, reg)
		if a := got["media_service_active_sessions{}"]; a != st.active {
			t.Errorf("%s: active_sessions %v, want %v", st.name, a, st.active)
		}
		for i, name := range counters {
			v, ok := got[name]
			if !ok {
				t.Errorf("%s: no %s", st.name, name)
				continue
			}
			if v != st.want[i] {
				t.Errorf("%s: %s = %v, want %v", st.name, name, v, st.want[i])
			}
			if v < last[name] {
				t.Errorf("%s: %s went down from %v to %v", st.name, name, last[name], v)
			}
			last[name] = v
		}
	}
}

func TestE2ELatency(t *testing.T) {
	e := NewE2ELatency()
	for i := 1; i <= 100; i++ {
		e.Observe("dev1", time.Duration(i)*time.Millisecond)
	}
	s := e.Summary()["dev1"]
	if s.Samples != 100 || s.P50ms != 51 || s.P99ms != 100 {
		t.Fatalf("summary %+v", s)
	}
	if n := promtest.CollectAndCount(e.Collector(), "media_service_e2e_latency_seconds"); n != 1 {
		t.Fatalf("%d series", n)
	}
}

// TestGoroutineMonitorWarnsOnLeak leaks goroutines on purpose and expects
// the warning.
func TestGoroutineMonitorWarnsOnLeak(t *testing.T) {
	var logs testutil.SyncBuffer
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	m := &GoroutineMonitor{Interval: 20 * time.Millisecond, Gauge: g, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond) // a baseline
	// leakWarned reports a warning that counted the leaked goroutines.
	leakWarned := func() bool {
		for line := range strings.Lines(logs.String()) {
			var rec struct {
				Event      string `json:"event"`
				Goroutines int    `json:"goroutines"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Event == "goroutine_count_increased" && rec.Goroutines >= 200 {
				return true
			}
		}
		return false
	}
	if leakWarned() {
		t.Fatalf("warning of 200 goroutines before the leak: %s", logs.String())
	}
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() { <-release })
	}
	for deadline := time.Now().Add(10 * time.Second); !leakWarned(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine_count_increased warning after leaking 200 goroutines: %s", logs.String())
		}
	}
	if promtest.ToFloat64(g) < 200 {
		t.Fatalf("goroutine gauge %v", promtest.ToFloat64(g))
	}
	close(release)
	wg.Wait()
	cancel()
	<-done
}

// TestResourceMonitorMoves burns CPU, allocates memory and opens files,
// and expects the gauges to follow.
func TestResourceMonitorMoves(t *testing.T) {
	r := NewResources()
	m := &ResourceMonitor{R: r}
	debug.FreeOSMemory() // what earlier tests freed leaves the resident set
	m.Sample()
	rss0, fds0 := promtest.ToFloat64(r.Memory), promtest.ToFloat64(r.OpenFDs)
	if rss0 <= 0 || fds0 <= 0 {
		t.Fatalf("first sample: rss %v, fds %v", rss0, fds0)
	}
	// Load: CPU, memory, files.
	x := 0
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; x++ {
	}
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = byte(i)
	}
	var files []*os.File
	for range 20 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	m.Sample()
	if cpu := promtest.ToFloat64(r.CPUPercent); cpu <= 0 {
		t.Fatalf("cpu %v%% after a busy loop", cpu)
	}
	if rss := promtest.ToFloat64(r.Memory); rss < rss0+32<<20 {
		t.Fatalf("rss %v after allocating 64 MiB (was %v)", rss, rss0)
	}
	if fds := promtest.ToFloat64(r.OpenFDs); fds < fds0+20 {
		t.Fatalf("fds %v after opening 20 files (was %v)", fds, fds0)
	}
	for _, f := range files {
		f.Close()
	}
	_ = ballast[x%len(ballast)]
	runtime.KeepAlive(ballast)
}

// TestCollectorSumsOutputsPerDevice: a device with two outputs (codecs or
// rungs) has two broadcasters; its series are one per device. The drops
// come summed from the device (device.StageStats), which keeps those of
// outputs that stopped, so that the counter never goes down.
func TestCollectorSumsOutputsPerDevice(t *testing.T) {
	c := NewCollector(Sources{
		Streams: func() []device.Stats {
			return []device.Stats{{Serial: "dev1", Stages: device.StageStats{ViewerDrops: 5}}, {Serial: "dev2"}}
		},
		Broadcasters: func() []fanout.Stats {
			return []fanout.Stats{{DeviceID: "dev1", Viewers: 2, Dropped: 1}, {DeviceID: "dev1", Viewers: 1, Dropped: 4}, {DeviceID: "dev2", Viewers: 1}}
		},
		DevicesConnected: func() int { return 2 },
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	got := seriesValues(t, reg)
	if got[`media_service_viewers{device=dev1}`] != 3 || got[`media_service_viewer_units_dropped_total{device=dev1}`] != 5 || got[`media_service_viewers{device=dev2}`] != 1 {
		t.Fatalf("series %v", got)
	}
	if got[`media_service_devices_connected{}`] != 2 {
		t.Fatalf("devices_connected: %v", got)
	}
}

// TestCollectorLoad: the load gauge is the largest part, each part its
// own series.
func TestCollectorLoad(t *testing.T) {
	c := NewCollector(Sources{Load: func() Load { return Load{Devices: 0.5, Encoders: 0.75, Sessions: 0.1} }})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	got := seriesValues(t, reg)
	for k, want := range map[string]float64{
		"media_service_load_ratio{}":                              0.75,
		"media_service_load_ratio_by_resource{resource=devices}":  0.5,
		"media_service_load_ratio_by_resource{resource=encoders}": 0.75,
		"media_service_load_ratio_by_resource{resource=sessions}": 0.1,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
}
