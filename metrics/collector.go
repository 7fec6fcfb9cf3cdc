// Package metrics exports the service's Prometheus series and runs the
// goroutine and resource monitors. Labels are bounded: a device's serial
// and an encoder's name, never a session or user id.
package metrics

import (
	"slices"
	"sync"
	"time"

	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/rtc"
	"github.com/prometheus/client_golang/prometheus"
)

const ns = "media_service"

// Sources are where the collector reads the service's state at scrape
// time; nil fields are skipped.
type Sources struct {
	Streams      func() []device.Stats
	Broadcasters func() []rtc.BroadcasterStats
	Sessions     func() []rtc.SessionInfo
}

// Collector turns the service's statistics into Prometheus series when
// scraped, so the media path pays nothing for them.
type Collector struct {
	src Sources

	fps, bitrate, units, keyframes, restarts, keyRequests    *prometheus.Desc
	encErrors, encTimeouts, encSwitches, dropped, encLatency *prometheus.Desc
	deviceEncoder, viewers, viewerDrops                      *prometheus.Desc
	sessions, bytesSent, packetsSent, nacks, plis            *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector over src.
func NewCollector(src Sources) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
	}
	return &Collector{
		src:           src,
		fps:           d("pipeline_fps", "Frames per second a device's stream delivers (0 while its screen is still).", "device"),
		bitrate:       d("pipeline_bitrate_bytes", "Bytes per second of a device's encoded stream.", "device"),
		units:         d("pipeline_units_total", "Encoded units (access units or VP8 frames) a device's stream delivered.", "device"),
		keyframes:     d("pipeline_keyframes_total", "Keyframes a device's stream delivered.", "device"),
		restarts:      d("capture_restarts_total", "Capture restarts (screenrecord time limits, keyframe requests, reconnects).", "device"),
		keyRequests:   d("keyframe_requests_total", "Keyframe requests a device's capture received.", "device"),
		encErrors:     d("encoding_errors_total", "Encodes that failed (the encoder was replaced).", "device"),
		encTimeouts:   d("encoding_timeouts_total", "Encodes that exceeded ENCODE_TIMEOUT (the encoder was abandoned).", "device"),
		encSwitches:   d("encoder_switches_total", "Times a device's encoder was replaced by the next candidate.", "device"),
		dropped:       d("frames_dropped_total", "Frames or units dropped, by reason.", "device", "reason"),
		encLatency:    d("encode_latency_seconds", "Time one frame took to encode.", "device"),
		deviceEncoder: d("device_encoder", "The encoder a device's stream uses (value 1).", "device", "encoder"),
		viewers:       d("viewers", "Viewers watching a device.", "device"),
		viewerDrops:   d("viewer_units_dropped_total", "Units skipped by viewers that fell behind (skipping to the next keyframe).", "device"),
		sessions:      d("active_sessions", "WebRTC sessions open."),
		bytesSent:     d("webrtc_bytes_sent_total", "RTP bytes sent to a device's viewers (open sessions).", "device"),
		packetsSent:   d("webrtc_packets_sent_total", "RTP packets sent to a device's viewers (open sessions).", "device"),
		nacks:         d("webrtc_nacks_received_total", "NACKs received from a device's viewers (open sessions).", "device"),
		plis:          d("webrtc_plis_received_total", "PLIs and FIRs received from a device's viewers (open sessions).", "device"),
	}
}

// Describe sends every series' description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.fps, c.bitrate, c.units, c.keyframes, c.restarts, c.keyRequests, c.encErrors,
		c.encTimeouts, c.encSwitches, c.dropped, c.encLatency, c.deviceEncoder, c.viewers, c.viewerDrops, c.sessions,
		c.bytesSent, c.packetsSent, c.nacks, c.plis} {
		ch <- d
	}
}

