package native

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// H264Candidates are the H.264 encoders in order of preference: the
// hardware encoders first, libx264 last, which [Prober.H264] probes in this
// order.
var H264Candidates = []string{CodecNVENC, CodecQSV, CodecVAAPI, CodecX264}

// DefaultProbeTimeout bounds each encoder's probe when NewProber is given 0.
const DefaultProbeTimeout = 5 * time.Second

// ProbeResult is the outcome of probing one encoder or decoder backend.
type ProbeResult struct {
	// Encoder is the libavcodec encoder's name (a Codec constant); empty
	// for a decoder's result.
	Encoder string
	// Decoder is the decoder backend's name (a Backend constant, see
	// [Prober.Decoders]); empty for an encoder's result.
	Decoder string
	// Available is set when the encoder opened and produced a packet, or
	// the decoder opened and decoded a picture.
	Available bool
	// Reason says why the encoder is not available, in words: the step
	// that failed, libavcodec's error and what FFmpeg logged meanwhile, for
	// example "open: Operation not permitted (Cannot load libcuda.so.1)".
	// Empty when Available.
	Reason string
	// Elapsed is how long the probe took.
	Elapsed time.Duration
}

// Prober finds out which encoders work on this machine by really encoding:
// a compiled-in encoder, or even a GPU, is no proof (an H100 has CUDA and
// no NVENC). Each probe is [ProbeEncoder]: it opens the encoder at 256x144
// (above NVENC's minimum of 145x49), encodes small capture-format frames
// through the service's frame path until a packet comes out, and closes
// it. [Prober.Decoders] probes the H.264 decoder backends the same way,
// each with [ProbeDecoder]. Probes run one at a time; results are cached,
// so each encoder and decoder is probed once per Prober. A Prober is safe
// for concurrent use.
//
// Each probe's result is logged once, when it is probed, to the logger
// that [SetLogger] set: one info line, "encoder probe" (or "decoder
// probe"), with available=false and the reason when it failed. A probe
// that finds no GPU is no error: what FFmpeg logs meanwhile becomes part
// of the reason and reaches the logger at debug level only.
//
// A probe that does not finish within the timeout is reported unavailable
// ("timed out after 5s") and abandoned: its goroutine keeps its OS thread
// and whatever the encoder allocated in C until the stuck call returns (it
// then closes the encoder), and forever if it never does.
type Prober struct {
	timeout     time.Duration
	vaapiDevice string
	probe       func(codec, vaapiDevice string) error   // the probe itself; tests replace it
	probeDec    func(backend, vaapiDevice string) error // a decoder's; tests replace it

	mu   sync.Mutex // serializes probes; guards the cache
	h264 []ProbeResult
	vp8  *ProbeResult
	dec  []ProbeResult
}

// NewProber returns a Prober that gives each encoder at most timeout
// (DefaultProbeTimeout when 0) and opens h264_vaapi on vaapiDevice
// (DefaultVAAPIDevice when empty).
func NewProber(timeout time.Duration, vaapiDevice string) *Prober {
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	if vaapiDevice == "" {
		vaapiDevice = DefaultVAAPIDevice
	}
	return &Prober{timeout: timeout, vaapiDevice: vaapiDevice, probe: probeEncoder, probeDec: probeDecoder}
}

// H264 probes the H.264 encoders in the order of H264Candidates (NVENC,
// QSV, VAAPI, libx264) and returns a result for each, in that order. The
// results are cached after the first complete run; a run cut short by ctx
// is returned (the encoders not probed say so) but not cached.
func (p *Prober) H264(ctx context.Context) []ProbeResult {
	return p.each(ctx, &p.h264, H264Candidates, false)
}

// each probes names in order (decoders when decoder is set) and returns a
// result for each; a complete run is cached in *cache, and a cached one
// returned as it is.
func (p *Prober) each(ctx context.Context, cache *[]ProbeResult, names []string, decoder bool) []ProbeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	if *cache != nil {
		return slices.Clone(*cache)
	}
	out := make([]ProbeResult, 0, len(names))
	complete := true
	for _, name := range names {
		r, ok := p.run(ctx, name, decoder)
		complete = complete && ok
		out = append(out, r)
	}
	if complete {
		*cache = out
	}
	return slices.Clone(out)
}

