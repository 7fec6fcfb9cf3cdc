package main

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/capture/annexb"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/internal/piontest"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// arrival is one access unit a viewer received.
type arrival struct {
	at  time.Time
	key bool
}

// frameViewer is a Pion viewer that notes when each access unit arrives
// and whether it is an IDR.
type frameViewer struct {
	mu     sync.Mutex
	frames []arrival
}

func (v *frameViewer) after(t time.Time) (first, firstKey time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, f := range v.frames {
		if !f.at.After(t) {
			continue
		}
		if first.IsZero() {
			first = f.at
		}
		if f.key && firstKey.IsZero() {
			firstKey = f.at
		}
	}
	return first, firstKey
}

func (v *frameViewer) lastBefore(t time.Time) time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	var last time.Time
	for _, f := range v.frames {
		if f.at.Before(t) {
			last = f.at
		}
	}
	return last
}

func (v *frameViewer) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.frames)
}

// watch opens a session on the service and records its access units.
func watch(b *testing.B, base, device string) *frameViewer {
	b.Helper()
	v := &frameViewer{}
	sb := samplebuilder.New(256, &codecs.H264Packet{}, 90000) // one track: one goroutine
	pv, offer := piontest.New(b, piontest.Options{OnPacket: func(pkt *rtp.Packet) {
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			key := false
			for nal := range annexb.NALUnits(s.Data) {
				key = key || annexb.NALType(nal) == annexb.NALIDR
			}
			v.mu.Lock()
			v.frames = append(v.frames, arrival{time.Now(), key})
			v.mu.Unlock()
		}
	}})
	code, _, body := call(b, "POST", base+"/api/media/sessions", "application/json", sessionBody(device, offer))
	if code != 201 {
		b.Fatalf("create session: %d %s", code, body)
	}
	var created struct{ Answer string }
	json.Unmarshal([]byte(body), &created)
	pv.Answer(b, created.Answer)
	return v
}

// BenchmarkFreezeRecovery freezes the service process (SIGSTOP, 300 ms,
// SIGCONT) once per iteration while a Pion viewer watches a 30 fps
// raw-frames device encoded here with libx264, and reports what the
// viewer saw: the gap between the last frame before the freeze and the
// first after it, the time from SIGCONT to that frame and to the next
// IDR, and the frames the pipeline dropped; and the encoder's side: encode
// timeouts, process stalls recognised, and the share of encodes over
// 20 ms across all the freezes.
func BenchmarkFreezeRecovery(b *testing.B) {
	const pause = 300 * time.Millisecond
	base, sim, cmd, _ := childService(b, devicesim.Options{Width: 360, Height: 640, FPS: 30}, map[string]string{
		"CAPTURE_MODE": "raw-frames", "VIDEO_ENCODER_TYPE": "h264", "H264_PRESET": "ultrafast", "VIDEO_FRAMERATE": "30",
	})
	v := watch(b, base, sim.Addr())
	for deadline := time.Now().Add(60 * time.Second); v.count() < 30; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d frames before the first freeze", v.count())
		}
	}
	before := readPipeline(b, base)
	var gaps, resumes, idrs []float64
	noIDR := 0
	b.ResetTimer()
	for range b.N {
		time.Sleep(time.Second) // steady state
		stopped := time.Now()
		freeze(b, cmd, pause)
		resumed := time.Now()
		var first, key time.Time
		for deadline := resumed.Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if first, key = v.after(resumed); !key.IsZero() {
				break
			}
		}
		if first.IsZero() {
			b.Fatal("no frame within 10 s of the freeze's end")
		}
		gaps = append(gaps, ms(first.Sub(v.lastBefore(stopped))))
		resumes = append(resumes, ms(first.Sub(resumed)))
		if key.IsZero() {
			noIDR++
		} else {
			idrs = append(idrs, ms(key.Sub(resumed)))
		}
	}
	b.StopTimer()
	after := readPipeline(b, base)
	if before.Pipeline == nil || after.Pipeline == nil {
		b.Fatal("no encoder statistics")
	}
	p0, p1 := before.Pipeline, after.Pipeline
	var lost int64
	for reason, n := range p1.Dropped {
		lost += n - p0.Dropped[reason]
	}
	var slow, all int64
	for i := range p1.LatencyBuckets {
		d := p1.LatencyBuckets[i] - p0.LatencyBuckets[i]
		all += d
		if i >= slices.Index(encoder.LatencyBuckets[:], 20*time.Millisecond)+1 {
			slow += d
		}
	}
	b.ReportMetric(median(gaps), "gap-ms")
	b.ReportMetric(slices.Max(gaps), "max-gap-ms")
	b.ReportMetric(median(resumes), "resume-ms")
	if len(idrs) > 0 {
		b.ReportMetric(median(idrs), "next-idr-ms")
	}
	b.ReportMetric(float64(lost)/float64(b.N), "dropped/freeze")
	b.ReportMetric(float64(p1.EncodingTimeouts-p0.EncodingTimeouts), "timeouts")
	b.ReportMetric(float64(p1.ProcessStalls-p0.ProcessStalls), "stalls")
	if all > 0 {
		b.ReportMetric(100*float64(slow)/float64(all), "%encodes>20ms")
	}
	b.Logf("%d freezes of %v: gaps %v ms, no IDR within 10 s after %d", b.N, pause, gaps, noIDR)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
