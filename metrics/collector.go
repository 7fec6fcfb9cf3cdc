// Package metrics exports the service's Prometheus series and runs the
// goroutine and resource monitors. Labels are bounded: a device's serial
// and an encoder's name, never a session or user id.
package metrics

import (
	"github.com/cloudphone/media-service/fanout"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/rtc"
	"github.com/prometheus/client_golang/prometheus"
)

const ns = "media_service"

// Sources are where the collector reads the service's state at scrape
// time; nil fields are skipped.
type Sources struct {
	Streams      func() []device.Stats
	Broadcasters func() []fanout.Stats
	// Sessions lists the open sessions (active_sessions).
	Sessions func() []rtc.SessionInfo
	// Totals gives each device's session counters, closed sessions
	// included (rtc.Manager.Totals): the webrtc_*_total and
	// sessions_total series, which never go down.
	Totals func() []rtc.DeviceTotals
	// DevicesConnected counts the devices adb lists in state "device".
	DevicesConnected func() int
	// Load is the instance's use of its capacity (load_ratio), for an
	// autoscaler.
	Load func() Load
}

// Load is an instance's use of its capacity, each part a ratio: 1 is
// full. A part with no bound is 0.
type Load struct {
	// Devices is the devices running over MAX_DEVICES.
	Devices float64
	// Encoders is the encodes running here over the encode slots
	// (WORKER_COUNT).
	Encoders float64
	// Sessions is the sessions over MAX_SESSIONS.
	Sessions float64
}

// Ratio is the load as one figure: its largest part, the resource that
// runs out first.
func (l Load) Ratio() float64 { return max(l.Devices, l.Encoders, l.Sessions) }

// Collector turns the service's statistics into Prometheus series when
// scraped, so the media path pays nothing for them.
type Collector struct {
	src Sources

	fps, bitrate, units, keyframes, restarts, keyRequests    *prometheus.Desc
	encErrors, encTimeouts, encSwitches, dropped, encLatency *prometheus.Desc
	encReplaced, encReopened, encRestarts, stalls, abandoned *prometheus.Desc
	connected                                                *prometheus.Desc
	deviceEncoder, viewers, viewerDrops, captureErrors       *prometheus.Desc
	sessions, sessionsTotal, bytesSent, packetsSent          *prometheus.Desc
	nacks, plis                                              *prometheus.Desc
	load, loadBy                                             *prometheus.Desc
	stages                                                   *prometheus.Desc
	inputMethod, inputRestarts, inputQueued, inputSuperseded *prometheus.Desc
	inputRefused, inputFailed                                *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector over src.
func NewCollector(src Sources) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
	}
	return &Collector{
		src:             src,
		fps:             d("pipeline_fps", "Frames per second a device's stream delivers (0 while its screen is still).", "device"),
		bitrate:         d("pipeline_bitrate_bytes", "Bytes per second of a device's encoded stream.", "device"),
		units:           d("pipeline_units_total", "Encoded units (access units or VP8 frames) a device's stream delivered.", "device"),
		keyframes:       d("pipeline_keyframes_total", "Keyframes a device's stream delivered.", "device"),
		restarts:        d("capture_restarts_total", "Capture restarts (screenrecord time limits, keyframe requests, reconnects).", "device"),
		captureErrors:   d("capture_errors_total", "Capture failures (adb errors, a device gone); capture retries with backoff.", "device"),
		keyRequests:     d("keyframe_requests_total", "Keyframe requests a device's capture received.", "device"),
		encErrors:       d("encoding_errors_total", "Encodes that failed (the encoder was replaced).", "device"),
		encTimeouts:     d("encoding_timeouts_total", "Encodes that exceeded ENCODE_TIMEOUT (the encoder was abandoned).", "device"),
		encSwitches:     d("encoder_switches_total", "Times a device's encoder was replaced (hung or failed), all causes.", "device"),
		encReplaced:     d("encoder_replacements_total", "Times a device's encoder was replaced, by cause: timeout (hung) or error (failed).", "device", "cause"),
		encReopened:     d("encoder_reopens_total", "Times a device's encoder was reopened at a new frame size (a rotation).", "device"),
		encRestarts:     d("encoder_chain_restarts_total", "Times every encoder candidate had failed and the chain started over from the best after a back-off.", "device"),
		stalls:          d("process_stalls_total", "Encodes that overran ENCODE_TIMEOUT while the whole process was frozen (not blamed on the encoder).", "device"),
		abandoned:       d("encoders_abandoned", "Hung encoders abandoned process-wide that have not returned yet."),
		connected:       d("devices_connected", "Devices the adb server lists in state device (usable)."),
		dropped:         d("frames_dropped_total", "Frames or units dropped, by reason.", "device", "reason"),
		encLatency:      d("encode_latency_seconds", "Time one frame took to encode.", "device"),
		deviceEncoder:   d("device_encoder", "The encoder a device's stream uses (value 1).", "device", "encoder"),
		viewers:         d("viewers", "Viewers watching a device.", "device"),
		inputMethod:     d("input_method", "How a device's input goes (value 1): method agent (the on-device agent) or shell (the input command), slow true where each command starts a Java VM (Android 11 and older).", "device", "method", "slow"),
		inputRestarts:   d("input_agent_restarts_total", "Times a device's input agent ended or could not start (input went through the shell meanwhile).", "device"),
		inputQueued:     d("input_queued", "Input commands waiting for a device's shell (one more may be running).", "device"),
		inputSuperseded: d("input_superseded_total", "Touch moves for a device's shell replaced by a later move before they ran.", "device"),
		inputRefused:    d("input_refused_total", "Input refused because a device's shell queue was full.", "device"),
		inputFailed:     d("input_failed_total", "Input commands that failed on a device.", "device"),
		viewerDrops:     d("viewer_units_dropped_total", "Units skipped by viewers that fell behind (skipping to the next keyframe).", "device"),
		sessions:        d("active_sessions", "WebRTC sessions open."),
		sessionsTotal:   d("sessions_total", "WebRTC sessions created for a device.", "device"),
		bytesSent:       d("webrtc_bytes_sent_total", "RTP payload bytes sent to a device's viewers, retransmissions included.", "device"),
		packetsSent:     d("webrtc_packets_sent_total", "RTP packets sent to a device's viewers, retransmissions included.", "device"),
		nacks:           d("webrtc_nacks_received_total", "NACKs received from a device's viewers.", "device"),
		plis:            d("webrtc_plis_received_total", "PLIs and FIRs received from a device's viewers.", "device"),
		load:            d("load_ratio", "The instance's use of its capacity, 1 when full: the largest of load_ratio_by_resource (the autoscaler's metric)."),
		loadBy: d("load_ratio_by_resource", "The instance's use of one resource: devices (over MAX_DEVICES), encoders (over the encode slots, WORKER_COUNT), "+
			"sessions (over MAX_SESSIONS); 0 for a resource with no bound.", "resource"),
		stages: d("stage_latency_seconds", "Time a device's units spent in each stage in the service: capture (arrival from the device to framed, or to the encoder), "+
			"encode (to the encoder's unit out), queue (fan-out to a viewer's writer), send (to the RTP packets written); viewers' summed.", "device", "stage"),
	}
}

