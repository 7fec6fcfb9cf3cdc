//go:build cgo

package native

//#include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// timeBase is the encoder's clock: microseconds, so capture timestamps pass
// through without rounding.
var timeBase = astiav.NewRational(1, 1_000_000)

// vaapiPoolSize is the number of surfaces in the VAAPI frames context that
// frames are uploaded into: the one being uploaded, those the encoder
// holds (async_depth 1, no reordering), and headroom.
const vaapiPoolSize = 8

// Encoder is a libavcodec video encoder: libx264, h264_nvenc, h264_qsv,
// h264_vaapi or libvpx (VP8), as [Options.Codec] selects. Encode must be
// called from one goroutine at a time; ForceKeyFrame, SetBitRate and Close
// may be called from any goroutine.
type Encoder struct {
	opts     Options
	be       backend
	codec    *astiav.Codec
	input    PixelFormat // the format the codec is opened with; see InputFormat
	inputAV  C.enum_AVPixelFormat
	interval time.Duration // nominal frame interval

	forceKey atomic.Bool
	bitRate  atomic.Int64 // pending bit rate, 0 when none

	mu       sync.Mutex // guards everything below
	cc       *astiav.CodecContext
	ccC      *C.AVCodecContext
	rate     int64 // the bit rate cc runs at
	pkt      *C.AVPacket
	conv     *astiav.Frame                 // frames converted to input; allocated at the first need
	sws      C.ms_sws                      // cached by ms_convert_frame for conv
	hwIn     *C.AVBufferRef                // frames context of the hardware frames cc takes as they are; nil for system memory
	noPass   bool                          // taking hardware frames failed once: download them instead
	hwDevice *astiav.HardwareDeviceContext // VAAPI only
	hwFrames *astiav.HardwareFramesContext // VAAPI only
	hwFrame  *astiav.Frame                 // VAAPI only: the surface being sent
	lastPTS  time.Duration
	frames   int64
	closed   bool
}

// NewEncoder opens an encoder with the given options (see [Options] for the
// defaults and [Options.Codec] for the backends). Everything it allocates
// is freed if opening fails. An error names the step that failed ("open",
// "create VAAPI device /dev/dri/renderD128", ...) and wraps libavcodec's
// error; FFmpeg's own explanation goes to its log (see [SetLogger], and
// [Prober], which captures it).
//
// Every backend is set up for latency first: no B-frames, no lookahead,
// one packet out for each frame in, rate control at BitRate with a VBV of
// VBVBuffer, a keyframe every KeyFrameInterval frames and on request. The
// backend functions' documentation in backend.go lists the options each
// one sets (libx264: tune zerolatency; h264_nvenc: tune ull, zerolatency,
// delay 0; h264_qsv: async_depth 1, low_delay_brc; h264_vaapi: async_depth
// 1, CBR; libvpx: deadline realtime, cpu-used -6, lag-in-frames 0,
// error-resilient).
func NewEncoder(opts Options) (_ *Encoder, err error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.InputFormats = slices.Clone(opts.InputFormats)
	be, _ := lookupBackend(opts.Codec)
	c := astiav.FindEncoderByName(opts.Codec)
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrEncoderNotFound, opts.Codec)
	}
	e := &Encoder{
		opts:     opts,
		be:       be,
		codec:    c,
		input:    opts.inputFormat(),
		interval: frameInterval(opts.FrameRate),
		lastPTS:  NoPTS,
	}
	if e.inputAV, err = avPixFmt(e.input); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			e.free()
		}
	}()
	if opts.PixelFormat != e.input {
		// The caller says it will mostly feed frames that need converting.
		if e.conv, err = allocFrame(opts.Width, opts.Height, e.input); err != nil {
			return nil, err
		}
	}
	if be.vaapi {
		if err := e.openVAAPI(); err != nil {
			return nil, fmt.Errorf("native: %s: %w", opts.Codec, err)
		}
	}
	if e.cc, err = e.openCodec(int64(opts.BitRate), nil); err != nil {
		return nil, fmt.Errorf("native: %s %dx%d: %w", opts.Codec, opts.Width, opts.Height, err)
	}
	e.ccC = (*C.AVCodecContext)(e.cc.UnsafePointer())
	e.rate = int64(opts.BitRate)
	if e.pkt = C.av_packet_alloc(); e.pkt == nil {
		return nil, errors.New("native: allocate packet: out of memory")
	}
	return e, nil
}

