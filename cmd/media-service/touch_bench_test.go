package main

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/testutil"
)

// BenchmarkTouchToPhoton measures touch to photon: the viewer page in
// headless Chromium taps the simulated device's picture (the page's
// window.__touchProbe: a finger's down and up over the input channel)
// and times from sending the tap to the presentation of the first video
// frame that shows the tap's mark there (pointer 0's red disc). devicesim
// runs at 720x1280, 30 fps, API 34, with a phone's costs on: 2..5 ms per
// event through the input agent, 25..60 ms per input command through the
// shell. Each sub-benchmark taps TOUCH_SAMPLES times (default 30) at
// distinct points off the picture's animated parts and colour bars,
// waiting after each until the device has the tap's up, its input queue
// is empty, and a few frames have gone by.
//
// It reports p50-ms, p95-ms and samples, and splits each sample at the
// moment the device injected the tap's down (devicesim's record of it,
// against the page's clock): inject-* is the page to the device (data
// channel, service, agent or input command), display-* the device to the
// page's presented frame (capture, encode, adb, service, WebRTC, decode),
// and arrival-* the device to the arrival of that frame's last packet in
// the browser (requestVideoFrameCallback's receiveTime). g2g-* is the
// glass-to-glass latency the page measured over the same run (the
// device's capture stamp to presentation), the reference for display-*,
// and g2g-arrival-* its split at the frame's arrival, the reference for
// arrival-*.
//
// The paths: agent/... through the input agent (waiting until it runs),
// shell/... through the input command (INPUT_AGENT=off); .../passthrough
// streams the device's H.264 as it is, .../h264 decodes it and encodes it
// again here (VIDEO_ENCODER_TYPE=h264).
//
// Like BenchmarkGlassToGlass, each sub-benchmark's body runs once whatever
// b.N is; ns/op is meaningless.
//
//	third_party/with-ffmpeg.sh go test -run '^$' -bench TouchToPhoton -benchtime 1x ./cmd/media-service
func BenchmarkTouchToPhoton(b *testing.B) {
	samples := 30
	if v := os.Getenv("TOUCH_SAMPLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > len(touchPoints()) {
			b.Fatalf("TOUCH_SAMPLES=%q: want a whole number from 1 to %d", v, len(touchPoints()))
		}
		samples = n
	}
	for _, c := range []struct {
		name, method string
		extra        map[string]string
	}{
		{"agent/passthrough", "agent", nil},
		{"agent/h264", "agent", map[string]string{"VIDEO_ENCODER_TYPE": "h264"}},
		{"shell/passthrough", "shell", map[string]string{"INPUT_AGENT": "off"}},
		{"shell/h264", "shell", map[string]string{"INPUT_AGENT": "off", "VIDEO_ENCODER_TYPE": "h264"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			run := measureTouches(b, c.method, c.extra, samples)
			b.ReportMetric(percentile(run.total, 50), "p50-ms")
			b.ReportMetric(percentile(run.total, 95), "p95-ms")
			b.ReportMetric(float64(len(run.total)), "samples")
			for _, m := range []struct {
				name string
				v    []float64
			}{{"inject", run.inject}, {"display", run.display}, {"arrival", run.arrival}, {"g2g", run.g2g}, {"g2g-arrival", run.g2gArrival}} {
				if len(m.v) > 0 {
					b.ReportMetric(percentile(m.v, 50), m.name+"-p50-ms")
					b.ReportMetric(percentile(m.v, 95), m.name+"-p95-ms")
				}
			}
		})
	}
}

// touchRun is what one run measured, in ms, each sorted: the taps'
// touch to photon, split at the device's injection, with the device to
// the arrival of the frame that showed the tap; and the page's
// glass-to-glass samples over the same time, with their arrivals.
type touchRun struct {
	total, inject, display, arrival, g2g, g2gArrival []float64
}

// touchPoints are where the benchmark taps, as fractions of the picture:
// a grid whose pitch (7% of the width, 5% of the height) is wider than a
// mark (a disc of 2.5% of the width in radius), in rows clear of the
// clock at the top, the moving box's band (45..55% of the height), the
// colour bars (62..70%, which hold a pure red) and the text, key and
// stamp areas at the bottom.
func touchPoints() [][2]float64 {
	var pts [][2]float64
	for _, y := range []float64{0.14, 0.19, 0.24, 0.29, 0.34, 0.39, 0.74, 0.79} {
		for x := 0.08; x < 0.95; x += 0.07 {
			pts = append(pts, [2]float64{x, y})
		}
	}
	return pts
}

