package device

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"
)

// rateWindow measures units and bytes per second over the last few
// seconds.
type rateWindow struct {
	mu      sync.Mutex
	start   time.Time
	units   int
	bytes   int
	fps, bw float64
}

func (w *rateWindow) add(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if w.start.IsZero() {
		w.start = now
	}
	w.units++
	w.bytes += n
	if el := now.Sub(w.start); el >= 2*time.Second {
		w.fps = float64(w.units) / el.Seconds()
		w.bw = float64(w.bytes) / el.Seconds()
		w.start, w.units, w.bytes = now, 0, 0
	}
}

func (w *rateWindow) rates() (fps, bytesPerSecond float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.start.IsZero() && time.Since(w.start) > 5*time.Second {
		return 0, 0 // nothing for a while: a still screen
	}
	return w.fps, w.bw
}

// Stats is a device's statistics, for /api/media/stats and metrics. The
// stream counters are those of its output.
type Stats struct {
	// Serial is the device's ID (named so in the API); Address its adb
	// serial, which differs where devices are found by another name.
	Serial         string  `json:"serial"`
	Address        string  `json:"address,omitempty"`
	CaptureMode    string  `json:"captureMode"`
	Encoder        string  `json:"encoder"`
	Codec          string  `json:"codec"`
	ProfileLevelID string  `json:"profileLevelId,omitempty"`
	Width          int     `json:"width"`
	Height         int     `json:"height"`
	FPS            float64 `json:"fps"`
	BitRateBytes   float64 `json:"bitrateBytesPerSecond"`
	// TargetBitRate is the encoder's rate last set from the viewers'
	// bandwidth estimates, in bits per second (0: none set).
	TargetBitRate   int   `json:"targetBitRate"`
	Units           int64 `json:"units"`
	Bytes           int64 `json:"bytes"`
	KeyFrames       int64 `json:"keyFrames"`
	CaptureRestarts int64 `json:"captureRestarts"`
	CaptureErrors   int64 `json:"captureErrors"`
	// KeyFrameRequests counts the keyframe requests of the device's
	// viewers; KeyFramesForced those that reached the encoder (or
	// restarted screenrecord) after merging and rate limiting.
	KeyFrameRequests int64 `json:"keyFrameRequests"`
	KeyFramesForced  int64 `json:"keyFramesForced"`
	// Pipeline holds the encoder's counters when the stream is encoded
	// here, on a pipeline of the device's own or on the worker pool.
	Pipeline  *encoder.Snapshot `json:"pipeline,omitempty"`
	LastError string            `json:"lastError,omitempty"`
	// Outputs are every running output of the device, one per codec and
	// rung; the fields above are the primary output's.
	Outputs []OutputStats `json:"outputs"`
	// Input is how the device's input goes: the on-device agent or the
	// shell, and why.
	Input InputStats `json:"input"`
	// Stages are the device's capture and encode stage histograms, its
	// outputs' summed. For metrics only.
	Stages StageStats `json:"-"`
}

// OutputStats are one output's statistics: what it sends, the encoder in
// use, its size and rate, and its viewers.
type OutputStats struct {
	Codec   string  `json:"codec"`
	Rung    int     `json:"rung"`
	Scale   float64 `json:"scale"`
	Encoder string  `json:"encoder"`
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	FPS     float64 `json:"fps"`
	// MinBitRate and MaxBitRate are the rung's range; TargetBitRate the
	// rate last set from its viewers' estimates.
	MinBitRate    int               `json:"minBitRate"`
	MaxBitRate    int               `json:"maxBitRate"`
	TargetBitRate int               `json:"targetBitRate"`
	Units         int64             `json:"units"`
	Viewers       int               `json:"viewers"`
	Pipeline      *encoder.Snapshot `json:"pipeline,omitempty"`
}

// Stats returns the device's statistics.
func (d *Device) Stats() Stats {
	o := d.primary()
	fps, bw := o.window.rates()
	f, size := o.formatNow()
	s := Stats{
		Serial: d.id, Address: d.serial, CaptureMode: string(d.cfg.Mode), Encoder: o.encoderName(), Codec: string(o.key.Codec),
		ProfileLevelID: f.ProfileLevelID, Width: size.Width, Height: size.Height, FPS: fps, BitRateBytes: bw,
		TargetBitRate: o.bitRate(),
		Units:         o.units.Load(), Bytes: o.bytes.Load(), KeyFrames: o.keyframes.Load(),
		CaptureErrors: d.errs.Load(), KeyFrameRequests: o.kf.asked.Load(), KeyFramesForced: o.kf.sent.Load(),
		Pipeline: o.encoderStats(),
		Stages:   d.stages(),
		Input:    d.InputStats(),
	}
	if d.sourceStats != nil {
		s.CaptureRestarts = d.sourceStats().Restarts
	}
	if err := d.LastError(); err != nil {
		s.LastError = err.Error()
	}
	for _, o := range d.allOutputs() {
		fps, _ := o.window.rates()
		_, size := o.formatNow()
		s.Outputs = append(s.Outputs, OutputStats{
			Codec: string(o.key.Codec), Rung: o.key.Rung, Scale: o.rung.Scale, Encoder: o.encoderName(),
			Width: size.Width, Height: size.Height, FPS: fps,
			MinBitRate: o.rung.MinBitRate, MaxBitRate: o.rung.MaxBitRate, TargetBitRate: o.bitRate(),
			Units: o.units.Load(), Viewers: o.b.Stats().Viewers, Pipeline: o.encoderStats(),
		})
	}
	return s
}

// encoderStats returns the output's encoder counters, nil for the
// device's own stream.
func (o *output) encoderStats() *encoder.Snapshot {
	if p, ok := o.producer().(statser); ok {
		if snap, ok := p.stats(); ok {
			return &snap
		}
	}
	return nil
}

// primary returns the device's primary output, which lives as long as
// the device.
func (d *Device) primary() *output { return d.prim }

// allOutputs returns the running outputs, by codec and rung.
func (d *Device) allOutputs() []*output {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	out := slices.Collect(maps.Values(d.outputs))
	slices.SortFunc(out, func(a, b *output) int {
		if c := strings.Compare(string(a.key.Codec), string(b.key.Codec)); c != 0 {
			return c
		}
		return a.key.Rung - b.key.Rung
	})
	return out
}

// streamStats returns the fan-out counters of the device's outputs.
func (d *Device) streamStats() []fanout.Stats {
	var out []fanout.Stats
	for _, o := range d.allOutputs() {
		out = append(out, o.b.Stats())
	}
	return out
}

// EncoderName names what produces the device's primary stream.
func (d *Device) EncoderName() string { return d.primary().encoderName() }

// Size returns the device's picture size, as its primary stream carries it.
func (d *Device) Size() media.Size {
	_, s := d.primary().formatNow()
	return s
}

// Viewers returns the number of viewers of the device's outputs.
func (d *Device) Viewers() int {
	n := 0
	for _, o := range d.allOutputs() {
		n += o.b.Stats().Viewers
	}
	return n
}