// Describe sends every series' description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.fps, c.bitrate, c.units, c.keyframes, c.restarts, c.keyRequests, c.encErrors,
		c.encTimeouts, c.encSwitches, c.encReplaced, c.encReopened, c.encRestarts, c.stalls, c.abandoned, c.connected, c.dropped, c.encLatency, c.deviceEncoder, c.viewers, c.viewerDrops, c.captureErrors,
		c.sessions, c.sessionsTotal, c.bytesSent, c.packetsSent, c.nacks, c.plis, c.stages, c.load, c.loadBy,
		c.inputMethod, c.inputRestarts, c.inputQueued, c.inputSuperseded, c.inputRefused, c.inputFailed} {
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
	gauge(c.abandoned, float64(encoder.AbandonedEncoders()))
	if c.src.Load != nil {
		l := c.src.Load()
		gauge(c.load, l.Ratio())
		gauge(c.loadBy, l.Devices, "devices")
		gauge(c.loadBy, l.Encoders, "encoders")
		gauge(c.loadBy, l.Sessions, "sessions")
	}
	if c.src.DevicesConnected != nil {
		gauge(c.connected, float64(c.src.DevicesConnected()))
	}
	if c.src.Streams != nil {
		for _, s := range c.src.Streams() {
			dev := s.Serial
			gauge(c.fps, s.FPS, dev)
			gauge(c.bitrate, s.BitRateBytes, dev)
			counter(c.units, float64(s.Units), dev)
			counter(c.keyframes, float64(s.KeyFrames), dev)
			counter(c.restarts, float64(s.CaptureRestarts), dev)
			counter(c.captureErrors, float64(s.CaptureErrors), dev)
			counter(c.keyRequests, float64(s.KeyFrameRequests), dev)
			gauge(c.deviceEncoder, 1, dev, s.Encoder)
			p := s.Pipeline
			if p == nil {
				p = &encoder.Snapshot{}
			}
			counter(c.encErrors, float64(p.EncodingErrors), dev)
			counter(c.encTimeouts, float64(p.EncodingTimeouts), dev)
			counter(c.encSwitches, float64(p.EncoderSwitches), dev)
			for _, cause := range encoder.ReplacementCauses {
				counter(c.encReplaced, float64(p.Replacements[cause]), dev, cause)
			}
			counter(c.encReopened, float64(p.Reopened), dev)
			counter(c.encRestarts, float64(p.Restarts), dev)
			counter(c.stalls, float64(p.ProcessStalls), dev)
			for _, reason := range encoder.DropReasons {
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
			c.stage(ch, dev, media.StageCapture, s.Stages.Capture)
			c.stage(ch, dev, media.StageEncode, s.Stages.Encode)
			c.stage(ch, dev, media.StageQueue, s.Stages.Queue)
			c.stage(ch, dev, media.StageSend, s.Stages.Send)
			counter(c.viewerDrops, float64(s.Stages.ViewerDrops), dev)
			in := s.Input
			if in.Method != "" {
				gauge(c.inputMethod, 1, dev, in.Method, strconv.FormatBool(in.Slow))
			}
			counter(c.inputRestarts, float64(in.AgentRestarts), dev)
			gauge(c.inputQueued, float64(in.Queued), dev)
			counter(c.inputSuperseded, float64(in.Superseded), dev)
			counter(c.inputRefused, float64(in.Refused), dev)
			counter(c.inputFailed, float64(in.Failed), dev)
		}
	}
	if c.src.Broadcasters != nil {
		// A device has one broadcaster per output (codec and rung): one
		// series per device sums them.
		viewers := map[string]float64{}
		var order []string
		for _, b := range c.src.Broadcasters() {
			if _, ok := viewers[b.DeviceID]; !ok {
				order = append(order, b.DeviceID)
			}
			viewers[b.DeviceID] += float64(b.Viewers)
		}
		for _, dev := range order {
			gauge(c.viewers, viewers[dev], dev)
		}
	}
	if c.src.Sessions != nil {
		gauge(c.sessions, float64(len(c.src.Sessions())))
	}
	if c.src.Totals != nil {
		// Closed sessions' counters included: these never go down.
		for _, d := range c.src.Totals() {
			dev := d.DeviceID
			counter(c.sessionsTotal, float64(d.SessionsOpened), dev)
			counter(c.bytesSent, float64(d.Stats.BytesSent), dev)
			counter(c.packetsSent, float64(d.Stats.PacketsSent), dev)
			counter(c.nacks, float64(d.Stats.NACKs), dev)
			counter(c.plis, float64(d.Stats.PLIs+d.Stats.FIRs), dev)
		}
	}
}

// stage sends one stage's histogram; an empty one is left out, so that a
// pass-through device has no encode series.
func (c *Collector) stage(ch chan<- prometheus.Metric, dev, stage string, s media.StageSnapshot) {
	if n := s.Count(); n > 0 {
		ch <- prometheus.MustNewConstHistogram(c.stages, n, s.Sum.Seconds(), stageBuckets(s), dev, stage)
	}
}

// stageBuckets returns a stage snapshot's cumulative buckets, by upper
// bound in seconds.
func stageBuckets(s media.StageSnapshot) map[float64]uint64 {
	b := make(map[float64]uint64, media.NumStageBuckets)
	var cum uint64
	for i, bound := range media.StageBuckets {
		cum += s.Counts[i]
		b[bound.Seconds()] = cum
	}
	return b
}

// E2ELatency is the glass-to-glass latency histogram, fed by the viewers'
// reports: capture on the device to display in the browser.
//
// It follows a device while its viewers report: a device that has sent
// no report for staleAfter is forgotten (checked as reports come, and at
// each scrape and Summary), and past maxE2EDevices the one heard from
// least recently is, so that devices that come and go (containers
// replaced, new serials) do not pile up. Forgetting a device removes its
// samples and its Prometheus series, never lowers them: if it reports
// again, its series start anew, which Prometheus reads as a counter
// reset.
type E2ELatency struct {
	hist *prometheus.HistogramVec
	// stages are the viewer stages of the viewers' reports.
	stages *prometheus.HistogramVec
	// now is the clock; tests move it.
	now func() time.Time

	mu      sync.Mutex
	devices map[string]*e2eDevice
	pruned  time.Time // the last look for stale devices
}

// e2eDevice is what E2ELatency keeps of a device.
type e2eDevice struct {
	recent []time.Duration // the last recentN measurements
	seen   time.Time       // its last report
}

const (
	// recentN bounds the samples kept per device for /api/media/stats.
	recentN = 256
	// staleAfter is how long a device is followed after its last report.
	staleAfter = 10 * time.Minute
	// maxE2EDevices bounds the devices followed at once.
	maxE2EDevices = 1024
	// pruneEvery spaces the looks for stale devices as reports come.
	pruneEvery = time.Minute
)

// NewE2ELatency returns the media_service_e2e_latency_seconds histogram.
func NewE2ELatency() *E2ELatency {
	return &E2ELatency{hist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "e2e_latency_seconds",
		Help:    "Glass-to-glass latency that viewers measured: capture on the device to display in the browser.",
		Buckets: []float64{.01, .02, .03, .04, .05, .06, .08, .1, .15, .2, .3, .5, 1, 2},
	}, []string{"device"}), stages: newViewerStages(), now: time.Now, devices: map[string]*e2eDevice{}}
}