// allocFrame allocates a frame with its buffer.
func allocFrame(w, h int, format PixelFormat) (*astiav.Frame, error) {
	avf, err := avPixFmt(format)
	if err != nil {
		return nil, err
	}
	f := astiav.AllocFrame()
	if f == nil {
		return nil, errors.New("native: allocate frame: out of memory")
	}
	if err := allocFrameBuffer((*C.AVFrame)(f.UnsafePointer()), w, h, avf); err != nil {
		f.Free()
		return nil, err
	}
	return f, nil
}

// allocFrameBuffer gives fc a new buffer (dropping its reference to the old
// one, which an encoder may still hold).
func allocFrameBuffer(fc *C.AVFrame, w, h int, avf C.enum_AVPixelFormat) error {
	C.av_frame_unref(fc)
	fc.width, fc.height, fc.format = C.int(w), C.int(h), C.int(avf)
	if code := C.av_frame_get_buffer(fc, 0); code < 0 {
		return wrap(averr(code), "native: allocate %dx%d frame", w, h)
	}
	return nil
}

// openVAAPI creates the VAAPI device on opts.VAAPIDevice (DRM only: no
// fallback to an X11 display) and a frames context of NV12 surfaces.
func (e *Encoder) openVAAPI() error {
	o := e.opts
	d := astiav.NewDictionary()
	defer d.Free()
	if err := d.Set("connection_type", "drm", 0); err != nil {
		return err
	}
	dev, err := astiav.CreateHardwareDeviceContext(astiav.HardwareDeviceTypeVAAPI, o.VAAPIDevice, d, 0)
	if err != nil {
		return atStage("create VAAPI device "+o.VAAPIDevice, err)
	}
	e.hwDevice = dev
	e.hwFrames = astiav.AllocHardwareFramesContext(dev)
	if e.hwFrames == nil {
		return atStage("allocate VAAPI frames", errors.New("out of memory"))
	}
	e.hwFrames.SetHardwarePixelFormat(astiav.PixelFormatVaapi)
	e.hwFrames.SetSoftwarePixelFormat(astiav.PixelFormatNv12)
	e.hwFrames.SetWidth(o.Width)
	e.hwFrames.SetHeight(o.Height)
	e.hwFrames.SetInitialPoolSize(vaapiPoolSize)
	if err := e.hwFrames.Initialize(); err != nil {
		return atStage(fmt.Sprintf("initialize %dx%d VAAPI NV12 frames", o.Width, o.Height), err)
	}
	if e.hwFrame = astiav.AllocFrame(); e.hwFrame == nil {
		return atStage("allocate VAAPI frame", errors.New("out of memory"))
	}
	return nil
}

