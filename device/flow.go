package device

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudphone/media-service/capture"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// How a device's media flows:
//
//   - screenrecord: the device's H.264 goes to the pass-through output
//     (rung 0, when the plan passes through) and, while any output encodes
//     here, through one decoder whose pictures go to every encoded output;
//   - screencap and raw-frames: every captured picture goes to every
//     encoded output.
//
// An encoded output (one per codec and rung) scales the picture to its
// rung's size when that differs, and encodes it on its own pipeline or on
// its stream of the worker pool. Outputs start with their first viewer and
// stop after their last; the primary output lives as long as the device.

// decodeQueue is the number of access units that may wait for the
// decoder; a full queue drops one, and decoding resumes at the next
// keyframe.
const decodeQueue = 32

// acquire returns the output for key, starting it if needed, with one more
// reference.
func (d *Device) acquire(key outputKey) (*output, error) {
	rungs := d.rungs()
	ok, own := d.plan.serves(key, len(rungs))
	if !ok {
		return nil, fmt.Errorf("%w: device %s does not send %s (VIDEO_ENCODER_TYPE=%s, %d rungs)", media.ErrCodecUnsupported, d.id, key, d.cfg.Kind, len(rungs))
	}
	d.outMu.Lock()
	defer d.outMu.Unlock()
	if d.closing {
		return nil, media.ErrClosed
	}
	if o := d.outputs[key]; o != nil {
		o.refs++
		return o, nil
	}
	o := newOutput(d.id, key, rungs[key.Rung], d.cfg)
	if !own {
		if err := d.startEncoder(o); err != nil {
			o.close()
			return nil, err
		}
	}
	o.refs = 1
	d.outputs[key] = o
	d.tally.Join(o, o.stages)
	if o.enc != nil && d.last != nil {
		// A still screen sends nothing new: start from the latest picture.
		if f, err := d.last.Ref(); err == nil {
			o.enc.feed(f, false, &d.epoch)
		}
	}
	if o.enc != nil && d.plan.decode && d.recorder != nil && d.resync.Load() {
		d.recorder.RequestKeyFrame() // the decoder waits for one
	}
	return o, nil
}

// releaseOutput drops a reference; an output other than the primary one
// stops after its last.
func (d *Device) releaseOutput(o *output) {
	d.outMu.Lock()
	o.refs--
	stop := o.refs <= 0 && o.key != d.plan.primary && d.outputs[o.key] == o
	if stop {
		delete(d.outputs, o.key)
		d.tally.Leave(o) // its viewers are gone: its counts stay in the sum
	}
	d.outMu.Unlock()
	if stop {
		d.log.Info("output stopped after its last viewer", "output", o.key.String())
		o.close()
	}
}

// rungs returns the device's rungs: one in pass-through.
func (d *Device) rungs() []fanout.Rung {
	rungs := d.cfg.current().Rungs
	if !d.plan.encodes() || len(rungs) == 0 {
		return rungs[:min(1, len(rungs))]
	}
	return rungs
}

// hasEncoded reports whether any output encodes here.
func (d *Device) hasEncoded() bool {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	for _, o := range d.outputs {
		if o.enc != nil {
			return true
		}
	}
	return false
}

// encodedOutputs returns the outputs that encode here.
func (d *Device) encodedOutputs() []*output {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	var out []*output
	for _, o := range d.outputs {
		if o.enc != nil {
			out = append(out, o)
		}
	}
	return out
}

// ownOutput returns the pass-through output, if it runs.
func (d *Device) ownOutput() *output {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	if o := d.outputs[outputKey{Codec: media.H264}]; o != nil && o.enc == nil {
		return o
	}
	return nil
}

// encodedSink feeds an encoded output: pictures scaled to its rung's size
// go to its encoder.
type encodedSink struct {
	o      *output
	submit func(*native.Frame)
	stop   func()

	mu         sync.Mutex // guards scaler; feed runs on the capture or decode goroutine, and on acquire
	scaler     *native.Scaler
	scaledSize media.Size
	closed     bool
}

// feed hands a picture (one reference, which it takes) to the encoder,
// scaled to the rung's size when that differs. fresh is set for a picture
// just captured (or decoded), whose capture stage counts; epoch tells
// when its PTS started.
func (s *encodedSink) feed(f *native.Frame, fresh bool, epoch *captureEpoch) {
	full := media.Size{Width: f.Width(), Height: f.Height()}
	want := s.o.rung.Size(full)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		f.Release()
		return
	}
	if want != full {
		if s.scaler == nil || s.scaledSize != want {
			if s.scaler != nil {
				s.scaler.Close()
			}
			sc, err := native.NewScaler(want.Width, want.Height, native.CaptureFormat, 4)
			if err != nil {
				s.mu.Unlock()
				f.Release()
				s.o.cfg.Log.Warn("scaler", "output", s.o.key.String(), "err", err)
				return
			}
			s.scaler, s.scaledSize = sc, want
		}
		g, err := s.scaler.Scale(f)
		f.Release()
		if err != nil {
			s.mu.Unlock()
			return // the pool is busy: the encoder is behind; the newest frame will do
		}
		f = g
	}
	if pts := f.PTS; pts != native.NoPTS {
		now := stageClock()
		if captured, ok := epoch.at(pts); ok && fresh {
			s.o.captureLat.Observe(now.Sub(captured))
		}
		s.o.fed.put(pts, now)
	}
	s.mu.Unlock()
	s.o.setSize(want)
	s.submit(f)
}

