package metrics

import (
	"github.com/cloudphone/media-service/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

var _ webhook.Metrics = (*Webhooks)(nil)

// Webhooks count the lifecycle webhooks' deliveries (package webhook),
// by endpoint name (bounded: the configuration names them):
// media_service_webhook_deliveries_total{endpoint,result},
// media_service_webhook_events_dropped_total{endpoint} and
// media_service_webhook_queued_events{endpoint}. It implements
// webhook.Metrics.
type Webhooks struct {
	deliveries, dropped *prometheus.CounterVec
	queued              *prometheus.GaugeVec
}

// NewWebhooks returns the webhook series, with no endpoint yet.
func NewWebhooks() *Webhooks {
	return &Webhooks{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "webhook_deliveries_total",
			Help: "Webhook outcomes, by endpoint and result: delivered (an event answered 2xx), retried (an attempt failed and will be retried), failed (an event given up: its retries ran out, or 410 Gone)."},
			[]string{"endpoint", "result"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "webhook_events_dropped_total",
			Help: "Webhook events abandoned without delivery, by endpoint: the oldest of a full queue, those left at shutdown or when the endpoint was removed, and those of an endpoint disabled by 410 Gone."},
			[]string{"endpoint"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "webhook_queued_events",
			Help: "Webhook events waiting in the endpoint's queue (the one being sent not counted)."}, []string{"endpoint"}),
	}
}

// Endpoint makes an endpoint's series exist at zero.
func (w *Webhooks) Endpoint(name string) {
	for _, r := range []string{webhook.ResultDelivered, webhook.ResultRetried, webhook.ResultFailed} {
		w.deliveries.WithLabelValues(name, r)
	}
	w.dropped.WithLabelValues(name)
	w.queued.WithLabelValues(name)
}

// Queued sets the endpoint's queue length.
func (w *Webhooks) Queued(name string, n int) { w.queued.WithLabelValues(name).Set(float64(n)) }

// Dropped counts events dropped.
func (w *Webhooks) Dropped(name string, n int) { w.dropped.WithLabelValues(name).Add(float64(n)) }

// Delivery counts one outcome.
func (w *Webhooks) Delivery(name, result string) { w.deliveries.WithLabelValues(name, result).Inc() }

// Collectors returns the series to register.
func (w *Webhooks) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.deliveries, w.dropped, w.queued}
}
