package metrics

import (
	"github.com/cloudphone/media-service/recording"
	"github.com/prometheus/client_golang/prometheus"
)

var _ recording.Metrics = (*Recordings)(nil)

// Recordings count the recordings (package recording):
// media_service_recordings_running, the recordings running on this
// instance; media_service_recording_bytes_written_total{device}, bytes
// written to a device's recording files (bounded: the devices); and
// media_service_recording_failures_total{reason}, the recordings that
// failed (recording.FailureReasons). It implements recording.Metrics.
type Recordings struct {
	running  prometheus.Gauge
	bytes    *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// NewRecordings returns the recording series, the failures at zero.
func NewRecordings() *Recordings {
	r := &Recordings{
		running: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "recordings_running",
			Help: "Recordings running on this instance (MAX_RECORDINGS bounds them)."}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "recording_bytes_written_total",
			Help: "Bytes written to the device's recording files (RECORDINGS_DIR)."}, []string{"device"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "recording_failures_total",
			Help: "Recordings that failed and stopped, by reason: disk_full, permission (a directory or file not writable), io, stream (a stream that cannot be muxed), device_gone (the device stopped running here). The device and its viewers go on."},
			[]string{"reason"}),
	}
	for _, reason := range recording.FailureReasons {
		r.failures.WithLabelValues(reason)
	}
	return r
}

// Running sets the recordings running.
func (r *Recordings) Running(n int) { r.running.Set(float64(n)) }

// BytesWritten counts bytes written to a device's recordings.
func (r *Recordings) BytesWritten(device string, n int64) {
	r.bytes.WithLabelValues(device).Add(float64(n))
}

// Failure counts a recording that failed.
func (r *Recordings) Failure(reason string) { r.failures.WithLabelValues(reason).Inc() }

// Collectors returns the series to register; none for a nil Recordings.
func (r *Recordings) Collectors() []prometheus.Collector {
	if r == nil {
		return nil
	}
	return []prometheus.Collector{r.running, r.bytes, r.failures}
}
