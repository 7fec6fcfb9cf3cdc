package device

import (
	"sync/atomic"

	"github.com/cloudphone/media-service/native"
)

// Live are the settings that a configuration reload changes while the
// devices run (Registry.SetLive). They apply to what starts from then on:
// the encoder of a new output, the capture of a device that starts, a new
// viewer's rungs. Running encoders and captures keep their settings, so
// that no viewer sees a stall.
type Live struct {
	// Encoder's FrameRate, BitRate (the rate an encoder starts at),
	// Preset, Profile and KeyFrameInterval replace Config.Encoder's; its
	// other fields are not read.
	Encoder native.Options
	// ScreenrecordBitRate replaces Config.ScreenrecordBitRate.
	ScreenrecordBitRate int
	// MinBitRate, MaxBitRate and Rungs replace Config's; Rungs must have
	// as many rungs as Config.Rungs (VIDEO_RUNGS needs a restart).
	MinBitRate, MaxBitRate int
	Rungs                  []Rung
	// Workers resizes the worker pool (encoder.WorkerPool.SetWorkers).
	Workers int
}

// liveOf returns cfg's live settings.
func liveOf(cfg Config) Live {
	return Live{Encoder: cfg.Encoder, ScreenrecordBitRate: cfg.ScreenrecordBitRate,
		MinBitRate: cfg.MinBitRate, MaxBitRate: cfg.MaxBitRate, Rungs: cfg.Rungs, Workers: cfg.Workers}
}

// current returns c with the live settings of the last SetLive.
func (c Config) current() Config {
	if c.live == nil {
		return c
	}
	l := c.live.Load()
	c.Encoder.FrameRate, c.Encoder.BitRate, c.Encoder.Preset = l.Encoder.FrameRate, l.Encoder.BitRate, l.Encoder.Preset
	c.Encoder.Profile, c.Encoder.KeyFrameInterval = l.Encoder.Profile, l.Encoder.KeyFrameInterval
	c.ScreenrecordBitRate = l.ScreenrecordBitRate
	c.MinBitRate, c.MaxBitRate, c.Workers = l.MinBitRate, l.MaxBitRate, l.Workers
	if len(l.Rungs) == len(c.Rungs) {
		c.Rungs = l.Rungs
	}
	return c
}

// SetLive applies l to what starts from then on (see Live), and resizes
// the worker pool at once.
func (r *Registry) SetLive(l Live) {
	cur := liveOf(r.cfg)
	if l.MinBitRate <= 0 {
		l.MinBitRate = cur.MinBitRate
	}
	if l.MaxBitRate <= 0 {
		l.MaxBitRate = cur.MaxBitRate
	}
	if l.Workers <= 0 {
		l.Workers = cur.Workers
	}
	r.cfg.live.Store(&l)
	if p := r.pool.Load(); p != nil {
		p.pool.SetWorkers(l.Workers)
	}
}

// newLive returns the live settings' holder, starting with cfg's.
func newLive(cfg Config) *atomic.Pointer[Live] {
	p := &atomic.Pointer[Live]{}
	l := liveOf(cfg)
	p.Store(&l)
	return p
}