// All returns the H.264 results of H264 followed by libvpx's (VP8).
func (p *Prober) All(ctx context.Context) []ProbeResult {
	out := p.H264(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.vp8 != nil {
		return append(out, *p.vp8)
	}
	r, ok := p.run(ctx, CodecVP8, false)
	if ok {
		p.vp8 = &r
	}
	return append(out, r)
}

// Best returns the first available H.264 encoder in the order of
// H264Candidates: a hardware encoder when one works, else libx264. It fails
// only when none works, libx264 included (a binary built without cgo).
func (p *Prober) Best(ctx context.Context) (string, error) {
	res := p.H264(ctx)
	var why []string
	for _, r := range res {
		if r.Available {
			return r.Encoder, nil
		}
		why = append(why, r.Encoder+": "+r.Reason)
	}
	return "", fmt.Errorf("%w: no H.264 encoder works (%s)", ErrUnavailable, strings.Join(why, "; "))
}

// Decoders probes the H.264 decoder backends in the order of
// DecoderBackends (NVDEC, QSV, VA-API, software) with [ProbeDecoder], each
// with the timeout, and returns a result for each (ProbeResult.Decoder),
// in that order. Results are cached as H264's are. The Prober's VAAPI
// device is the one BackendVAAPI opens.
func (p *Prober) Decoders(ctx context.Context) []ProbeResult {
	return p.each(ctx, &p.dec, DecoderBackends, true)
}

// BestDecoder returns the first available decoder backend in the order of
// DecoderBackends: a hardware decoder when one works, else software. It
// fails only when none works (a binary built without cgo). Open it by
// name ([DecoderOptions.Backend]) to skip the fallback chain's failed
// attempts.
func (p *Prober) BestDecoder(ctx context.Context) (string, error) {
	res := p.Decoders(ctx)
	var why []string
	for _, r := range res {
		if r.Available {
			return r.Decoder, nil
		}
		why = append(why, r.Decoder+": "+r.Reason)
	}
	return "", fmt.Errorf("%w: no H.264 decoder works (%s)", ErrUnavailable, strings.Join(why, "; "))
}

// run probes one encoder, or decoder backend, with the timeout. ok is
// false when ctx ended first; the result then says so.
func (p *Prober) run(ctx context.Context, name string, decoder bool) (r ProbeResult, ok bool) {
	start := time.Now()
	codec := name
	probe, dev, kind := p.probe, p.vaapiDevice, "encoder"
	if decoder {
		r.Decoder, probe, kind = name, p.probeDec, "decoder"
	} else {
		r.Encoder = name
	}
	if err := ctx.Err(); err != nil {
		r.Reason = "not probed: " + err.Error()
		return r, false
	}
	sink := &lineSink{}
	done := make(chan error, 1)
	go func() {
		done <- withLogCapture(sink, func() error { return probe(codec, dev) })
	}()
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	var err error
	ok = true
	select {
	case err = <-done:
	case <-timer.C:
		select {
		case err = <-done: // finished as the timer fired
		default:
			err = fmt.Errorf("timed out after %s", p.timeout)
		}
	case <-ctx.Done():
		err = fmt.Errorf("probe cut short: %w", ctx.Err())
		ok = false
	}
	r.Elapsed = time.Since(start)
	r.Available = err == nil
	if err != nil {
		lines := sink.snapshot()
		if hint := deviceHint(codec, dev); hint != "" && Available {
			lines = append(lines, hint)
		}
		r.Reason = probeReason(err, lines)
	}
	if l := logger(); l != nil && ok {
		if r.Available {
			l.Info(kind+" probe", kind, codec, "available", true, "elapsed", r.Elapsed)
		} else {
			l.Info(kind+" probe", kind, codec, "available", false, "reason", r.Reason, "elapsed", r.Elapsed)
		}
	}
	return r, ok
}

// probeReason is err in words ("stage: cause") followed by the FFmpeg log
// lines that add to it, in parentheses.
func probeReason(err error, lines []string) string {
	msg := err.Error()
	var se *stageError
	if errors.As(err, &se) {
		msg = se.Error()
	}
	msg = strings.ReplaceAll(msg, "native: ", "")
	var extra []string
	for _, l := range lines {
		l = strings.TrimRight(l, ". ")
		if l != "" && !strings.Contains(msg, l) && !slices.Contains(extra, l) {
			extra = append(extra, l)
		}
	}
	if len(extra) > 0 {
		msg += " (" + strings.Join(extra, "; ") + ")"
	}
	return msg
}

// deviceHint says what the machine lacks for a hardware encoder or decoder
// backend, when it lacks the device node it needs: FFmpeg's messages do
// not always say (oneVPL's "Error creating a MFX session: -9" means no
// runtime found a device).
func deviceHint(codec, vaapiDevice string) string {
	switch codec {
	case BackendNVDEC, BackendCUVID:
		codec = CodecNVENC
	case BackendQSV:
		codec = CodecQSV
	case BackendVAAPI:
		codec = CodecVAAPI
	}
	switch codec {
	case CodecNVENC:
		if _, err := os.Stat("/dev/nvidiactl"); err != nil {
			return "no NVIDIA GPU device node: " + err.Error()
		}
	case CodecQSV:
		if nodes, _ := filepath.Glob("/dev/dri/renderD*"); len(nodes) == 0 {
			return "no DRM render node in /dev/dri"
		}
	case CodecVAAPI:
		f, err := os.OpenFile(vaapiDevice, os.O_RDWR, 0)
		if err != nil {
			return err.Error()
		}
		f.Close()
	}
	return ""
}

// Probe geometry: small, and above NVENC's minimum frame of 145x49.
const (
	probeWidth  = 256
	probeHeight = 144
	probeFrames = 8 // frames to encode before giving up on a packet
)

// probeEncoder is the Prober's probe: ProbeEncoder with codec at the probe
// size, a low bit rate and one thread.
func probeEncoder(codec, vaapiDevice string) error {
	return ProbeEncoder(Options{Codec: codec, BitRate: 500_000, Threads: 1, VAAPIDevice: vaapiDevice})
}

// ProbeEncoder finds out whether the encoder that opts describes works on
// this machine, by encoding through the path the service's frames take: it
// opens the encoder with opts (at 256x144 unless opts gives a size), gets
// frames of [CaptureFormat] from a [FramePool], as the capture sources do,
// fills them and hands them to [Encoder.Encode], which converts them to the
// encoder's input format (and uploads them, for h264_vaapi) as it does for
// the service, until a packet comes out; then it closes the encoder. So an
// encoder that passes the probe can encode capture frames. It returns nil
// or the error of the step that failed ("open: ...", "encode: ...").
//
// ProbeEncoder has no timeout and captures no FFmpeg log: [Prober] adds
// both. A hardware encoder that failed at run time can be re-probed with
// it, with the options it would be reopened with, before it is used again.
// Without cgo it returns [ErrUnavailable].
func ProbeEncoder(opts Options) error {
	if opts.Width == 0 && opts.Height == 0 {
		opts.Width, opts.Height = probeWidth, probeHeight
	}
	enc, err := NewEncoder(opts)
	if err != nil {
		return err
	}
	defer enc.Close()
	o := enc.Options()
	pool, err := NewFramePool(o.Width, o.Height, CaptureFormat, 2)
	if err != nil {
		return atStage("allocate frames", err)
	}
	defer pool.Close()
	packets := 0
	emit := func(Packet) error { packets++; return nil }
	for i := 0; i < probeFrames && packets == 0; i++ {
		f, err := pool.Get()
		if err != nil {
			return atStage("allocate frames", err)
		}
		fillProbeFrame(f, i)
		if err := enc.Encode(f, emit); err != nil {
			return atStage("encode", err)
		}
	}
	if packets == 0 {
		if err := enc.Flush(emit); err != nil {
			return atStage("flush", err)
		}
	}
	if packets == 0 {
		return fmt.Errorf("encode: no packet after %d frames", probeFrames)
	}
	return nil
}

// fillProbeFrame draws a moving gradient on grey chroma.
func fillProbeFrame(f *Frame, n int) {
	y, s := f.Plane(0), f.Stride(0)
	for row := 0; row < f.Height(); row++ {
		for col := 0; col < f.Width(); col++ {
			y[row*s+col] = byte(16 + (col+row+4*n)%200)
		}
	}
	for i := 1; i <= 2; i++ {
		p := f.Plane(i)
		for j := range p {
			p[j] = 128
		}
	}
}

// lineSink collects the FFmpeg log lines of one probe.
type lineSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *lineSink) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lines)
}
