package device

import (
	"sync/atomic"

	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// ConfigFrom returns the devices' settings from the service's
// configuration, at start and at every reload (Registry.SetLive). ADB,
// Locate, H264 and Log are the caller's to set.
func ConfigFrom(c config.Config) Config {
	return Config{
		Mode: media.CaptureMode(c.CaptureMode),
		Kind: media.EncoderKind(c.VideoEncoderType),
		Encoder: native.Options{FrameRate: c.VideoFrameRate, BitRate: c.VideoBitRate, Preset: c.H264Preset,
			Profile: c.H264Profile, KeyFrameInterval: c.KeyFrameInterval, VAAPIDevice: c.VAAPIDevice},
		ScreenrecordBitRate: c.VideoBitRate,
		EncodeTimeout:       c.EncodeTimeout,
		WriteTimeout:        c.WriteTimeout,
		CloseTimeout:        c.EncoderCloseTimeout,
		MinBitRate:          c.MinBitRate,
		MaxBitRate:          c.MaxBitRate,
		Rungs:               fanout.Rungs(c.Rungs, c.MinBitRate, c.MaxBitRate),
		WorkerPool:          c.UseWorkerPool,
		Workers:             c.WorkerCount,
		InputAgent:          c.InputAgent,
	}
}

// withLive returns c with the settings of next that a reload changes
// while the devices run (Registry.SetLive). They apply to what starts
// from then on: the encoder of a new output, the capture of a device that
// starts, a new viewer's rungs; running encoders and captures keep theirs,
// so that no viewer sees a stall. They are the encoder's FrameRate,
// BitRate (the rate an encoder starts at), Preset, Profile and
// KeyFrameInterval, ScreenrecordBitRate, MinBitRate, MaxBitRate, Rungs
// (when next has as many: VIDEO_RUNGS needs a restart) and Workers (the
// worker pool is resized at once). Zero fields of next keep c's.
func (c Config) withLive(next Config) Config {
	e, n := &c.Encoder, next.Encoder
	e.FrameRate, e.BitRate, e.Preset, e.Profile, e.KeyFrameInterval = n.FrameRate, n.BitRate, n.Preset, n.Profile, n.KeyFrameInterval
	c.ScreenrecordBitRate = next.ScreenrecordBitRate
	if next.MinBitRate > 0 {
		c.MinBitRate = next.MinBitRate
	}
	if next.MaxBitRate > 0 {
		c.MaxBitRate = next.MaxBitRate
	}
	if next.Workers > 0 {
		c.Workers = next.Workers
	}
	if len(next.Rungs) == len(c.Rungs) {
		c.Rungs = next.Rungs
	}
	return c
}

// current returns c with the live settings of the last SetLive.
func (c Config) current() Config {
	if c.live == nil {
		return c
	}
	return c.withLive(*c.live.Load())
}

// SetLive applies the live settings of next (see Config.withLive) to
// what starts from then on, and resizes the worker pool at once.
func (r *Registry) SetLive(next Config) {
	cur := r.cfg.current().withLive(next)
	r.cfg.live.Store(&cur)
	if p := r.pool.Load(); p != nil {
		p.pool.SetWorkers(cur.Workers)
	}
}

// newLive returns the live settings' holder, starting with cfg.
func newLive(cfg Config) *atomic.Pointer[Config] {
	p := &atomic.Pointer[Config]{}
	p.Store(&cfg)
	return p
}