// openCodec allocates and opens a codec context for the encoder's options
// at bps, taking system-memory frames in the input format or, with hwIn,
// the hardware frames of that frames context as they are. It frees what it
// allocated on failure.
func (e *Encoder) openCodec(bps int64, hwIn *C.AVBufferRef) (_ *astiav.CodecContext, err error) {
	o := e.opts
	cc := astiav.AllocCodecContext(e.codec)
	if cc == nil {
		return nil, errors.New("allocate codec context: out of memory")
	}
	defer func() {
		if err != nil {
			cc.Free()
		}
	}()
	ccC := (*C.AVCodecContext)(cc.UnsafePointer())
	cc.SetWidth(o.Width)
	cc.SetHeight(o.Height)
	switch {
	case hwIn != nil:
		fc := (*C.AVHWFramesContext)(unsafe.Pointer(hwIn.data))
		ccC.pix_fmt, ccC.sw_pix_fmt = fc.format, fc.sw_format
		// avcodec_free_context drops this reference.
		if ccC.hw_frames_ctx = C.av_buffer_ref(hwIn); ccC.hw_frames_ctx == nil {
			return nil, errors.New("reference hardware frames: out of memory")
		}
	case e.be.vaapi:
		ccC.pix_fmt = C.AV_PIX_FMT_VAAPI
		cc.SetHardwareFramesContext(e.hwFrames)
	default:
		ccC.pix_fmt = e.inputAV
	}
	cc.SetTimeBase(timeBase)
	cc.SetFramerate(astiav.NewRational(o.FrameRate, 1))
	cc.SetGopSize(o.KeyFrameInterval)
	if e.be.fixedGOP {
		ccC.keyint_min = C.int(o.KeyFrameInterval)
	}
	cc.SetMaxBFrames(0)
	cc.SetThreadCount(o.Threads)
	cc.SetColorRange(astiav.ColorRangeMpeg)
	cc.SetColorSpace(astiav.ColorSpaceSmpte170M)
	cc.SetColorPrimaries(astiav.ColorPrimariesSmpte170M)
	cc.SetColorTransferCharacteristic(astiav.ColorTransferCharacteristicSmpte170M)
	e.be.setRate(ccC, bps, o.VBVBuffer)

	d := astiav.NewDictionary()
	defer d.Free()
	for _, kv := range e.be.options(o) {
		if err := d.Set(kv[0], kv[1], 0); err != nil {
			return nil, atStage(fmt.Sprintf("set %s=%s", kv[0], kv[1]), err)
		}
	}
	if err := cc.Open(e.codec, d); err != nil {
		return nil, atStage("open", err)
	}
	return cc, nil
}

// frameInterval is one frame at fps, in the encoder's microsecond clock.
func frameInterval(fps int) time.Duration {
	return time.Second / time.Duration(fps) / time.Microsecond * time.Microsecond
}

// Options returns the options the encoder was opened with, defaults filled.
func (e *Encoder) Options() Options {
	o := e.opts
	o.InputFormats = slices.Clone(o.InputFormats)
	return o
}

// InputFormat returns the system-memory format the encoder takes natively,
// which Encode converts frames in the other planar format to: yuv420p or
// nv12 (see [Options.PixelFormat] and [Options.InputFormats]). h264_vaapi
// uploads frames in this format (nv12) to its surfaces.
func (e *Encoder) InputFormat() PixelFormat { return e.input }

// Name returns the libavcodec encoder's name.
func (e *Encoder) Name() string { return e.opts.Codec }

// MediaCodec returns what the encoder produces, MediaCodecH264 or
// MediaCodecVP8, to pick the RTP payloader by.
func (e *Encoder) MediaCodec() string { return e.be.media }

// ForceKeyFrame makes the next frame a key frame: an IDR preceded by SPS
// and PPS for H.264, a key frame for VP8.
func (e *Encoder) ForceKeyFrame() error {
	if e.isClosed() {
		return ErrClosed
	}
	e.forceKey.Store(true)
	return nil
}

// SetBitRate changes the target bit rate (and the VBV's maximum rate) from
// the next frame on. libx264, h264_nvenc and h264_qsv take the new rate
// without reopening (h264_nvenc reconfigures itself with an IDR, h264_qsv
// resets its session's parameters).
// h264_vaapi and libvpx cannot change their rate while open: the next
// Encode reopens them at the new rate, after draining the old encoder, and
// their next packet is a key frame; should reopening fail, Encode returns
// the error and the encoder goes on at the old rate.
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

// applyRate applies a pending bit-rate change. Callers hold mu.
func (e *Encoder) applyRate(emit func(Packet) error) error {
	bps := e.bitRate.Swap(0)
	if bps <= 0 {
		return nil
	}
	if e.be.dynamicRate {
		e.be.setRate(e.ccC, bps, e.opts.VBVBuffer)
		e.rate = bps
		return nil
	}
	if bps == e.rate {
		return nil
	}
	cc, err := e.openCodec(bps, e.hwIn)
	if err != nil {
		return fmt.Errorf("native: reopen %s at %d b/s: %w", e.opts.Codec, bps, err)
	}
	// Drain the old encoder: its packets precede the new one's.
	flushErr := e.flushLocked(emit)
	e.cc.Free()
	e.cc, e.ccC, e.rate = cc, (*C.AVCodecContext)(cc.UnsafePointer()), bps
	return flushErr
}

