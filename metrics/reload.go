package metrics

import "github.com/prometheus/client_golang/prometheus"

// Reloads count the configuration reloads (SIGHUP, or CONFIG_WATCH):
// media_service_config_reloads_total{result} and
// media_service_config_last_reload_successful, which the
// MediaServiceConfigReloadFailed alert reads.
type Reloads struct {
	total  *prometheus.CounterVec
	lastOK prometheus.Gauge
}

// NewReloads returns the reload series, with no reload yet: the last one
// counts as successful.
func NewReloads() *Reloads {
	r := &Reloads{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "config_reloads_total",
			Help: "Configuration reloads (SIGHUP, or CONFIG_WATCH), by result: applied, or failed (nothing changed)."}, []string{"result"}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_last_reload_successful",
			Help: "1 if the last configuration reload was applied (or none was asked for), 0 if it failed and nothing changed."}),
	}
	r.lastOK.Set(1)
	r.total.WithLabelValues("applied")
	r.total.WithLabelValues("failed")
	return r
}

// Applied counts a reload that was applied.
func (r *Reloads) Applied() {
	r.total.WithLabelValues("applied").Inc()
	r.lastOK.Set(1)
}

// Failed counts a reload that changed nothing.
func (r *Reloads) Failed() {
	r.total.WithLabelValues("failed").Inc()
	r.lastOK.Set(0)
}

// Collectors returns the series to register.
func (r *Reloads) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.total, r.lastOK}
}
