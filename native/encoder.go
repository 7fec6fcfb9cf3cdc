//go:build cgo

package native

//#include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
	"github.com/pion/mediadevices/pkg/codec"
)

// Interface guards: the encoder takes mediadevices' controller interfaces.
var (
	_ codec.KeyFrameController = (*Encoder)(nil)
	_ codec.BitRateController  = (*Encoder)(nil)
)

// timeBase is the encoder's clock: microseconds, so capture timestamps pass
// through without rounding.
var timeBase = astiav.NewRational(1, 1_000_000)

// Encoder is a libavcodec video encoder. Encode must be called from one
// goroutine at a time; ForceKeyFrame, SetBitRate and Close may be called
// from any goroutine.
type Encoder struct {
	opts     Options
	interval time.Duration // nominal frame interval

	forceKey atomic.Bool
	bitRate  atomic.Int64 // pending bit rate, 0 when none

	mu      sync.Mutex // guards everything below
	cc      *astiav.CodecContext
	ccC     *C.AVCodecContext
	pkt     *C.AVPacket
	lastPTS time.Duration
	frames  int64
	closed  bool
}

// NewEncoder opens an encoder with the given options (see [Options] for the
// defaults). Everything it allocates is freed if opening fails.
func NewEncoder(opts Options) (_ *Encoder, err error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := astiav.FindEncoderByName(opts.Codec)
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrEncoderNotFound, opts.Codec)
	}
	avFmt, err := avPixFmt(opts.PixelFormat)
	if err != nil {
		return nil, err
	}
	e := &Encoder{
		opts:     opts,
		interval: frameInterval(opts.FrameRate),
		lastPTS:  NoPTS,
	}
	e.cc = astiav.AllocCodecContext(c)
	if e.cc == nil {
		return nil, errors.New("native: allocate codec context: out of memory")
	}
	defer func() {
		if err != nil {
			e.free()
		}
	}()
	e.ccC = (*C.AVCodecContext)(e.cc.UnsafePointer())

	e.cc.SetWidth(opts.Width)
	e.cc.SetHeight(opts.Height)
	e.ccC.pix_fmt = avFmt
	e.cc.SetTimeBase(timeBase)
	e.cc.SetFramerate(astiav.NewRational(opts.FrameRate, 1))
	e.cc.SetGopSize(opts.KeyFrameInterval)
	e.cc.SetMaxBFrames(0)
	e.cc.SetThreadCount(opts.Threads)
	e.cc.SetColorRange(astiav.ColorRangeMpeg)
	e.cc.SetColorSpace(astiav.ColorSpaceSmpte170M)
	e.cc.SetColorPrimaries(astiav.ColorPrimariesSmpte170M)
	e.cc.SetColorTransferCharacteristic(astiav.ColorTransferCharacteristicSmpte170M)
	e.setRate(int64(opts.BitRate))

	d := astiav.NewDictionary()
	defer d.Free()
	for _, kv := range [][2]string{
		{"preset", opts.Preset},
		{"tune", "zerolatency"},
		{"profile", opts.Profile},
		// Frames forced to I become IDRs, and x264 repeats SPS/PPS before
		// every IDR, so a viewer can start at any forced keyframe.
		{"forced-idr", "1"},
		{"x264-params", "repeat-headers=1:scenecut=0:keyint_min=" + strconv.Itoa(opts.KeyFrameInterval)},
	} {
		if err := d.Set(kv[0], kv[1], 0); err != nil {
			return nil, wrap(err, "native: set %s=%s", kv[0], kv[1])
		}
	}
	if err := e.cc.Open(c, d); err != nil {
		return nil, wrap(err, "native: open %s %dx%d", opts.Codec, opts.Width, opts.Height)
	}
	if e.pkt = C.av_packet_alloc(); e.pkt == nil {
		return nil, errors.New("native: allocate packet: out of memory")
	}
	return e, nil
}

// frameInterval is one frame at fps, in the encoder's microsecond clock.
func frameInterval(fps int) time.Duration {
	return time.Second / time.Duration(fps) / time.Microsecond * time.Microsecond
}

// setRate writes the rate-control fields; libx264 reconfigures itself when
// it sees them change on the next frame. Callers hold mu or own e alone.
func (e *Encoder) setRate(bps int64) {
	e.cc.SetBitRate(bps)
	e.cc.SetRateControlMaxRate(bps)
	e.ccC.rc_buffer_size = C.int(bps * int64(e.opts.VBVBuffer) / int64(time.Second))
}