func (s *encodedSink) close() {
	s.stop()
	s.mu.Lock()
	s.closed = true
	if s.scaler != nil {
		s.scaler.Close()
		s.scaler = nil
	}
	s.mu.Unlock()
}

// startEncoder gives an output its encoder: a pipeline of its own, or a
// stream of the worker pool.
func (d *Device) startEncoder(o *output) error {
	candidates := []string{native.CodecVP8}
	if o.key.Codec == media.H264 {
		candidates = d.h264Candidates()
	}
	opts := d.cfg.current().Encoder // settings reloaded live apply from here on
	opts.BitRate = min(max(opts.BitRate, o.rung.MinBitRate), o.rung.MaxBitRate)
	sink := &encodedSink{o: o}
	deliver := func(u media.Unit) { d.deliverEncoded(o, u) }
	if d.pool != nil {
		stream := d.id + "/" + string(o.key.Codec) + "/" + fmt.Sprint(o.key.Rung)
		ps := d.pool.join(stream, candidates, opts, deliver, d.encoderError)
		o.setProducer(ps)
		sink.submit = func(f *native.Frame) { d.pool.submit(stream, f) }
		sink.stop = func() { d.pool.leave(stream) }
		o.enc = sink
		return nil
	}
	p, err := encoder.NewPipeline(encoder.PipelineOptions{
		Chain:         encoder.ChainFor(candidates, opts),
		EncodeTimeout: d.cfg.EncodeTimeout, WriteTimeout: d.cfg.WriteTimeout, CloseTimeout: d.cfg.CloseTimeout,
		OnError: d.encoderError, Log: d.log.With("output", o.key.String()),
	})
	if err != nil {
		return err
	}
	o.setProducer(pipelineProducer{p})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range p.Output() {
			d.deliverEncoded(o, u)
		}
	}()
	sink.submit = func(f *native.Frame) { p.Submit(f) }
	sink.stop = func() { p.Close(); <-done }
	o.enc = sink
	return nil
}

// deliverEncoded fans out a unit the output's encoder made, noting its
// encode stage and its capture time.
func (d *Device) deliverEncoded(o *output, u media.Unit) {
	if fed, ok := o.fed.get(u.PTS); ok {
		o.encodeLat.Observe(stageClock().Sub(fed))
	}
	if u.Captured.IsZero() {
		if at, ok := d.epoch.at(u.PTS); ok {
			u.Captured = at
		}
	}
	o.deliver(u, nil)
}

// pipelineProducer is an encoding pipeline of the output's own.
type pipelineProducer struct{ p *encoder.Pipeline }

func (p pipelineProducer) keyFrame()                       { p.p.ForceKeyFrame() }
func (p pipelineProducer) setBitRate(bps int) error        { return p.p.SetBitRate(bps) }
func (p pipelineProducer) name() string                    { return p.p.EncoderName() }
func (p pipelineProducer) stats() (encoder.Snapshot, bool) { return p.p.Stats(), true }

// distribute hands a picture to every encoded output (a reference each,
// no copy) and keeps it as the latest. It takes f.
func (d *Device) distribute(f *native.Frame) {
	defer f.Release()
	// The latest picture is kept as a reference, not as f itself: f may be
	// a capture pool's frame, and holding it would take a pool slot.
	keep, err := f.Ref()
	if err != nil {
		keep = nil
	}
	d.outMu.Lock()
	old := d.last
	d.last = keep
	d.outMu.Unlock()
	old.Release()
	for _, o := range d.encodedOutputs() {
		g, err := f.Ref()
		if err != nil {
			d.log.Warn("reference a picture", "err", err)
			return
		}
		o.enc.feed(g, true, &d.epoch)
	}
}

// passthrough is the producer of the device's own H.264: a keyframe
// request restarts screenrecord; the rate is fixed.
type passthrough struct{ src *capture.ScreenrecordSource }

func (p *passthrough) keyFrame()            { p.src.RequestKeyFrame() }
func (p *passthrough) setBitRate(int) error { return media.ErrUnsupported }
func (p *passthrough) name() string         { return media.PassthroughEncoder }

