// Package stream runs one device's media: capture in the configured mode,
// then pass-through or an encoding pipeline, delivering encoded units to a
// sink (the device's WebRTC broadcaster). It also injects the viewers'
// input into the device.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/capture"
	"github.com/cloudphone/media-service/capture/annexb"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/native"
)

// Capture modes (CAPTURE_MODE).
const (
	ModeScreenrecord = "screenrecord"
	ModeScreencap    = "screencap"
	ModeRawFrames    = "raw-frames"
)

// Options configures a device's stream.
type Options struct {
	Client *capture.Client
	Serial string
	// Mode is the capture mode; Kind the encoder choice (VIDEO_ENCODER_TYPE).
	Mode string
	Kind encoder.Kind
	// H264 lists the working H.264 encoders, best first (the probe's).
	H264 []string
	// Encoder holds the encoding options (size is filled from the frames).
	Encoder native.Options
	// ScreenrecordBitRate is the device encoder's rate in pass-through.
	ScreenrecordBitRate int
	// Timeouts of the encoding pipeline.
	EncodeTimeout, WriteTimeout, CloseTimeout time.Duration
	// Pool, when set (USE_WORKER_POOL), encodes raw pictures on a shared
	// worker pool instead of a pipeline per device.
	Pool *PoolRouter
	// FirstKeyFrame bounds the wait for the stream's first keyframe, which
	// tells its size and profile. Default 15 s.
	FirstKeyFrame time.Duration
	Log           *slog.Logger
}

// Device is one device's running media.
type Device struct {
	opts   Options
	sink   func(encoder.Unit)
	choice encoder.Choice
	log    *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup

	srcKey   func()            // asks the source (pass-through) for a keyframe
	pipeline *encoder.Pipeline // nil in pass-through and with a pool
	pooled   bool              // encoded on Options.Pool
	stats    func() capture.SourceStats
	input    *capture.Input
	geometry atomic.Pointer[capture.Geometry]

	first     chan struct{} // closed at the first keyframe
	firstOnce sync.Once
	mu        sync.Mutex
	profile   string // profile-level-id of the H.264 produced
	size      capture.Size
	lastErr   error

	units, bytes, keyframes atomic.Int64
	window                  rateWindow
}

// ErrNoKeyFrame is returned when a stream produced no keyframe in time.
var ErrNoKeyFrame = errors.New("stream: no keyframe from the device in time")

