// Package device holds the one owner of each device's media. A Device
// owns the device's capture, its decoder and encoders, its outputs (one
// per codec and quality rung, each with its own fan-out, keyframe limiter
// and bit-rate control), its input and its statistics. The Registry is a
// reference-counted registry of Devices: it implements rtc.Provider, so
// a WebRTC session joins a device through it, and it starts a device for
// the device's first viewer and stops it after its last one left.
package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/capture"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/internal/lograte"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
	"github.com/cloudphone/media-service/rtc"
)

// ErrNoKeyFrame is returned when a device produced no keyframe in time.
var ErrNoKeyFrame = errors.New("device: no keyframe from the device in time")

// Device is one device's media, owned in one place: capture, coders,
// outputs with their fan-out, keyframe limiting and bit-rate control,
// input and statistics.
type Device struct {
	id     string
	cfg    Config
	log    *slog.Logger
	choice encoder.Choice

	cancel context.CancelFunc
	wg     sync.WaitGroup

	outputs []*output // fixed once started
	input   *adb.Input
	geom    atomic.Pointer[adb.Geometry]
	control control

	sourceStats func() capture.SourceStats
	pipeline    atomic.Pointer[encoder.Pipeline] // nil in pass-through and on the pool
	pool        *poolRouter                      // set when encoded on the worker pool

	mu         sync.Mutex
	lastErr    error
	errs       atomic.Int64 // capture errors
	captureLog lograte.Limiter
}

// start starts capture (and encoding) for a device and waits for its
// first keyframe, so that the stream's format and size are known. The
// device runs under ctx until Close.
func start(ctx context.Context, id string, cfg Config, pool func() (*poolRouter, error)) (_ *Device, err error) {
	choice, err := encoder.RecommendedEncoderForCaptureFormat(cfg.Mode, cfg.Kind, h264For(cfg))
	if err != nil {
		return nil, err
	}
	if choice.Decode {
		return nil, fmt.Errorf("%w: re-encoding screenrecord's H.264 (%s with CAPTURE_MODE=screenrecord) is not supported; use CAPTURE_MODE=raw-frames or screencap", media.ErrConfig, choice.Kind)
	}
	list, err := cfg.ADB.Devices(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(list, func(d adb.DeviceInfo) bool { return d.Serial == id && d.State == "device" }) {
		return nil, fmt.Errorf("%w: %s", rtc.ErrUnknownDevice, id)
	}
	log := cfg.Log.With("device", id, "capture_mode", string(cfg.Mode), "encoder", string(choice.Kind))
	cfg.Log = log
	d := &Device{id: id, cfg: cfg, log: log, choice: choice}
	runCtx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.input, err = adb.NewInput(cfg.ADB, id, log); err != nil {
		return nil, err
	}
	g, err := cfg.ADB.Geometry(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read the display size of %s: %w", id, err)
	}
	d.geom.Store(&g)
	out := newOutput(id, outputKey{Codec: choice.Codec()}, cfg)
	d.outputs = []*output{out}
	switch cfg.Mode {
	case media.CaptureScreenrecord:
		err = d.startPassthrough(runCtx, out)
	case media.CaptureScreencap, media.CaptureRawFrames:
		err = d.startEncoded(runCtx, out, pool)
	default:
		err = fmt.Errorf("%w: capture mode %q", media.ErrConfig, cfg.Mode)
	}
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(cfg.FirstKeyFrame)
	defer t.Stop()
	select {
	case <-out.first:
		return d, nil
	case <-t.C:
		if e := d.LastError(); e != nil {
			return nil, fmt.Errorf("%w (%v): %w", ErrNoKeyFrame, cfg.FirstKeyFrame, e)
		}
		return nil, fmt.Errorf("%w (%v)", ErrNoKeyFrame, cfg.FirstKeyFrame)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// h264For returns the probe's H.264 encoders when the configuration
// encodes here; pass-through needs no probe.
func h264For(cfg Config) []string {
	if cfg.Mode.Encoded() && (cfg.Kind == media.KindAuto || cfg.Kind == media.KindPassthrough || cfg.Kind == "") {
		return nil
	}
	return cfg.H264()
}

// captureError notes a capture failure; the source keeps retrying, and
// logs at a bounded rate.
func (d *Device) captureError(err error) {
	d.errs.Add(1)
	d.mu.Lock()
	d.lastErr = err
	d.mu.Unlock()
	d.captureLog.Log(d.log, slog.LevelWarn, "capture", "err", err)
}

// LastError returns the latest capture or encoder-open error.
func (d *Device) LastError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr
}

// passthrough is the producer of the device's own H.264: a keyframe
// request restarts screenrecord; the rate is fixed.
type passthrough struct{ src *capture.ScreenrecordSource }

func (p *passthrough) keyFrame()            { p.src.RequestKeyFrame() }
func (p *passthrough) setBitRate(int) error { return media.ErrUnsupported }
func (p *passthrough) name() string         { return media.PassthroughEncoder }
func (d *Device) startPassthrough(ctx context.Context, out *output) error {
	src, err := capture.NewScreenrecordSource(d.cfg.ADB, d.id, capture.ScreenrecordOptions{
		BitRate: d.cfg.ScreenrecordBitRate, Log: d.log, OnError: d.captureError, OnSize: d.sizeChanged(ctx),
	})
	if err != nil {
		return err
	}
	out.setProducer(&passthrough{src})
	d.sourceStats = src.Stats
	info := func() (media.Format, media.Size) {
		i := src.Info()
		return media.Format{Codec: media.H264, ProfileLevelID: i.ProfileLevelID}, media.Size{Width: i.Width, Height: i.Height}
	}
	d.wg.Go(func() {
		src.Run(ctx, func(s capture.Sample) error {
			out.deliver(media.Unit{Data: s.Data, KeyFrame: s.KeyFrame, PTS: s.PTS, Codec: media.H264,
				Encoder: media.PassthroughEncoder, Captured: s.Captured}, info)
			return nil
		})
	})
	return nil
}

// sizeChanged returns the capture's OnSize callback: when the picture's
// size changes (a rotation, "wm size"), input mapping follows the
// device's new geometry. Encoders follow the frames' size themselves.
func (d *Device) sizeChanged(ctx context.Context) func(media.Size) {
	var first atomic.Bool
	first.Store(true)
	return func(size media.Size) {
		if first.Swap(false) {
			return // start() read the geometry already
		}
		d.log.Info("picture size changed", "size", size.String())
		d.wg.Go(func() {
			g, err := d.cfg.ADB.Geometry(ctx, d.id)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Warn("read the display geometry after a size change", "err", err)
				}
				return
			}
			d.geom.Store(&g)
		})
	}
}

