package metrics

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// withClock returns an E2ELatency on a fake clock.
func withClock() (*E2ELatency, *fakeClock) {
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := NewE2ELatency()
	e.now = clock.now
	return e, clock
}

// report is a viewer's report with a glass-to-glass measurement and every
// viewer stage.
var report = json.RawMessage(`{"type":"latency","ms":30,"networkMs":1,"jitterMs":2,"decodeMs":3,"renderMs":4}`)

// e2eSeries returns the e2e histogram's sample count by device, and the
// labels of the viewer stage series, from a scrape of reg. (Not through
// histograms: its lint takes seconds over a thousand devices.)
func e2eSeries(t *testing.T, reg *prometheus.Registry) (map[string]uint64, []string) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	var stages []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			switch f.GetName() {
			case "media_service_e2e_latency_seconds":
				counts[strings.Join(labels, ",")] = m.GetHistogram().GetSampleCount()
			case "media_service_viewer_stage_latency_seconds":
				stages = append(stages, strings.Join(labels, ","))
			}
		}
	}
	slices.Sort(stages)
	return counts, stages
}

// TestE2ELatencyForgetsStaleDevices: a device that has not reported for
// staleAfter leaves the summary and /metrics (its series removed, not
// lowered), at the next report of another device, scrape or summary,
// while a device that keeps reporting keeps its counts. A forgotten
// device that reports again starts anew.
func TestE2ELatencyForgetsStaleDevices(t *testing.T) {
	e, clock := withClock()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector())
	e.ClientReport("gone", report)
	e.ClientReport("kept", report)
	e.ClientReport("stages-only", json.RawMessage(`{"type":"report","decodeMs":3}`))

	clock.add(staleAfter / 2)
	e.ClientReport("kept", report)
	counts, stages := e2eSeries(t, reg)
	if counts["device=gone"] != 1 || counts["device=kept"] != 2 || len(stages) != 9 {
		t.Fatalf("before any device is stale: e2e %v, stage series %v", counts, stages)
	}

	// "gone" and "stages-only" last reported staleAfter ago: a scrape
	// leaves them out, "kept" keeps its two samples.
	clock.add(staleAfter / 2)
	counts, stages = e2eSeries(t, reg)
	wantStages := []string{"device=kept,stage=viewer_decode", "device=kept,stage=viewer_jitter",
		"device=kept,stage=viewer_network", "device=kept,stage=viewer_render"}
	if len(counts) != 1 || counts["device=kept"] != 2 || !slices.Equal(stages, wantStages) {
		t.Fatalf("after staleAfter: e2e %v, stage series %v; want kept's only, with 2 samples", counts, stages)
	}
	if s := e.Summary(); len(s) != 1 || s["kept"].Samples != 2 {
		t.Fatalf("summary after staleAfter: %+v, want kept's 2 samples only", s)
	}

	histograms(t, reg, "media_service_e2e_latency_seconds") // lints the scrape

	// Back: its series start anew.
	e.ClientReport("gone", report)
	if counts, _ = e2eSeries(t, reg); counts["device=gone"] != 1 || counts["device=kept"] != 2 {
		t.Fatalf("after it reports again: %v", counts)
	}
	if s := e.Summary()["gone"]; s.Samples != 1 {
		t.Fatalf("summary of the device back: %+v, want 1 sample", s)
	}

	// Reports alone forget stale devices too, with no scrape or summary.
	clock.add(staleAfter)
	e.Observe("new", 20*time.Millisecond)
	e.mu.Lock()
	var followed []string
	for name := range e.devices {
		followed = append(followed, name)
	}
	e.mu.Unlock()
	if !slices.Equal(followed, []string{"new"}) {
		t.Fatalf("devices followed after a report staleAfter later: %v, want [new]", followed)
	}
}

// TestE2ELatencyBoundsDevices: past maxE2EDevices, the device heard from
// least recently is forgotten, its series removed.
func TestE2ELatencyBoundsDevices(t *testing.T) {
	e, clock := withClock()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector())
	for i := range maxE2EDevices {
		e.ClientReport(fmt.Sprintf("dev%d", i), report)
		clock.add(time.Millisecond)
	}
	e.ClientReport("dev0", report) // heard from again: dev1 is now the oldest
	clock.add(time.Millisecond)
	e.ClientReport("one-more", report)

	counts, stages := e2eSeries(t, reg)
	if len(counts) != maxE2EDevices || len(stages) != 4*maxE2EDevices {
		t.Fatalf("%d e2e series and %d stage series, want %d and %d", len(counts), len(stages), maxE2EDevices, 4*maxE2EDevices)
	}
	if _, ok := counts["device=dev1"]; ok {
		t.Error("dev1, heard from least recently, is still exported")
	}
	if counts["device=dev0"] != 2 || counts["device=one-more"] != 1 {
		t.Errorf("dev0 %d samples (want 2), one-more %d (want 1)", counts["device=dev0"], counts["device=one-more"])
	}
	if s := e.Summary(); len(s) != maxE2EDevices {
		t.Errorf("summary of %d devices, want %d", len(s), maxE2EDevices)
	}
}
