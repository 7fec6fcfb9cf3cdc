package device

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
)

// BenchmarkInjection measures, side by side on the simulated phone with
// its costs (devicesim's model of a real one), the time from a viewer's
// tap (Viewer.Input) to the device injecting it: through the on-device
// agent, and through the shell's input command on Android 14 and on
// Android 11 (a Java VM per command). Each iteration waits for its tap
// to arrive; ms/tap is the mean, p50-ms and p95-ms the percentiles.
//
//	third_party/with-ffmpeg.sh go test -run '^$' -bench Injection -benchtime 20x ./device
func BenchmarkInjection(b *testing.B) {
	for _, c := range []struct {
		name  string
		agent string
		sdk   int
	}{
		{"agent/sdk34", InputAgentAuto, 34},
		{"shell/sdk34", InputAgentOff, 34},
		{"shell/sdk30", InputAgentOff, 30},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := newRigWith(b, Config{InputAgent: c.agent}, devicesim.Options{Width: 240, Height: 320, Static: true, SDK: c.sdk})
			f := r.join(b, context.Background(), "a")
			defer f.Close()
			d, _ := r.reg.Device(r.serial)
			want := "shell"
			if c.agent == InputAgentAuto {
				want = "agent"
			}
			testutil.Eventually(b, "input ready", testutil.Generous, func() bool { return d.InputStats().Method == want })
			var lat []time.Duration
			for i := 0; b.Loop(); i++ {
				before := len(r.sim.Events())
				start := time.Now()
				if err := f.Input(context.Background(), media.Input{Type: media.InputTap, X: float64(i%10) / 10, Y: 0.5}); err != nil {
					b.Fatal(err)
				}
				for {
					evs := r.sim.Events()
					if len(evs) > before {
						lat = append(lat, evs[len(evs)-1].Time.Sub(start))
						break
					}
					time.Sleep(100 * time.Microsecond)
				}
				// Through the agent a tap is a down and an up: wait for both.
				for c.agent == InputAgentAuto && len(r.sim.Events()) < before+2 {
					time.Sleep(100 * time.Microsecond)
				}
			}
			slices.Sort(lat)
			var sum time.Duration
			for _, l := range lat {
				sum += l
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(sum)/float64(len(lat)), "ms/tap")
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*95/100]), "p95-ms")
		})
	}
}
