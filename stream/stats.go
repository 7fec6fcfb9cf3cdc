package stream

import (
	"sync"
	"time"

	"github.com/cloudphone/media-service/encoder"
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

// Stats is a device stream's statistics, for /api/media/stats and metrics.
type Stats struct {
	Serial           string  `json:"serial"`
	CaptureMode      string  `json:"captureMode"`
	Encoder          string  `json:"encoder"`
	Codec            string  `json:"codec"`
	ProfileLevelID   string  `json:"profileLevelId,omitempty"`
	Width            int     `json:"width"`
	Height           int     `json:"height"`
	FPS              float64 `json:"fps"`
	BitRateBytes     float64 `json:"bitrateBytesPerSecond"`
	Units            int64   `json:"units"`
	Bytes            int64   `json:"bytes"`
	KeyFrames        int64   `json:"keyFrames"`
	CaptureRestarts  int64   `json:"captureRestarts"`
	KeyFrameRequests int64   `json:"keyFrameRequests"`
	// Pipeline is set when the stream is encoded here.
	Pipeline  *encoder.Snapshot `json:"pipeline,omitempty"`
	LastError string            `json:"lastError,omitempty"`
}

// Stats returns the stream's statistics.
func (d *Device) Stats() Stats {
	fps, bw := d.window.rates()
	s := Stats{
		Serial: d.opts.Serial, CaptureMode: d.opts.Mode, Encoder: d.EncoderName(), Codec: string(d.Codec()),
		ProfileLevelID: d.ProfileLevelID(), FPS: fps, BitRateBytes: bw,
		Units: d.units.Load(), Bytes: d.bytes.Load(), KeyFrames: d.keyframes.Load(),
	}
	size := d.Size()
	s.Width, s.Height = size.Width, size.Height
	if d.stats != nil {
		st := d.stats()
		s.CaptureRestarts, s.KeyFrameRequests = st.Restarts, st.KeyFrameRequests
	}
	d.mu.Lock()
	p := d.pipeline
	if d.lastErr != nil {
		s.LastError = d.lastErr.Error()
	}
	d.mu.Unlock()
	if p != nil {
		snap := p.Stats()
		s.Pipeline = &snap
	}
	return s
}