// Encode submits f and calls emit for each packet that is ready, in
// decode order. With the low-latency settings every frame yields its own
// packet before Encode returns. Encode takes ownership of f and releases
// it (a pooled frame goes back to its pool, a decoded or referenced frame
// drops its reference), on error too. Packet data is valid only during
// emit; emit must not call Encode, Flush or Close.
//
// f's own size (a decoded picture's, which may change with the stream)
// must be the encoder's, or Encode returns ErrFrameMismatch. A frame in
// the encoder's input format ([Encoder.InputFormat]) in limited range
// goes to the encoder as it is; any other system-memory frame (the other
// planar format, a full-range yuvj420p picture from a decoder, ...) is
// first converted by libswscale into an internal frame, reused from frame
// to frame (a new buffer only while the encoder still holds the previous
// picture). h264_vaapi then uploads the frame to one of its device's
// surfaces. Every caller, the probe included, takes this path.
//
// A hardware frame ([Frame.Hardware]) goes to an encoder of its device
// type as it is, without leaving the GPU: a "cuda" frame from NVDEC into
// h264_nvenc, a "vaapi" frame into h264_vaapi. The encoder is then
// reopened on the frame's frames context (draining the old one first; the
// new one starts with an IDR), once, and again only when the frames
// context changes or system-memory frames come back. Should that reopen
// fail, the encoder stays on system memory and downloads hardware frames
// from then on. Any other encoder downloads a hardware frame
// ([Frame.Download], once for all the references to the picture) and
// takes the copy as above. The hardware paths have not run on hardware
// (see the package documentation).
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
	if f.width != e.opts.Width || f.height != e.opts.Height {
		return fmt.Errorf("%w: frame %dx%d, encoder %dx%d", ErrFrameMismatch,
			f.width, f.height, e.opts.Width, e.opts.Height)
	}
	if err := e.applyRate(emit); err != nil {
		return err
	}
	if err := e.selectInput(f, emit); err != nil {
		return err
	}
	if f.hw != nil && e.hwIn == nil {
		if err := f.Download(); err != nil {
			return err
		}
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
	in := f.av
	if e.hwIn == nil && C.ms_needs_convert(f.c, e.inputAV) != 0 {
		var err error
		if in, err = e.convert(f); err != nil {
			return err
		}
	}
	if e.hwFrame != nil && e.hwIn == nil {
		// The surface goes to the encoder, which keeps its own reference.
		defer e.hwFrame.Unref()
		if err := e.hwFrame.AllocHardwareBuffer(e.hwFrames); err != nil {
			return wrap(err, "native: get a VAAPI surface")
		}
		if err := in.TransferHardwareData(e.hwFrame); err != nil {
			return wrap(err, "native: upload frame %d to VAAPI", e.frames)
		}
		if code := C.av_frame_copy_props((*C.AVFrame)(e.hwFrame.UnsafePointer()), (*C.AVFrame)(in.UnsafePointer())); code < 0 {
			return wrap(averr(code), "native: copy frame properties")
		}
		in = e.hwFrame
	}

	if code := C.avcodec_send_frame(e.ccC, (*C.AVFrame)(in.UnsafePointer())); code < 0 {
		return wrap(averr(code), "native: encode frame %d", e.frames)
	}
	e.frames++
	return e.drain(emit)
}

// takesHardware reports whether the encoder can take hardware frames of
// the device type as they are.
func (e *Encoder) takesHardware(device string) bool {
	return device != "" && device == e.be.hwInput && !e.noPass
}

// selectInput reopens the encoder when f needs the other kind of input:
// a hardware frame that the encoder takes as it is, from another frames
// context than the one the encoder was opened on, or a system-memory
// frame (or one to download) while the encoder takes hardware frames.
// Callers hold mu.
func (e *Encoder) selectInput(f *Frame, emit func(Packet) error) error {
	var want *C.AVBufferRef
	if f.hw != nil && e.takesHardware(f.hw.device) {
		want = f.c.hw_frames_ctx
	}
	if sameBuffer(want, e.hwIn) {
		return nil
	}
	err := e.switchInput(want, emit)
	if err == nil || want == nil {
		return err
	}
	// Taking the frames as they are failed: download them from now on.
	e.noPass = true
	if l := logger(); l != nil {
		l.Warn("encoder cannot take hardware frames as they are; downloading them",
			"encoder", e.opts.Codec, "device", f.hw.device, "error", err)
	}
	if e.hwIn == nil {
		return nil
	}
	return e.switchInput(nil, emit)
}

