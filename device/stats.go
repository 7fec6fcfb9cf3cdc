package device

import (
	"sync"
	"time"

	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/rtc"
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
	Serial         string  `json:"serial"`
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
}

// Stats returns the device's statistics.
func (d *Device) Stats() Stats {
	o := d.outputs[0]
	fps, bw := o.window.rates()
	f, size := o.formatNow()
	s := Stats{
		Serial: d.id, CaptureMode: string(d.cfg.Mode), Encoder: o.encoderName(), Codec: string(o.key.Codec),
		ProfileLevelID: f.ProfileLevelID, Width: size.Width, Height: size.Height, FPS: fps, BitRateBytes: bw,
		TargetBitRate: o.bitRate(),
		Units:         o.units.Load(), Bytes: o.bytes.Load(), KeyFrames: o.keyframes.Load(),
		CaptureErrors: d.errs.Load(), KeyFrameRequests: o.kf.asked.Load(), KeyFramesForced: o.kf.sent.Load(),
	}
	if d.sourceStats != nil {
		s.CaptureRestarts = d.sourceStats().Restarts
	}
	if err := d.LastError(); err != nil {
		s.LastError = err.Error()
	}
	if p := d.pipeline.Load(); p != nil {
		snap := p.Stats()
		s.Pipeline = &snap
	} else if d.pool != nil {
		if snap, ok := d.pool.streamStats(d.id); ok {
			s.Pipeline = &snap
		}
	}
	return s
}

// broadcasterStats returns the fan-out counters of the device's outputs.
func (d *Device) broadcasterStats() []rtc.BroadcasterStats {
	out := make([]rtc.BroadcasterStats, 0, len(d.outputs))
	for _, o := range d.outputs {
		out = append(out, o.b.Stats())
	}
	return out
}

// EncoderName names what produces the device's stream.
func (d *Device) EncoderName() string { return d.outputs[0].encoderName() }

// Size returns the device's picture size, as its stream carries it.
func (d *Device) Size() media.Size {
	_, s := d.outputs[0].formatNow()
	return s
}

// Viewers returns the number of viewers of the device's outputs.
func (d *Device) Viewers() int {
	n := 0
	for _, o := range d.outputs {
		n += o.b.Stats().Viewers
	}
	return n
}
