package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/capture/annexb"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"
)

// outputKey names one of a device's outputs: one encoded stream per
// (codec, quality rung). Rung 0 is the device's full stream.
type outputKey struct {
	Codec media.Codec
	Rung  int
}

// producer is what makes an output's units: the device's own H.264
// (pass-through), an encoding pipeline, or a stream of the worker pool.
type producer interface {
	// keyFrame makes the next unit a keyframe (an IDR with SPS/PPS); it
	// never blocks. The output rate-limits the calls.
	keyFrame()
	// setBitRate changes the encoder's rate; media.ErrUnsupported where
	// it cannot change (the device's own H.264).
	setBitRate(bps int) error
	// name is the encoder in use ("passthrough", "libx264", ...).
	name() string
}

// statser is a producer that encodes here and counts.
type statser interface {
	stats() (encoder.Snapshot, bool)
}

// output is one encoded stream of a device, with its own fan-out,
// keyframe limiter and bit-rate control. Its device owns it.
type output struct {
	key  outputKey
	cfg  Config
	rung fanout.Rung
	enc  *encodedSink // nil for the device's own stream
	refs int          // viewers and starters holding it; under the device's outMu
	b    *fanout.Stream
	kf   *limiter
	prod atomic.Pointer[producerBox]

	first     chan struct{} // closed at the first keyframe
	firstOnce sync.Once

	mu      sync.Mutex
	format  media.Format
	size    media.Size
	lastSPS []byte // the SPS the format was read from

	rateMu      sync.Mutex
	estimates   map[string]int // viewer ID → bits per second
	rate        int            // last rate set; 0 before the first
	rateAt      time.Time
	unsupported bool // the producer cannot change its rate

	units, bytes, keyframes atomic.Int64
	window                  rateWindow

	// Stages (media.StageCapture, media.StageEncode) of the output's
	// units; fed notes when pictures went to its encoder.
	captureLat, encodeLat media.StageHistogram
	fed                   fedTimes
}

type producerBox struct{ p producer }

func newOutput(id string, key outputKey, rung fanout.Rung, cfg Config) *output {
	o := &output{
		key: key, cfg: cfg, rung: rung, first: make(chan struct{}),
		format:    media.Format{Codec: key.Codec},
		estimates: map[string]int{},
	}
	interval := cfg.KeyFrameMinInterval
	o.kf = newLimiter(interval, o.forceKeyFrame)
	o.b = fanout.New(fanout.Config{
		DeviceID: id, QueueSize: cfg.ViewerQueue, RequestKeyFrame: o.kf.request, Log: cfg.Log,
	})
	return o
}

// setProducer sets what makes the output's units; a pass-through producer
// restarts screenrecord for a keyframe, so its limiter waits longer.
func (o *output) setProducer(p producer) {
	if _, ok := p.(*passthrough); ok && o.kf.interval < PassthroughKeyFrameMinInterval {
		o.kf.interval = PassthroughKeyFrameMinInterval
	}
	o.prod.Store(&producerBox{p})
}

func (o *output) producer() producer {
	if b := o.prod.Load(); b != nil {
		return b.p
	}
	return nil
}

// deliver counts a unit, notes its format at keyframes and fans it out.
// info, for pass-through, is the source's own reading of its SPS.
func (o *output) deliver(u media.Unit, info func() (media.Format, media.Size)) {
	if o.enc == nil && !u.Captured.IsZero() { // pass-through: framed now
		o.captureLat.Observe(stageClock().Sub(u.Captured))
	}
	o.units.Add(1)
	o.bytes.Add(int64(len(u.Data)))
	o.window.add(len(u.Data))
	if u.KeyFrame {
		o.keyframes.Add(1)
		o.noteFormat(u, info)
		o.firstOnce.Do(func() { close(o.first) })
	}
	o.b.Write(u)
}

