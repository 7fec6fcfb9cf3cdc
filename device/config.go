package device

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// Config is what every device's owner is built from. The zero value of a
// field selects the default given.
type Config struct {
	// ADB reaches the devices.
	ADB *adb.Client
	// Locate returns the adb serial (address) of a device ID. It is
	// called at each start of the device, so a device keeps its ID while
	// its address changes (a pod's new IP, a phone on another port).
	// Default: the ID is the serial.
	Locate func(ctx context.Context, id string) (serial string, err error)
	// Release is called once for each Locate that succeeded, when that
	// run of the device has ended: it stopped, or its start failed after
	// Locate. A fleet gives the device's Lease back and disconnects it.
	// It must not block long. Default: nothing.
	Release func(id, serial string)
	// Mode is the capture mode (CAPTURE_MODE); Kind the encoder choice
	// (VIDEO_ENCODER_TYPE).
	Mode media.CaptureMode
	Kind media.EncoderKind
	// H264 returns the working H.264 encoders, best first (the probe's
	// answer). It is called when the first device that encodes here
	// starts, and may wait for the probe.
	H264 func() []string
	// Encoder holds the encoding options; the size comes from the frames.
	Encoder native.Options
	// ScreenrecordBitRate is the device encoder's rate in pass-through.
	ScreenrecordBitRate int
	// EncodeTimeout, WriteTimeout and CloseTimeout bound the encoding
	// pipeline (encoder.PipelineOptions).
	EncodeTimeout, WriteTimeout, CloseTimeout time.Duration
	// WorkerPool (USE_WORKER_POOL) encodes every device's pictures on one
	// shared pool of Workers (WORKER_COUNT) goroutines instead of a
	// pipeline per device.
	WorkerPool bool
	Workers    int
	// FirstKeyFrame bounds the wait for a device's first keyframe, which
	// tells its size and profile. Default 15s.
	FirstKeyFrame time.Duration
	// Linger keeps a device running this long after its last viewer left,
	// so a viewer that comes back finds it running. Default 5s; negative:
	// stop at once.
	Linger time.Duration
	// ViewerQueue is the number of units each viewer may have waiting.
	// Default 64.
	ViewerQueue int
	// KeyFrameMinInterval is the least time between two keyframes asked of
	// an encoder here; requests in between are merged into one at the end
	// of the interval. Default 500ms. A pass-through output restarts the
	// device's screenrecord for a keyframe, so it waits at least
	// PassthroughKeyFrameMinInterval.
	KeyFrameMinInterval time.Duration
	// MinBitRate and MaxBitRate bound the rate that the viewers' bandwidth
	// estimates set on an encoder here. Defaults 150 kb/s and 8 Mb/s.
	MinBitRate, MaxBitRate int
	// Rungs are the quality rungs (see Rungs); default one rung over
	// MinBitRate..MaxBitRate. Pass-through has one rung.
	Rungs []fanout.Rung
	// BitRateInterval is the least time between two rate changes of an
	// encoder. Default 500ms.
	BitRateInterval time.Duration
	// InputAgent (INPUT_AGENT) is InputAgentAuto (the default: input
	// through the on-device agent, the shell's input command while it
	// cannot run) or InputAgentOff (the shell only).
	InputAgent string
	// Log receives the owners' logs; default slog.Default().
	Log *slog.Logger
	// LocateCapture returns the adb serial of a device that does not run
	// here, for a one-off screenshot (Registry.Screenshot), and what to
	// call once it is taken; it must not start the device. A fleet
	// connects the adb server to the device's pod. Default: the ID is the
	// serial.
	LocateCapture func(ctx context.Context, id string) (serial string, done func(), err error)
	// Screenshots counts the screenshots (metrics); nil: none.
	Screenshots ScreenshotMetrics

	// live holds the settings of Registry.SetLive, shared by every copy
	// of the registry's Config (see current).
	live *atomic.Pointer[Config]
}

// PassthroughKeyFrameMinInterval is the least time between two
// screenrecord restarts that keyframe requests cause.
const PassthroughKeyFrameMinInterval = time.Second

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.FirstKeyFrame <= 0 {
		c.FirstKeyFrame = 15 * time.Second
	}
	if c.Linger == 0 {
		c.Linger = 5 * time.Second
	}
	if c.ViewerQueue <= 0 {
		c.ViewerQueue = 64
	}
	if c.KeyFrameMinInterval <= 0 {
		c.KeyFrameMinInterval = 500 * time.Millisecond
	}
	if c.MinBitRate <= 0 {
		c.MinBitRate = media.DefaultMinBitRate
	}
	if c.MaxBitRate <= 0 {
		c.MaxBitRate = media.DefaultMaxBitRate
	}
	if len(c.Rungs) == 0 {
		c.Rungs = fanout.Rungs([]float64{1}, c.MinBitRate, c.MaxBitRate)
	}
	if c.BitRateInterval <= 0 {
		c.BitRateInterval = 500 * time.Millisecond
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Locate == nil {
		c.Locate = func(_ context.Context, id string) (string, error) { return id, nil }
	}
	if c.Release == nil {
		c.Release = func(string, string) {}
	}
	if c.H264 == nil {
		c.H264 = func() []string { return nil }
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// codecs are the codecs the configuration sends.
func (c Config) codecs() []media.Codec {
	p, err := planFor(c.Mode, c.Kind)
	if err != nil {
		return nil
	}
	return p.codecs()
}
