package metrics

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Resources are the process gauges the monitors keep current.
type Resources struct {
	Goroutines prometheus.Gauge
	CPUPercent prometheus.Gauge
	Memory     prometheus.Gauge
	OpenFDs    prometheus.Gauge
}

// NewResources returns the media_service_goroutines, _cpu_percent,
// _memory_bytes and _open_fds gauges.
func NewResources() *Resources {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help})
	}
	return &Resources{
		Goroutines: g("goroutines", "Goroutines running, as the goroutine monitor last read."),
		CPUPercent: g("cpu_percent", "CPU used by the process over the last resource-monitor interval, in percent of one core."),
		Memory:     g("memory_bytes", "Resident memory of the process."),
		OpenFDs:    g("open_fds", "Open file descriptors of the process."),
	}
}

// Collectors returns the gauges for registration.
func (r *Resources) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.Goroutines, r.CPUPercent, r.Memory, r.OpenFDs}
}

// GoroutineMonitor compares the goroutine count, every Interval, with an
// exponential moving average of the counts before it, and warns (event
// goroutine_count_increased) when the count exceeds that baseline by more
// than Threshold: the sign of a leak.
type GoroutineMonitor struct {
	Interval  time.Duration // default 30 s
	Threshold float64       // default 0.2 (20%)
	Alpha     float64       // weight of the newest count in the baseline; default 0.2
	Gauge     prometheus.Gauge
	Log       *slog.Logger

	baseline float64
}

// Run checks until ctx ends.
func (m *GoroutineMonitor) Run(ctx context.Context) {
	if m.Interval <= 0 {
		m.Interval = 30 * time.Second
	}
	if m.Threshold <= 0 {
		m.Threshold = 0.2
	}
	if m.Alpha <= 0 || m.Alpha > 1 {
		m.Alpha = 0.2
	}
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	m.check()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.check()
		}
	}
}

func (m *GoroutineMonitor) check() {
	n := float64(runtime.NumGoroutine())
	if m.Gauge != nil {
		m.Gauge.Set(n)
	}
	if m.baseline == 0 {
		m.baseline = n
		return
	}
	if n > m.baseline*(1+m.Threshold) {
		m.Log.Warn("goroutine count increased", "event", "goroutine_count_increased",
			"goroutines", int(n), "baseline", int(m.baseline), "threshold_percent", int(m.Threshold*100))
	}
	m.baseline = m.Alpha*n + (1-m.Alpha)*m.baseline
}

// ResourceMonitor reads the process's CPU use, resident memory and open
// file descriptors every Interval into its gauges.
type ResourceMonitor struct {
	Interval time.Duration // default 10 s
	R        *Resources
	Log      *slog.Logger

	lastCPU  time.Duration
	lastTime time.Time
}

// Run samples until ctx ends.
func (m *ResourceMonitor) Run(ctx context.Context) {
	if m.Interval <= 0 {
		m.Interval = 10 * time.Second
	}
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	m.Sample()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Sample()
		}
	}
}

// Sample reads the resources once.
func (m *ResourceMonitor) Sample() {
	now := time.Now()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		if !m.lastTime.IsZero() {
			if wall := now.Sub(m.lastTime); wall > 0 {
				m.R.CPUPercent.Set(100 * float64(cpu-m.lastCPU) / float64(wall))
			}
		}
		m.lastCPU, m.lastTime = cpu, now
	}
	if rss, ok := residentBytes(); ok {
		m.R.Memory.Set(float64(rss))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		m.R.OpenFDs.Set(float64(len(fds)))
	}
	m.R.Goroutines.Set(float64(runtime.NumGoroutine()))
}

// residentBytes reads VmRSS from /proc/self/status.
func residentBytes() (int64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err == nil
			}
		}
	}
	return 0, false
}