// Start starts capture (and encoding) and waits for the first keyframe, so
// that the stream's codec profile and size are known.
func Start(ctx context.Context, o Options, sink func(encoder.Unit)) (_ *Device, err error) {
	if o.FirstKeyFrame <= 0 {
		o.FirstKeyFrame = 15 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	format := encoder.CaptureRaw
	if o.Mode == ModeScreenrecord {
		format = encoder.CaptureH264
	}
	choice, err := encoder.RecommendedEncoderForCaptureFormat(format, o.Kind, o.H264)
	if err != nil {
		return nil, err
	}
	if choice.Decode {
		return nil, fmt.Errorf("%w: re-encoding screenrecord's H.264 (%s with CAPTURE_MODE=screenrecord) is not supported; use CAPTURE_MODE=raw-frames or screencap", encoder.ErrConfig, choice.Kind)
	}
	d := &Device{opts: o, sink: sink, choice: choice, first: make(chan struct{}),
		log: o.Log.With("device", o.Serial, "capture_mode", o.Mode, "encoder", string(choice.Kind))}
	if d.input, err = capture.NewInput(o.Client, o.Serial, d.log); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if g, gerr := o.Client.Geometry(ctx, o.Serial); gerr == nil {
		d.geometry.Store(&g)
	} else {
		return nil, fmt.Errorf("read the display size of %s: %w", o.Serial, gerr)
	}
	onError := func(err error) {
		d.mu.Lock()
		d.lastErr = err
		d.mu.Unlock()
		d.log.Warn("capture", "err", err)
	}
	switch o.Mode {
	case ModeScreenrecord:
		err = d.startPassthrough(runCtx, onError)
	case ModeScreencap, ModeRawFrames:
		err = d.startEncoded(runCtx, onError)
	default:
		err = fmt.Errorf("%w: capture mode %q", encoder.ErrConfig, o.Mode)
	}
	if err != nil {
		return nil, err
	}
	select {
	case <-d.first:
		return d, nil
	case <-time.After(o.FirstKeyFrame):
		return nil, fmt.Errorf("%w (%v)", ErrNoKeyFrame, o.FirstKeyFrame)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// deliver counts a unit, notes its profile at keyframes and hands it on.
func (d *Device) deliver(u encoder.Unit) {
	d.units.Add(1)
	d.bytes.Add(int64(len(u.Data)))
	d.window.add(len(u.Data))
	if u.KeyFrame {
		d.keyframes.Add(1)
		if u.Codec == encoder.H264 {
			for nal := range annexb.NALUnits(u.Data) {
				if annexb.NALType(nal) != annexb.NALSPS {
					continue
				}
				if sps, err := annexb.ParseSPS(nal); err == nil {
					d.mu.Lock()
					d.profile = sps.ProfileLevelID()
					d.size = capture.Size{Width: sps.Width, Height: sps.Height}
					d.mu.Unlock()
				}
			}
		}
		d.firstOnce.Do(func() { close(d.first) })
	}
	d.sink(u)
}

func (d *Device) startPassthrough(ctx context.Context, onError func(error)) error {
	src, err := capture.NewScreenrecordSource(d.opts.Client, d.opts.Serial, capture.ScreenrecordOptions{
		BitRate: d.opts.ScreenrecordBitRate, Log: d.log, OnError: onError,
	})
	if err != nil {
		return err
	}
	pass := encoder.NewPassthrough(src.RequestKeyFrame)
	d.srcKey = src.RequestKeyFrame
	d.stats = src.Stats
	d.wg.Go(func() {
		src.Run(ctx, func(s capture.Sample) error {
			d.deliver(pass.Pass(s))
			return nil
		})
	})
	return nil
}

func (d *Device) startEncoded(ctx context.Context, onError func(error)) error {
	type frameSource interface {
		Run(context.Context, func(*native.Frame) error) error
		Stats() capture.SourceStats
	}
	var src frameSource
	var err error
	if d.opts.Mode == ModeScreencap {
		src, err = capture.NewScreencapSource(d.opts.Client, d.opts.Serial, capture.ScreencapOptions{Log: d.log, OnError: onError})
	} else {
		src, err = capture.NewRawFramesSource(d.opts.Client, d.opts.Serial, capture.RawFramesOptions{Log: d.log, OnError: onError})
	}
	if err != nil {
		return err
	}
	d.stats = src.Stats
	if pool := d.opts.Pool; pool != nil {
		pool.register(d.opts.Serial, d.deliver)
		d.pooled = true
		d.wg.Go(func() {
			defer pool.unregister(d.opts.Serial)
			src.Run(ctx, func(f *native.Frame) error {
				pool.submit(d.opts.Serial, f)
				return nil
			})
		})
		return nil
	}
	// The pipeline opens on the first frame, when the size is known.
	var once sync.Once
	var perr error
	d.wg.Go(func() {
		defer func() {
			if d.pipeline != nil {
				d.pipeline.Close()
			}
		}()
		src.Run(ctx, func(f *native.Frame) error {
			once.Do(func() {
				o := d.opts.Encoder
				o.Width, o.Height = f.Width(), f.Height()
				var p *encoder.Pipeline
				p, perr = encoder.NewPipeline(encoder.PipelineOptions{
					Open:          encoder.OpenerFor(d.choice.Candidates, o),
					EncodeTimeout: d.opts.EncodeTimeout, WriteTimeout: d.opts.WriteTimeout, CloseTimeout: d.opts.CloseTimeout,
					Log: d.log,
				})
				if perr != nil {
					onError(perr)
					return
				}
				d.mu.Lock()
				d.pipeline = p
				d.mu.Unlock()
				d.wg.Go(func() {
					for u := range p.Output() {
						d.deliver(u)
					}
				})
			})
			if perr != nil {
				f.Release()
				return perr
			}
			return d.pipeline.Submit(f)
		})
	})
	return nil
}

// Codec returns the codec on the wire.
func (d *Device) Codec() encoder.Codec { return d.choice.Codec() }

// ProfileLevelID returns the H.264 profile-level-id the stream carries.
func (d *Device) ProfileLevelID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.profile
}

// Size returns the stream's picture size.
func (d *Device) Size() capture.Size {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.size
}

// RequestKeyFrame asks for a keyframe: from the device's screenrecord in
// pass-through, from the encoder otherwise.
func (d *Device) RequestKeyFrame() {
	if d.srcKey != nil {
		d.srcKey()
		return
	}
	if d.pooled {
		d.opts.Pool.pool.ForceKeyFrame(d.opts.Serial)
		return
	}
	d.mu.Lock()
	p := d.pipeline
	d.mu.Unlock()
	if p != nil {
		p.ForceKeyFrame()
	}
}

// SetBitRate changes the encoder's bit rate; pass-through cannot.
func (d *Device) SetBitRate(bps int) error {
	if d.pooled {
		return d.opts.Pool.pool.SetBitRate(d.opts.Serial, bps)
	}
	d.mu.Lock()
	p := d.pipeline
	d.mu.Unlock()
	if p == nil {
		return encoder.ErrUnsupported
	}
	return p.SetBitRate(bps)
}

// EncoderName names what produces the stream.
func (d *Device) EncoderName() string {
	d.mu.Lock()
	p := d.pipeline
	d.mu.Unlock()
	switch {
	case d.pooled:
		return "pool:" + d.choice.Candidates[0]
	case p == nil:
		return encoder.PassthroughName
	}
	return p.EncoderName()
}

// Close stops capture and encoding and waits for them. It is idempotent.
func (d *Device) Close() error {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	if d.input != nil {
		d.input.Close()
	}
	return nil
}