// Collect reads the sources and sends the series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if c.src.Streams != nil {
		for _, s := range c.src.Streams() {
			dev := s.Serial
			gauge(c.fps, s.FPS, dev)
			gauge(c.bitrate, s.BitRateBytes, dev)
			counter(c.units, float64(s.Units), dev)
			counter(c.keyframes, float64(s.KeyFrames), dev)
			counter(c.restarts, float64(s.CaptureRestarts), dev)
			counter(c.keyRequests, float64(s.KeyFrameRequests), dev)
			gauge(c.deviceEncoder, 1, dev, s.Encoder)
			p := s.Pipeline
			if p == nil {
				p = &encoder.Snapshot{}
			}
			counter(c.encErrors, float64(p.EncodingErrors), dev)
			counter(c.encTimeouts, float64(p.EncodingTimeouts), dev)
			counter(c.encSwitches, float64(p.EncoderSwitches), dev)
			for _, reason := range []string{"stale", "write_timeout", "queue_full", "encode_error"} {
				counter(c.dropped, float64(p.Dropped[reason]), dev, reason)
			}
			if len(p.LatencyBuckets) > 0 {
				buckets := map[float64]uint64{}
				var cum uint64
				for i, b := range encoder.LatencyBuckets {
					cum += uint64(p.LatencyBuckets[i])
					buckets[b.Seconds()] = cum
				}
				cum += uint64(p.LatencyBuckets[len(p.LatencyBuckets)-1])
				ch <- prometheus.MustNewConstHistogram(c.encLatency, cum, p.LatencySum.Seconds(), buckets, dev)
			}
		}
	}
	if c.src.Broadcasters != nil {
		for _, b := range c.src.Broadcasters() {
			gauge(c.viewers, float64(b.Viewers), b.DeviceID)
			counter(c.viewerDrops, float64(b.Dropped), b.DeviceID)
		}
	}
	if c.src.Sessions != nil {
		list := c.src.Sessions()
		gauge(c.sessions, float64(len(list)))
		type sums struct{ bytes, packets, nacks, plis uint64 }
		per := map[string]*sums{}
		for _, s := range list {
			p := per[s.DeviceID]
			if p == nil {
				p = &sums{}
				per[s.DeviceID] = p
			}
			p.bytes += s.Stats.BytesSent
			p.packets += s.Stats.PacketsSent
			p.nacks += s.Stats.NACKs
			p.plis += s.Stats.PLIs + s.Stats.FIRs
		}
		for dev, p := range per {
			counter(c.bytesSent, float64(p.bytes), dev)
			counter(c.packetsSent, float64(p.packets), dev)
			counter(c.nacks, float64(p.nacks), dev)
			counter(c.plis, float64(p.plis), dev)
		}
	}
}

// E2ELatency is the glass-to-glass latency histogram, fed by the viewers'
// reports: capture on the device to display in the browser.
type E2ELatency struct {
	hist *prometheus.HistogramVec

	mu     sync.Mutex
	recent map[string][]time.Duration // last recentN per device
}

// recentN bounds the samples kept per device for /api/media/stats.
const recentN = 256

// NewE2ELatency returns the media_service_e2e_latency_seconds histogram.
func NewE2ELatency() *E2ELatency {
	return &E2ELatency{hist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "e2e_latency_seconds",
		Help:    "Glass-to-glass latency that viewers measured: capture on the device to display in the browser.",
		Buckets: []float64{.01, .02, .03, .04, .05, .06, .08, .1, .15, .2, .3, .5, 1, 2},
	}, []string{"device"}), recent: map[string][]time.Duration{}}
}

// Observe records one measurement.
func (e *E2ELatency) Observe(device string, d time.Duration) {
	e.hist.WithLabelValues(device).Observe(d.Seconds())
	e.mu.Lock()
	defer e.mu.Unlock()
	r := append(e.recent[device], d)
	if len(r) > recentN {
		r = r[len(r)-recentN:]
	}
	e.recent[device] = r
}

// LatencySummary is a device's recent glass-to-glass latency.
type LatencySummary struct {
	Samples int     `json:"samples"`
	P50ms   float64 `json:"p50ms"`
	P95ms   float64 `json:"p95ms"`
	P99ms   float64 `json:"p99ms"`
}

// Summary returns each device's recent latency quantiles.
func (e *E2ELatency) Summary() map[string]LatencySummary {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]LatencySummary, len(e.recent))
	for dev, r := range e.recent {
		s := slices.Clone(r)
		slices.Sort(s)
		q := func(p float64) float64 {
			return float64(s[min(len(s)-1, int(p*float64(len(s))))]) / float64(time.Millisecond)
		}
		out[dev] = LatencySummary{Samples: len(s), P50ms: q(0.5), P95ms: q(0.95), P99ms: q(0.99)}
	}
	return out
}

// Collector returns the histogram for registration.
func (e *E2ELatency) Collector() prometheus.Collector { return e.hist }