// startScreenrecord captures the device's H.264: to the pass-through
// output, and to the decoder while any output encodes here.
func (d *Device) startScreenrecord() error {
	src, err := capture.NewScreenrecordSource(d.cfg.ADB, d.serial, capture.ScreenrecordOptions{
		BitRate: d.cfg.current().ScreenrecordBitRate, Log: d.log, OnError: d.captureError, OnSize: d.sizeChanged(d.ctx),
	})
	if err != nil {
		return err
	}
	d.recorder = src
	d.sourceStats = src.Stats
	d.kickSource = src.Kick
	if o := d.ownOutput(); o != nil {
		o.setProducer(&passthrough{src})
	}
	info := func() (media.Format, media.Size) {
		i := src.Info()
		return media.Format{Codec: media.H264, ProfileLevelID: i.ProfileLevelID}, media.Size{Width: i.Width, Height: i.Height}
	}
	if d.plan.decode {
		d.decoded = make(chan capture.Sample, decodeQueue)
		d.resync.Store(true)
		d.wg.Go(d.decodeLoop)
	}
	d.wg.Go(func() {
		if d.decoded != nil {
			defer close(d.decoded)
		}
		d.epoch.start(time.Now())
		src.Run(d.ctx, func(s capture.Sample) error {
			if o := d.ownOutput(); o != nil {
				o.deliver(media.Unit{Data: s.Data, KeyFrame: s.KeyFrame, PTS: s.PTS, Codec: media.H264,
					Encoder: media.PassthroughEncoder, Captured: s.Captured}, info)
			}
			if d.decoded == nil {
				return nil
			}
			select {
			case d.decoded <- s:
			default:
				d.resync.Store(true) // lost one: resume at the next keyframe
			}
			return nil
		})
	})
	return nil
}

// decodeLoop decodes the device's H.264 while any output encodes here.
func (d *Device) decodeLoop() {
	var dec *native.VideoDecoder
	defer func() {
		if dec != nil {
			dec.Close()
		}
	}()
	asked := false
	for s := range d.decoded {
		if !d.hasEncoded() {
			if dec != nil {
				dec.Close()
				dec = nil
			}
			d.resync.Store(true)
			asked = false
			continue
		}
		if d.resync.Load() {
			if !s.KeyFrame {
				if !asked {
					d.recorder.RequestKeyFrame()
					asked = true
				}
				continue
			}
			d.resync.Store(false)
			asked = false
		}
		if dec == nil {
			var err error
			if dec, err = native.NewVideoDecoder(native.DecoderOptions{Codec: native.DecoderH264, VAAPIDevice: d.cfg.Encoder.VAAPIDevice}); err != nil {
				d.decodeLog.Log(d.log, slog.LevelError, "open the H.264 decoder", "err", err)
				d.encoderError(err)
				d.resync.Store(true)
				continue
			}
			d.log.Info("decoding the device's H.264", "decoder", dec.Backend())
		}
		// The picture keeps the access unit's PTS, from which its capture
		// time (the source's epoch + PTS) is known to the stages.
		if err := dec.DecodeAt(s.Data, s.PTS, func(f *native.Frame) error {
			d.distribute(f)
			return nil
		}); err != nil {
			d.decodeLog.Log(d.log, slog.LevelWarn, "decode the device's H.264; resuming at the next keyframe", "err", err)
			d.encoderError(err)
			dec.Close()
			dec = nil
			d.resync.Store(true)
		}
	}
}

// frameSource is a capture source of raw pictures.
type frameSource interface {
	Run(context.Context, func(*native.Frame) error) error
	Stats() capture.SourceStats
	Kick()
}

// startPictures captures raw pictures (screencap, raw-frames) for the
// encoded outputs.
func (d *Device) startPictures() error {
	var src frameSource
	var err error
	rate := d.cfg.current().Encoder.FrameRate // VIDEO_FRAMERATE caps the capture
	if d.cfg.Mode == media.CaptureScreencap {
		src, err = capture.NewScreencapSource(d.cfg.ADB, d.serial, capture.ScreencapOptions{
			FrameRate: rate, Log: d.log, OnError: d.captureError, OnSize: d.sizeChanged(d.ctx),
		})
	} else {
		src, err = capture.NewRawFramesSource(d.cfg.ADB, d.serial, capture.RawFramesOptions{
			FrameRate: rate, Log: d.log, OnError: d.captureError, OnSize: d.sizeChanged(d.ctx),
		})
	}
	if err != nil {
		return err
	}
	d.sourceStats = src.Stats
	d.kickSource = src.Kick
	d.wg.Go(func() {
		d.epoch.start(time.Now())
		src.Run(d.ctx, func(f *native.Frame) error {
			d.distribute(f)
			return nil
		})
	})
	return nil
}
