package metrics

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Viewer stages: the viewer's own account of a frame's way from the
// network to the screen, from its WebRTC statistics (getStats), in the
// order a frame goes through them.
const (
	// StageViewerNetwork: half the ICE round trip (currentRoundTripTime).
	StageViewerNetwork = "viewer_network"
	// StageViewerJitter: the jitter buffer's delay per frame
	// (jitterBufferDelay / jitterBufferEmittedCount over the last second).
	StageViewerJitter = "viewer_jitter"
	// StageViewerDecode: decode time per frame (totalDecodeTime /
	// framesDecoded over the last second).
	StageViewerDecode = "viewer_decode"
	// StageViewerRender: the frame's last packet received → the page saw
	// it displayed, less the jitter buffer and the decode.
	StageViewerRender = "viewer_render"
)

// ViewerStages are the viewer stages, in a frame's order.
var ViewerStages = []string{StageViewerNetwork, StageViewerJitter, StageViewerDecode, StageViewerRender}

// maxReportBytes bounds a report the parser reads; maxReportMs bounds a
// measurement in it (a minute: anything longer is nonsense).
const (
	maxReportBytes = 4 << 10
	maxReportMs    = 60_000
)

// ClientReport is one viewer report, as ParseClientReport reads it: each
// measurement is finite, at least 0 (greater than 0 for E2E) and at most
// a minute, or absent (its Has bit clear).
type ClientReport struct {
	// E2E is a glass-to-glass measurement; zero when absent.
	E2E time.Duration
	// Stages are the viewer stages the report gives, by
	// ViewerStages index; Has tells which.
	Stages [4]time.Duration
	Has    [4]bool
}

// reportFields are the report's JSON keys: "ms" for glass-to-glass, then
// the viewer stages' in ViewerStages order.
var reportFields = [...]string{"networkMs", "jitterMs", "decodeMs", "renderMs"}

// ParseClientReport reads a viewer's report message, {"type":"latency",
// "ms":…, "networkMs":…, "jitterMs":…, "decodeMs":…, "renderMs":…} (or
// type "report", whose "ms" is ignored). It is outside input: it is
// bounded in size, numbers out of range or of the wrong type are left out
// one by one, and ok is false for anything that is not a report object.
func ParseClientReport(raw []byte) (r ClientReport, ok bool) {
	if len(raw) > maxReportBytes {
		return r, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return r, false
	}
	var typ string
	if json.Unmarshal(m["type"], &typ) != nil || (typ != "latency" && typ != "report") {
		return r, false
	}
	if typ == "latency" {
		if ms, ok := reportMs(m["ms"]); ok && ms > 0 {
			r.E2E = ms
		}
	}
	for i, k := range reportFields {
		r.Stages[i], r.Has[i] = reportMs(m[k])
	}
	return r, true
}

// reportMs reads a JSON number of milliseconds in [0, maxReportMs].
func reportMs(raw json.RawMessage) (time.Duration, bool) {
	if len(raw) == 0 || len(raw) > 64 || raw[0] == '"' {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > maxReportMs {
		return 0, false
	}
	return time.Duration(v * float64(time.Millisecond)), true
}

// ClientReport takes a viewer's report (rtc.Config.OnClientReport): its
// glass-to-glass measurement and its viewer stages. Bad input is ignored.
func (e *E2ELatency) ClientReport(device string, raw json.RawMessage) {
	r, ok := ParseClientReport(raw)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	dev := e.touch(device)
	if r.E2E > 0 {
		e.observe(dev, device, r.E2E)
	}
	for i, stage := range ViewerStages {
		if r.Has[i] {
			e.stages.WithLabelValues(device, stage).Observe(r.Stages[i].Seconds())
		}
	}
}

// newViewerStages returns the media_service_viewer_stage_latency_seconds
// histogram.
func newViewerStages() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "viewer_stage_latency_seconds",
		Help: "Viewers' own account of where a frame's time goes after the service, once a second per viewer: " +
			"viewer_network (half the round trip), viewer_jitter (jitter buffer), viewer_decode, viewer_render (received to displayed, less jitter buffer and decode).",
		Buckets: stageBucketSeconds(),
	}, []string{"device", "stage"})
}
