package main

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"

	"github.com/cloudphone/media-service/internal/chromium"
)

// TestViewerLatency opens the viewer in headless Chromium: the page reads
// the capture stamp that devicesim draws on every frame and measures
// glass-to-glass latency. Samples must arrive and be plausible; the bound
// is a sanity check (same clock, stamp decoded right), not a performance
// threshold.
func TestViewerLatency(t *testing.T) {
	base, sim, _ := startService(t, nil)
	b := chromium.Launch(t)
	if err := b.Navigate(fmt.Sprintf("%s/?device=%s&token=%s", base, sim.Addr(), e2eToken)); err != nil {
		t.Fatal(err)
	}
	var lat []float64
	testutil.EventuallyErr(t, "latency samples on the page", 60*time.Second, func() (bool, error) {
		err := b.Eval(`window.viewer && viewer.latencies ? viewer.latencies : []`, &lat)
		return len(lat) >= 10, err
	})
	var shown string
	if err := b.Eval(`document.getElementById("s-latency").textContent`, &shown); err != nil {
		t.Fatal(err)
	}
	med := median(lat)
	t.Logf("%d samples, median %.1f ms, stats row %q", len(lat), med, shown)
	if !(med > 0 && med < 5000) {
		t.Fatalf("median latency %.1f ms, want 0 < median < 5000 (samples %v)", med, lat)
	}
	if shown == "" || shown == "–" {
		t.Fatalf("the stats table's latency row shows %q", shown)
	}
	// Reports go out over the input channel, at most one a second, and the
	// service takes them without complaint.
	var page struct {
		Reports int      `json:"reports"`
		Errors  []string `json:"errors"`
	}
	testutil.EventuallyErr(t, "a latency report sent", 10*time.Second, func() (bool, error) {
		err := b.Eval(`({reports: viewer.latencyReports, errors: viewer.errors})`, &page)
		return page.Reports >= 2, err
	})
	for _, e := range page.Errors {
		if strings.Contains(e, "latency") || strings.Contains(e, "invalid") {
			t.Fatalf("the service answered a latency report with an error: %v", page.Errors)
		}
	}
	if err := b.Eval(`document.getElementById("s-control").textContent`, &shown); err != nil {
		t.Fatal(err)
	}
	if shown != "–" {
		t.Fatalf("latency reports asked for control: the control row shows %q", shown)
	}
}

// median returns the median of v (v is not changed); NaN-free input.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