// Observe records one measurement.
func (e *E2ELatency) Observe(device string, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.observe(e.touch(device), device, d)
}

// observe records one measurement of dev, named device. e.mu is held.
func (e *E2ELatency) observe(dev *e2eDevice, device string, d time.Duration) {
	e.hist.WithLabelValues(device).Observe(d.Seconds())
	r := append(dev.recent, d)
	if len(r) > recentN {
		r = r[len(r)-recentN:]
	}
	dev.recent = r
}

// touch returns device's state, marked as heard from now; a device not
// followed yet is added, the least recently heard one forgotten when
// maxE2EDevices are. Stale devices are forgotten first, once pruneEvery
// at most. e.mu is held.
func (e *E2ELatency) touch(device string) *e2eDevice {
	now := e.now()
	if now.Sub(e.pruned) >= pruneEvery {
		e.prune(now)
	}
	dev := e.devices[device]
	if dev == nil {
		if len(e.devices) >= maxE2EDevices {
			var oldest string
			var seen time.Time
			for name, d := range e.devices {
				if oldest == "" || d.seen.Before(seen) {
					oldest, seen = name, d.seen
				}
			}
			e.forget(oldest)
		}
		dev = &e2eDevice{}
		e.devices[device] = dev
	}
	dev.seen = now
	return dev
}