// Options returns the options the encoder was opened with, defaults filled.
func (e *Encoder) Options() Options { return e.opts }

// Name returns the libavcodec encoder's name.
func (e *Encoder) Name() string { return e.opts.Codec }

// ForceKeyFrame makes the next frame an IDR preceded by SPS and PPS.
func (e *Encoder) ForceKeyFrame() error {
	if e.isClosed() {
		return ErrClosed
	}
	e.forceKey.Store(true)
	return nil
}

// SetBitRate changes the target bit rate (and the VBV's maximum rate) from
// the next frame on, without reopening the encoder.
func (e *Encoder) SetBitRate(bps int) error {
	if err := validBitRate(bps); err != nil {
		return err
	}
	if e.isClosed() {
		return ErrClosed
	}
	e.bitRate.Store(int64(bps))
	return nil
}

func (e *Encoder) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// Encode submits f and calls emit for each access unit that is ready, in
// decode order. With the low-latency settings every frame yields its own
// unit before Encode returns. Encode takes ownership of f and gives it back
// to its pool, on error too. Packet data is valid only during emit; emit
// must not call Encode, Flush or Close.
func (e *Encoder) Encode(f *Frame, emit func(Packet) error) error {
	if f == nil || f.released {
		return ErrFrameReleased
	}
	defer f.Release()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if f.pool.width != e.opts.Width || f.pool.height != e.opts.Height || f.pool.format != e.opts.PixelFormat {
		return fmt.Errorf("%w: frame %dx%d %s, encoder %dx%d %s", ErrFrameMismatch,
			f.pool.width, f.pool.height, f.pool.format, e.opts.Width, e.opts.Height, e.opts.PixelFormat)
	}
	if bps := e.bitRate.Swap(0); bps > 0 {
		e.setRate(bps)
	}

	pts := f.PTS
	if pts == NoPTS {
		pts = 0
		if e.lastPTS != NoPTS {
			pts = e.lastPTS + e.interval
		}
	} else if e.lastPTS != NoPTS && pts <= e.lastPTS {
		pts = e.lastPTS + time.Microsecond // PTS must increase strictly
	}
	e.lastPTS = pts
	f.c.pts = C.int64_t(pts / time.Microsecond)
	f.c.duration = C.int64_t(e.interval / time.Microsecond)
	f.c.pict_type = C.AV_PICTURE_TYPE_NONE
	if e.forceKey.Swap(false) {
		f.c.pict_type = C.AV_PICTURE_TYPE_I
	}

	if code := C.avcodec_send_frame(e.ccC, f.c); code < 0 {
		return wrap(averr(code), "native: encode frame %d", e.frames)
	}
	e.frames++
	return e.drain(emit)
}

// Flush drains the frames the encoder still holds. The encoder takes no
// frames after Flush; Close it.
func (e *Encoder) Flush(emit func(Packet) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if code := C.avcodec_send_frame(e.ccC, nil); code < 0 && code != errEOF {
		return wrap(averr(code), "native: flush")
	}
	return e.drain(emit)
}

// drain receives every ready packet. Callers hold mu.
func (e *Encoder) drain(emit func(Packet) error) error {
	for {
		code := C.avcodec_receive_packet(e.ccC, e.pkt)
		if code == errAgain || code == errEOF {
			return nil
		}
		if code < 0 {
			return wrap(averr(code), "native: receive packet after frame %d", e.frames)
		}
		p := Packet{
			Data:     unsafe.Slice((*byte)(unsafe.Pointer(e.pkt.data)), int(e.pkt.size)),
			KeyFrame: e.pkt.flags&C.AV_PKT_FLAG_KEY != 0,
			PTS:      time.Duration(e.pkt.pts) * time.Microsecond,
			Duration: time.Duration(e.pkt.duration) * time.Microsecond,
		}
		if p.Duration <= 0 {
			p.Duration = e.interval
		}
		err := emit(p)
		C.av_packet_unref(e.pkt)
		if err != nil {
			return err
		}
	}
}

// Close frees the encoder. It is idempotent, and safe to call from any
// goroutine; it waits for an Encode in progress.
func (e *Encoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.free()
	return nil
}

func (e *Encoder) free() {
	if e.pkt != nil {
		C.av_packet_free(&e.pkt)
	}
	if e.cc != nil {
		e.cc.Free()
		e.cc, e.ccC = nil, nil
	}
}
