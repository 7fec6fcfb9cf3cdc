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
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/capture"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/internal/lograte"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// ErrNoKeyFrame is returned when a device produced no keyframe in time.
var ErrNoKeyFrame = errors.New("device: no keyframe from the device in time")

// Device is one device's media, owned in one place: capture, the decoder
// and encoders, outputs with their fan-out, keyframe limiting and
// bit-rate control, input and statistics.
type Device struct {
	id     string // the device's name in the API, logs and metrics
	serial string // its adb serial (address), found by Config.Locate at start
	cfg    Config
	log    *slog.Logger
	plan   plan

	ctx    context.Context // the device's run context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	input   *adb.Input // the shell's input command
	in      *inputs    // input: the agent, or the shell
	geom    atomic.Pointer[adb.Geometry]
	control fanout.Control

	sourceStats func() capture.SourceStats
	kickSource  func()                      // the capture's Kick: the device is back
	recorder    *capture.ScreenrecordSource // screenrecord modes: keyframe requests
	pool        *poolRouter                 // set when encoding on the worker pool
	h264Once    sync.Once
	h264        []string // the H.264 candidates, best first (read once, lazily)

	prim    *output    // the primary output, set by start
	outMu   sync.Mutex // guards outputs, last, closing
	outputs map[outputKey]*output
	last    *native.Frame // the latest picture, for an output that starts on a still screen
	closing bool
	// tally sums the outputs' stage histograms, those that stopped
	// included: they never go down while the device runs.
	tally *media.Tally[*output, StageStats]

	epoch   captureEpoch // when the capture source started: PTS count from it
	resync  atomic.Bool  // the decoder lost an access unit: wait for a keyframe
	decoded chan capture.Sample

	mu         sync.Mutex
	lastErr    error
	errs       atomic.Int64 // capture errors
	captureLog lograte.Limiter
	decodeLog  lograte.Limiter
}

// start starts capture (and the primary output's encoding) for a device
// and waits for its first keyframe, so that the stream's format and size
// are known. The device runs under ctx until Close.
func start(ctx context.Context, id string, cfg Config, pool func() (*poolRouter, error)) (_ *Device, err error) {
	p, err := planFor(cfg.Mode, cfg.Kind)
	if err != nil {
		return nil, err
	}
	serial, err := cfg.Locate(ctx, id)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cfg.Release(id, serial)
		}
	}()
	list, err := cfg.ADB.Devices(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(list, func(d adb.DeviceInfo) bool { return d.Serial == serial && d.State == "device" }) {
		return nil, fmt.Errorf("%w: %s", media.ErrUnknownDevice, id)
	}
	attrs := []any{"device", id}
	if serial != id {
		attrs = append(attrs, "adb_serial", serial)
	}
	log := cfg.Log.With(append(attrs, "capture_mode", string(cfg.Mode), "encoder", string(cfg.Kind))...)
	cfg.Log = log
	d := &Device{id: id, serial: serial, cfg: cfg, log: log, plan: p, outputs: map[outputKey]*output{}, tally: newStageTally()}
	d.ctx, d.cancel = context.WithCancel(ctx)
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.input, err = adb.NewInput(cfg.ADB, serial, log); err != nil {
		return nil, err
	}
	g, err := cfg.ADB.Geometry(ctx, serial)
	if err != nil {
		return nil, fmt.Errorf("read the display size of %s: %w", id, err)
	}
	d.geom.Store(&g)
	// The input agent starts beside the capture; input goes through the
	// shell until it runs.
	d.in = newInputs(cfg.ADB, serial, cfg.InputAgent, d.input, log)
	d.in.start(d.ctx)
	if cfg.WorkerPool && p.encodes() {
		if d.pool, err = pool(); err != nil {
			d.log.Error("worker pool unavailable; encoding on the device's own pipelines", "err", err)
			d.pool, err = nil, nil
		}
	}
	out, err := d.acquire(p.primary)
	if err != nil {
		return nil, err
	}
	d.prim = out
	defer d.releaseOutput(out) // the primary output stays while the device runs
	switch cfg.Mode {
	case media.CaptureScreenrecord:
		err = d.startScreenrecord()
	case media.CaptureScreencap, media.CaptureRawFrames:
		err = d.startPictures()
	default:
		err = fmt.Errorf("%w: capture mode %q", media.ErrConfig, cfg.Mode)
	}
	if err != nil {
		return nil, err
	}
	if err := out.waitFirst(ctx, cfg.FirstKeyFrame, d.LastError); err != nil {
		return nil, err
	}
	return d, nil
}

// h264Candidates returns the H.264 encoders to try, best first, with
// libx264 last; the probe is waited for on first use.
func (d *Device) h264Candidates() []string {
	d.h264Once.Do(func() { d.h264 = encoder.H264Chain(d.cfg.H264()) })
	return d.h264
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
			g, err := d.cfg.ADB.Geometry(ctx, d.serial)
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

// kick tells the device's capture that the device is back: a capture
// waiting to retry starts now, with its back-off reset.
func (d *Device) kick() {
	if d.kickSource != nil {
		d.kickSource()
	}
}

// ID is the device's name in the API, logs and metrics.
func (d *Device) ID() string { return d.id }

// Serial is the device's adb serial (its address), which may change from
// one start of the device to the next while its ID stays.
func (d *Device) Serial() string { return d.serial }

// Close stops capture and encoding and waits for them, then ends every
// output's viewers. It is idempotent.
func (d *Device) Close() error {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	d.outMu.Lock()
	d.closing = true
	outs := slices.Collect(maps.Values(d.outputs))
	clear(d.outputs)
	last := d.last
	d.last = nil
	d.outMu.Unlock()
	for _, o := range outs {
		o.close()
	}
	last.Release()
	if d.in != nil {
		d.in.wait()
	}
	if d.input != nil {
		d.input.Close()
	}
	return nil
}
