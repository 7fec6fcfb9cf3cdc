package metrics

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/media"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// stageSnap returns a stage snapshot of the given durations.
func stageSnap(ds ...time.Duration) media.StageSnapshot {
	var h media.StageHistogram
	for _, d := range ds {
		h.Observe(d)
	}
	return h.Snapshot()
}

// histograms returns the gathered histograms of one family, by their
// labels' values joined with ",".
func histograms(t *testing.T, reg *prometheus.Registry, name string) map[string]*dto.Histogram {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Histogram{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var vals []string
			for _, l := range m.GetLabel() {
				vals = append(vals, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(vals, ",")] = m.GetHistogram()
		}
	}
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	return out
}

// TestCollectorStages: the devices' stages (summed over a device's
// outputs by the device) become media_service_stage_latency_seconds{device,stage}, with the
// snapshots' counts, sums and buckets; an empty stage has no series.
func TestCollectorStages(t *testing.T) {
	c := NewCollector(Sources{
		Streams: func() []device.Stats {
			return []device.Stats{
				{Serial: "dev1", Stages: device.StageStats{Capture: stageSnap(time.Millisecond, 4*time.Millisecond),
					Queue: stageSnap(0, 0, time.Millisecond), Send: stageSnap(2*time.Millisecond, 3*time.Millisecond)}},
				{Serial: "dev2", Stages: device.StageStats{Capture: stageSnap(time.Millisecond), Encode: stageSnap(12 * time.Millisecond)}},
			}
		},
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	got := histograms(t, reg, "media_service_stage_latency_seconds")
	for key, want := range map[string]struct {
		count uint64
		sum   time.Duration
	}{
		"device=dev1,stage=capture": {2, 5 * time.Millisecond},
		"device=dev1,stage=queue":   {3, time.Millisecond},
		"device=dev1,stage=send":    {2, 5 * time.Millisecond},
		"device=dev2,stage=capture": {1, time.Millisecond},
		"device=dev2,stage=encode":  {1, 12 * time.Millisecond},
	} {
		h := got[key]
		if h == nil {
			t.Errorf("no series %s", key)
			continue
		}
		if h.GetSampleCount() != want.count || math.Abs(h.GetSampleSum()-want.sum.Seconds()) > 1e-9 {
			t.Errorf("%s: count %d sum %v, want %d %v", key, h.GetSampleCount(), h.GetSampleSum(), want.count, want.sum.Seconds())
		}
		if n := len(h.GetBucket()); n != media.NumStageBuckets {
			t.Errorf("%s: %d buckets, want %d", key, n, media.NumStageBuckets)
		}
		delete(got, key)
	}
	for key := range got {
		t.Errorf("unexpected series %s (an empty stage has none)", key)
	}
	// The buckets are cumulative: dev1's capture holds 1 ms (≤ 1 ms) and
	// 4 ms (≤ 5 ms).
	h := histograms(t, reg, "media_service_stage_latency_seconds")["device=dev1,stage=capture"]
	for _, b := range h.GetBucket() {
		var want uint64
		switch {
		case b.GetUpperBound() >= 0.005:
			want = 2
		case b.GetUpperBound() >= 0.001:
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

func TestParseClientReport(t *testing.T) {
	for _, tc := range []struct {
		name   string
		raw    string
		ok     bool
		e2e    time.Duration
		stages map[int]time.Duration
	}{
		{"latency only", `{"type":"latency","ms":42.5,"p50":40,"samples":30}`, true, 42500 * time.Microsecond, nil},
		{"all stages", `{"type":"latency","ms":20,"networkMs":0.5,"jitterMs":1.25,"decodeMs":3,"renderMs":0}`, true, 20 * time.Millisecond,
			map[int]time.Duration{0: 500 * time.Microsecond, 1: 1250 * time.Microsecond, 2: 3 * time.Millisecond, 3: 0}},
		{"report type: stages, no e2e", `{"type":"report","ms":20,"decodeMs":2}`, true, 0, map[int]time.Duration{2: 2 * time.Millisecond}},
		{"bad fields left out one by one", `{"type":"latency","ms":-1,"networkMs":"3","jitterMs":-0.1,"decodeMs":1e400,"renderMs":60001}`, true, 0, nil},
		{"zero e2e left out", `{"type":"latency","ms":0,"decodeMs":2}`, true, 0, map[int]time.Duration{2: 2 * time.Millisecond}},
		{"null fields", `{"type":"latency","ms":null,"decodeMs":null}`, true, 0, nil},
		{"other type", `{"type":"tap","ms":20}`, false, 0, nil},
		{"no type", `{"ms":20}`, false, 0, nil},
		{"not an object", `[1,2]`, false, 0, nil},
		{"null", `null`, false, 0, nil},
		{"broken", `{"type":"latency",`, false, 0, nil},
		{"too long", `{"type":"latency","ms":1,"pad":"` + strings.Repeat("x", 5000) + `"}`, false, 0, nil},
	} {
		r, ok := ParseClientReport([]byte(tc.raw))
		if ok != tc.ok || r.E2E != tc.e2e {
			t.Errorf("%s: ok %v e2e %s, want %v %s", tc.name, ok, r.E2E, tc.ok, tc.e2e)
		}
		for i := range ViewerStages {
			want, has := tc.stages[i]
			if r.Has[i] != has || r.Stages[i] != want {
				t.Errorf("%s: stage %s = %s (%v), want %s (%v)", tc.name, ViewerStages[i], r.Stages[i], r.Has[i], want, has)
			}
		}
	}
}

// TestClientReportExports: a viewer's report goes to the glass-to-glass
// histogram and summary and to the viewer stages' histogram.
func TestClientReportExports(t *testing.T) {
	e := NewE2ELatency()
	e.ClientReport("dev1", json.RawMessage(`{"type":"latency","ms":30,"networkMs":1,"jitterMs":2,"decodeMs":3,"renderMs":4}`))
	e.ClientReport("dev1", json.RawMessage(`{"type":"latency","ms":"nonsense"}`))
	e.ClientReport("dev1", json.RawMessage(`garbage`))
	if s := e.Summary()["dev1"]; s.Samples != 1 || s.P50ms != 30 {
		t.Errorf("summary %+v", s)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector())
	got := histograms(t, reg, "media_service_viewer_stage_latency_seconds")
	for i, stage := range ViewerStages {
		h := got["device=dev1,stage="+stage]
		if h == nil || h.GetSampleCount() != 1 || math.Abs(h.GetSampleSum()-float64(i+1)/1000) > 1e-9 {
			t.Errorf("%s: %v", stage, h)
		}
	}
	if h := histograms(t, reg, "media_service_e2e_latency_seconds")["device=dev1"]; h == nil || h.GetSampleCount() != 1 {
		t.Errorf("e2e: %v", h)
	}
}

// FuzzParseClientReport: whatever a viewer sends, the parser neither
// panics nor lets through a measurement out of range.
func FuzzParseClientReport(f *testing.F) {
	for _, s := range []string{
		`{"type":"latency","ms":42.5,"p50":40,"samples":30}`,
		`{"type":"latency","ms":20,"networkMs":0.5,"jitterMs":1.25,"decodeMs":3,"renderMs":0}`,
		`{"type":"report","decodeMs":-1,"renderMs":1e308}`,
		`{"type":"latency","ms":"1","networkMs":[1],"jitterMs":{}}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, ok := ParseClientReport(raw)
		if !ok && r != (ClientReport{}) {
			t.Fatalf("not a report, yet %+v", r)
		}
		if r.E2E < 0 || r.E2E > maxReportMs*time.Millisecond {
			t.Fatalf("e2e %s out of range", r.E2E)
		}
		for i, d := range r.Stages {
			if d < 0 || d > maxReportMs*time.Millisecond || (!r.Has[i] && d != 0) {
				t.Fatalf("stage %d: %s (has %v)", i, d, r.Has[i])
			}
		}
		NewE2ELatency().ClientReport("dev", raw) // nor does taking it
	})
}