// encoderError notes an encoder failure or lost frame for LastError; the
// encoder logs it itself, at a bounded rate.
func (d *Device) encoderError(err error) {
	d.mu.Lock()
	d.lastErr = err
	d.mu.Unlock()
}

// pipelineProducer is an encoding pipeline of the device's own.
type pipelineProducer struct{ p *encoder.Pipeline }

func (p pipelineProducer) keyFrame()                { p.p.ForceKeyFrame() }
func (p pipelineProducer) setBitRate(bps int) error { return p.p.SetBitRate(bps) }
func (p pipelineProducer) name() string             { return p.p.EncoderName() }

// frameSource is a capture source of raw pictures.
type frameSource interface {
	Run(context.Context, func(*native.Frame) error) error
	Stats() capture.SourceStats
}

func (d *Device) startEncoded(ctx context.Context, out *output, pool func() (*poolRouter, error)) error {
	var src frameSource
	var err error
	rate := d.cfg.Encoder.FrameRate // VIDEO_FRAMERATE caps the capture
	if d.cfg.Mode == media.CaptureScreencap {
		src, err = capture.NewScreencapSource(d.cfg.ADB, d.id, capture.ScreencapOptions{
			FrameRate: rate, Log: d.log, OnError: d.captureError, OnSize: d.sizeChanged(ctx),
		})
	} else {
		src, err = capture.NewRawFramesSource(d.cfg.ADB, d.id, capture.RawFramesOptions{
			FrameRate: rate, Log: d.log, OnError: d.captureError, OnSize: d.sizeChanged(ctx),
		})
	}
	if err != nil {
		return err
	}
	d.sourceStats = src.Stats
	if d.cfg.WorkerPool {
		r, err := pool()
		if err != nil {
			d.log.Error("worker pool unavailable; encoding on the device's own pipeline", "err", err)
		} else {
			d.pool = r
			out.setProducer(r.join(d.id, d.choice.Candidates, func(u media.Unit) { out.deliver(u, nil) }, d.encoderError))
			d.wg.Go(func() {
				defer r.leave(d.id)
				src.Run(ctx, func(f *native.Frame) error {
					r.submit(d.id, f)
					return nil
				})
			})
			return nil
		}
	}
	// The encoder opens on the first frame, at its size, and reopens when
	// the size changes.
	p, err := encoder.NewPipeline(encoder.PipelineOptions{
		Chain:         encoder.ChainFor(d.choice.Candidates, d.cfg.Encoder),
		EncodeTimeout: d.cfg.EncodeTimeout, WriteTimeout: d.cfg.WriteTimeout, CloseTimeout: d.cfg.CloseTimeout,
		OnError: d.encoderError, Log: d.log,
	})
	if err != nil {
		return err
	}
	d.pipeline.Store(p)
	out.setProducer(pipelineProducer{p})
	var outputs sync.WaitGroup
	outputs.Go(func() {
		for u := range p.Output() {
			out.deliver(u, nil)
		}
	})
	d.wg.Go(func() {
		defer func() {
			p.Close()
			outputs.Wait()
		}()
		src.Run(ctx, p.Submit)
	})
	return nil
}

// ID is the device's serial.
func (d *Device) ID() string { return d.id }

// output returns the output a viewer who takes codecs (best first)
// watches.
func (d *Device) output(codecs []media.Codec) (*output, error) {
	for _, c := range codecs {
		for _, o := range d.outputs {
			if o.key.Codec == c {
				return o, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: device %s sends %s; the offer takes %v", rtc.ErrCodecUnsupported, d.id, d.outputs[0].key.Codec, codecs)
}

// Close stops capture and encoding and waits for them, then ends every
// output's viewers. It is idempotent.
func (d *Device) Close() error {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	for _, o := range d.outputs {
		o.close()
	}
	if d.input != nil {
		d.input.Close()
	}
	return nil
}