// measureTouches runs the service with a 720x1280 device and the viewer
// page, waits until input goes by method, and taps n times.
func measureTouches(b *testing.B, method string, extra map[string]string, n int) touchRun {
	b.Helper()
	const w, h = 720, 1280
	// The benchmark reads the stats between taps; the page's own
	// requests must not meet the API's rate limit.
	vars := map[string]string{"LOG_LEVEL": "info", "RATE_LIMIT": "10000"}
	for k, v := range extra {
		vars[k] = v
	}
	base, sim, _ := serviceWith(b, devicesim.Options{Width: w, Height: h, FPS: 30, SDK: 34}, vars)
	p := openViewer(b, base, sim, w, h)
	waitInputMethod(b, base, method)
	p.waitJS("the page to know how input goes", `viewer.input && viewer.input.method === "`+method+`"`)
	// Warm-up: the first glass-to-glass samples, then 2 s to settle.
	p.waitJS("glass-to-glass samples", `viewer.latencyCount > 0`)
	time.Sleep(2 * time.Second)

	type g2gState struct {
		Count     int        `json:"count"`
		Latencies []float64  `json:"latencies"`
		Arrivals  []*float64 `json:"arrivals"`
	}
	readG2G := func() g2gState {
		var s g2gState
		p.eval(`({count: viewer.latencyCount, latencies: viewer.latencies, arrivals: viewer.arrivals})`, &s)
		return s
	}
	prev := readG2G()
	// The split below compares the page's clock with the device's (this
	// process's): log how far apart they are, best of five reads.
	offset, rtt := 0.0, time.Hour
	for range 5 {
		var pageNow float64
		t1 := time.Now()
		p.eval(`performance.timeOrigin + performance.now()`, &pageNow)
		t2 := time.Now()
		if d := t2.Sub(t1); d < rtt {
			rtt, offset = d, pageNow-float64(t1.UnixMicro()+t2.UnixMicro())/2000
		}
	}
	b.Logf("the page's clock is %+.2f ms off this process's (read in %v)", offset, rtt.Round(time.Microsecond))
	var run touchRun
	red := devicesim.PointerColors[0]
	for i, pt := range touchPoints()[:n] {
		// The device is idle: nothing queued or in flight.
		testutil.EventuallyErr(b, "the device's input to be idle", time.Minute, func() (bool, error) {
			in, err := inputStats(base)
			return err == nil && in.Method == method && in.Queued == 0 && !in.InFlight, err
		})
		from := p.mark()
		var res struct {
			MS       float64 `json:"ms"`
			Sent     float64 `json:"sent"`
			Received float64 `json:"received"`
		}
		// sent is when the page sent the tap on the input channel (the
		// probe's first send: it sends synchronously, after reading the
		// frame once); received when the last packet of the frame that
		// showed the tap arrived (requestVideoFrameCallback's
		// receiveTime of the frame presented when the probe saw it; 0
		// where the browser does not tell); both Unix ms on the page's
		// clock.
		p.eval(fmt.Sprintf(`(() => {
			const ch = channel, send = ch.send, v = document.getElementById("screen"), frames = [];
			let sent = 0, watching = true;
			ch.send = function (...args) { if (!sent) sent = performance.now(); return send.apply(this, args); };
			const cb = (now, m) => {
				if (!watching) return;
				frames.push({shown: m.presentationTime, received: m.receiveTime || 0});
				v.requestVideoFrameCallback(cb);
			};
			v.requestVideoFrameCallback(cb);
			return window.__touchProbe(%g, %g, [%d, %d, %d], {timeoutMs: 5000}).then((ms) => {
				let f = null;
				for (const g of frames) if (!f || Math.abs(g.shown - sent - ms) < Math.abs(f.shown - sent - ms)) f = g;
				return {ms, sent: performance.timeOrigin + sent, received: f && f.received ? performance.timeOrigin + f.received : 0};
			}).finally(() => { watching = false; delete ch.send; });
		})()`, pt[0], pt[1], red.R, red.G, red.B), &res)
		touches := waitTouchUp(b, sim, from, fmt.Sprintf("tap %d's up on the device", i))
		if touches[0].Action != devicesim.ActionDown {
			b.Fatalf("tap %d arrived as:\n%s", i, describeEvents(touches))
		}
		sent := time.UnixMicro(int64(math.Round(res.Sent * 1000)))
		inject := float64(touches[0].Time.Sub(sent).Microseconds()) / 1000
		run.total = append(run.total, res.MS)
		run.inject = append(run.inject, inject)
		run.display = append(run.display, res.MS-inject)
		if res.Received > 0 {
			run.arrival = append(run.arrival, res.Received-res.Sent-inject)
		}
		// A few frames go by before the next tap.
		time.Sleep(150 * time.Millisecond)
		s := readG2G()
		k := min(s.Count-prev.Count, len(s.Latencies))
		run.g2g = append(run.g2g, s.Latencies[len(s.Latencies)-k:]...)
		if len(s.Arrivals) == len(s.Latencies) {
			for _, a := range s.Arrivals[len(s.Arrivals)-k:] {
				if a != nil {
					run.g2gArrival = append(run.g2gArrival, *a)
				}
			}
		}
		prev = s
	}
	b.Logf("%s: inject (page → device) p50 %.1f ms; touch to photon p50 %.1f ms; %d glass-to-glass samples",
		method, median(run.inject), median(run.total), len(run.g2g))
	for _, v := range [][]float64{run.total, run.inject, run.display, run.arrival, run.g2g, run.g2gArrival} {
		sort.Float64s(v)
	}
	return run
}