// noteFormat reads the stream's format and size at a keyframe: from the
// source when it parsed the SPS already, else from the unit's SPS, parsed
// only when it differs from the last one.
func (o *output) noteFormat(u media.Unit, info func() (media.Format, media.Size)) {
	if info != nil {
		f, s := info()
		o.mu.Lock()
		o.format, o.size = f, s
		o.mu.Unlock()
		return
	}
	if u.Codec != media.H264 {
		return
	}
	for nal := range annexb.NALUnits(u.Data) {
		if annexb.NALType(nal) != annexb.NALSPS {
			continue
		}
		o.mu.Lock()
		same := bytes.Equal(nal, o.lastSPS)
		o.mu.Unlock()
		if same {
			return
		}
		sps, err := annexb.ParseSPS(nal)
		if err != nil {
			return
		}
		o.mu.Lock()
		o.lastSPS = bytes.Clone(nal)
		o.format = media.Format{Codec: media.H264, ProfileLevelID: sps.ProfileLevelID()}
		o.size = media.Size{Width: sps.Width, Height: sps.Height}
		o.mu.Unlock()
		return
	}
}

// formatNow returns the output's format and picture size.
func (o *output) formatNow() (media.Format, media.Size) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.format, o.size
}

// forceKeyFrame asks the producer for a keyframe; the limiter calls it.
func (o *output) forceKeyFrame() {
	if p := o.producer(); p != nil {
		p.keyFrame()
	}
}

// setEstimate notes a viewer's bandwidth estimate and sets the encoder's
// rate from the lowest estimate of the output's viewers, at most every
// Config.BitRateInterval, when it moved by 5% or more (NextBitRate).
func (o *output) setEstimate(viewer string, bps int) {
	o.rateMu.Lock()
	defer o.rateMu.Unlock()
	o.estimates[viewer] = bps
	if o.unsupported || time.Since(o.rateAt) < o.cfg.BitRateInterval {
		return
	}
	next, ok := NextBitRate(slices.Collect(maps.Values(o.estimates)), o.rate, o.rung.MinBitRate, o.rung.MaxBitRate)
	p := o.producer()
	if !ok || p == nil {
		return
	}
	err := p.setBitRate(next)
	switch {
	case errors.Is(err, media.ErrUnsupported):
		o.unsupported = true
	case err != nil:
		o.cfg.Log.Warn("set bit rate", "bps", next, "err", err)
	default:
		o.rate, o.rateAt = next, time.Now()
		o.cfg.Log.Debug("bit rate from bandwidth estimates", "bps", next, "viewers", len(o.estimates))
	}
}

// dropEstimate forgets a viewer that left.
func (o *output) dropEstimate(viewer string) {
	o.rateMu.Lock()
	defer o.rateMu.Unlock()
	delete(o.estimates, viewer)
}

// bitRate returns the rate last set from the estimates (0: none yet).
func (o *output) bitRate() int {
	o.rateMu.Lock()
	defer o.rateMu.Unlock()
	return o.rate
}

// encoderName names what produces the output.
func (o *output) encoderName() string {
	if p := o.producer(); p != nil {
		return p.name()
	}
	return ""
}

// waitFirst waits for the output's first keyframe, at most timeout.
func (o *output) waitFirst(ctx context.Context, timeout time.Duration, lastErr func() error) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-o.first:
		return nil
	case <-t.C:
		if e := lastErr(); e != nil {
			return fmt.Errorf("%w (%v, %s): %w", ErrNoKeyFrame, timeout, o.key, e)
		}
		return fmt.Errorf("%w (%v, %s)", ErrNoKeyFrame, timeout, o.key)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setSize notes the picture size of an output whose units carry no SPS
// (VP8).
func (o *output) setSize(s media.Size) {
	if o.key.Codec == media.H264 {
		return
	}
	o.mu.Lock()
	o.size = s
	o.mu.Unlock()
}

// close stops the encoder (if the output encodes here), the keyframe
// limiter and the fan-out.
func (o *output) close() {
	if o.enc != nil {
		o.enc.close()
	}
	o.kf.close()
	o.b.Close()
}

func (k outputKey) String() string { return fmt.Sprintf("%s rung %d", k.Codec, k.Rung) }