// sameBuffer reports whether two buffer references (either may be nil)
// refer to the same data.
func sameBuffer(a, b *C.AVBufferRef) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.data == b.data
}

// switchInput reopens the codec for hardware frames of the frames context
// hwIn, or for system-memory frames when hwIn is nil, draining the old
// codec context first. On failure the encoder is left as it was. Callers
// hold mu.
func (e *Encoder) switchInput(hwIn *C.AVBufferRef, emit func(Packet) error) error {
	var ref *C.AVBufferRef
	if hwIn != nil {
		if ref = C.av_buffer_ref(hwIn); ref == nil {
			return errors.New("native: reference hardware frames: out of memory")
		}
	}
	cc, err := e.openCodec(e.rate, hwIn)
	if err != nil {
		C.av_buffer_unref(&ref)
		return fmt.Errorf("native: reopen %s for %s frames: %w", e.opts.Codec, inputKind(hwIn), err)
	}
	flushErr := e.flushLocked(emit)
	e.cc.Free()
	e.cc, e.ccC = cc, (*C.AVCodecContext)(cc.UnsafePointer())
	C.av_buffer_unref(&e.hwIn)
	e.hwIn = ref
	return flushErr
}

// inputKind names the frames an encoder opened on hwIn takes.
func inputKind(hwIn *C.AVBufferRef) string {
	if hwIn == nil {
		return "system-memory"
	}
	return C.GoString(C.av_get_pix_fmt_name((*C.AVHWFramesContext)(unsafe.Pointer(hwIn.data)).format))
}

// convert converts f, whose properties are set, to the encoder's input
// format in e.conv, which it allocates at the first need. Callers hold mu.
func (e *Encoder) convert(f *Frame) (*astiav.Frame, error) {
	if e.conv == nil {
		conv, err := allocFrame(e.opts.Width, e.opts.Height, e.input)
		if err != nil {
			return nil, err
		}
		e.conv = conv
	}
	conv := (*C.AVFrame)(e.conv.UnsafePointer())
	// An encoder may still hold the previous picture: never overwrite it.
	if C.av_frame_is_writable(conv) == 0 {
		if err := allocFrameBuffer(conv, e.opts.Width, e.opts.Height, C.enum_AVPixelFormat(conv.format)); err != nil {
			return nil, err
		}
	}
	if code := C.ms_convert_frame(&e.sws, f.c, conv); code < 0 {
		return nil, wrap(averr(code), "native: convert %s to %s",
			C.GoString(C.av_get_pix_fmt_name(C.enum_AVPixelFormat(f.c.format))), e.input)
	}
	return e.conv, nil
}

// Flush drains the frames the encoder still holds. The encoder takes no
// frames after Flush; Close it.
func (e *Encoder) Flush(emit func(Packet) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	return e.flushLocked(emit)
}

func (e *Encoder) flushLocked(emit func(Packet) error) error {
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

// free releases everything, in dependency order: the codec context refers
// to the frames context, which refers to the device.
func (e *Encoder) free() {
	if e.pkt != nil {
		C.av_packet_free(&e.pkt)
	}
	if e.cc != nil {
		e.cc.Free()
		e.cc, e.ccC = nil, nil
	}
	if e.conv != nil {
		e.conv.Free()
		e.conv = nil
	}
	C.ms_sws_free(&e.sws)
	C.av_buffer_unref(&e.hwIn)
	if e.hwFrame != nil {
		e.hwFrame.Free()
		e.hwFrame = nil
	}
	if e.hwFrames != nil {
		e.hwFrames.Free()
		e.hwFrames = nil
	}
	if e.hwDevice != nil {
		e.hwDevice.Free()
		e.hwDevice = nil
	}
}