// prune forgets the devices not heard from for staleAfter. e.mu is held.
func (e *E2ELatency) prune(now time.Time) {
	e.pruned = now
	for name, d := range e.devices {
		if now.Sub(d.seen) >= staleAfter {
			e.forget(name)
		}
	}
}

// forget drops device's samples and removes its series. e.mu is held.
func (e *E2ELatency) forget(device string) {
	delete(e.devices, device)
	e.hist.DeleteLabelValues(device)
	e.stages.DeletePartialMatch(prometheus.Labels{"device": device})
}

// LatencySummary is a device's recent glass-to-glass latency.
type LatencySummary struct {
	Samples int     `json:"samples"`
	P50ms   float64 `json:"p50ms"`
	P95ms   float64 `json:"p95ms"`
	P99ms   float64 `json:"p99ms"`
}

// Summary returns the recent latency quantiles of each device followed
// that has glass-to-glass measurements.
func (e *E2ELatency) Summary() map[string]LatencySummary {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.prune(e.now())
	out := make(map[string]LatencySummary, len(e.devices))
	for name, dev := range e.devices {
		if len(dev.recent) == 0 {
			continue // stage reports only
		}
		s := slices.Clone(dev.recent)
		slices.Sort(s)
		q := func(p float64) float64 {
			return float64(s[min(len(s)-1, int(p*float64(len(s))))]) / float64(time.Millisecond)
		}
		out[name] = LatencySummary{Samples: len(s), P50ms: q(0.5), P95ms: q(0.95), P99ms: q(0.99)}
	}
	return out
}

// Collector returns the histograms for registration: glass-to-glass and
// the viewer stages. A scrape forgets the stale devices first.
func (e *E2ELatency) Collector() prometheus.Collector { return e2eCollector{e} }

// e2eCollector collects an E2ELatency's histograms.
type e2eCollector struct{ e *E2ELatency }

func (c e2eCollector) Describe(ch chan<- *prometheus.Desc) {
	c.e.hist.Describe(ch)
	c.e.stages.Describe(ch)
}

func (c e2eCollector) Collect(ch chan<- prometheus.Metric) {
	c.e.mu.Lock()
	c.e.prune(c.e.now())
	c.e.mu.Unlock()
	c.e.hist.Collect(ch)
	c.e.stages.Collect(ch)
}

// stageBucketSeconds are media.StageBuckets in seconds.
func stageBucketSeconds() []float64 {
	b := make([]float64, len(media.StageBuckets))
	for i, d := range media.StageBuckets {
		b[i] = d.Seconds()
	}
	return b
}
