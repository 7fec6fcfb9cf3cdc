package metrics

import (
	"time"

	"github.com/cloudphone/media-service/device"
	"github.com/prometheus/client_golang/prometheus"
)

var _ device.ScreenshotMetrics = (*Screenshots)(nil)

// Screenshots count the screenshots (device.Registry.Screenshot), by
// where their picture came from (source: picture, decoded, capture):
// media_service_screenshots_total{source,result} (result: taken, shared,
// failed) and media_service_screenshot_seconds{source}, the time to take
// a picture. It implements device.ScreenshotMetrics.
type Screenshots struct {
	total *prometheus.CounterVec
	took  *prometheus.HistogramVec
}

// NewScreenshots returns the screenshot series, every one at zero.
func NewScreenshots() *Screenshots {
	s := &Screenshots{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "screenshots_total",
			Help: "Screenshots, by the source of their picture (picture: a running device's latest; decoded: its pass-through stream decoded; capture: a one-off screencap) and result: taken (a picture taken, once per device and window), shared (a request answered with a picture taken for another within the window), failed (taking a picture failed)."},
			[]string{"source", "result"}),
		took: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "screenshot_seconds",
			Help:    "Time to take a screenshot's picture (a capture, a decode, or the latest picture), by source.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"source"}),
	}
	for _, src := range device.ScreenshotSources {
		for _, r := range device.ScreenshotResults {
			s.total.WithLabelValues(src, r)
		}
		s.took.WithLabelValues(src)
	}
	return s
}

// Screenshot counts one outcome; a picture taken observes its time.
func (s *Screenshots) Screenshot(source, result string, took time.Duration) {
	s.total.WithLabelValues(source, result).Inc()
	if result == device.ScreenshotTaken {
		s.took.WithLabelValues(source).Observe(took.Seconds())
	}
}

// Collectors returns the series to register; none for a nil Screenshots.
func (s *Screenshots) Collectors() []prometheus.Collector {
	if s == nil {
		return nil
	}
	return []prometheus.Collector{s.total, s.took}
}
