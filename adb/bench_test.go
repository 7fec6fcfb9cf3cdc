package adb

import (
	"context"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
)

// BenchmarkInputLatency measures the time from an Input call to the
// device receiving the event, through the real adb server and one
// persistent shell: the transport's share, on a simulated device without
// a phone's costs (device.BenchmarkInjection has those).
func BenchmarkInputLatency(b *testing.B) {
	c, sim, serial := startDevice(b, adbtest.Start(b), devicesim.Options{Static: true, NoCosts: true})
	in, err := NewInput(c, serial, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	ctx := context.Background()
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		before := len(sim.Events())
		start := time.Now()
		if err := in.Tap(ctx, i%200, 100); err != nil {
			b.Fatal(err)
		}
		for len(sim.Events()) == before {
			time.Sleep(20 * time.Microsecond)
		}
		evs := sim.Events()
		total += evs[len(evs)-1].Time.Sub(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/event")
}
