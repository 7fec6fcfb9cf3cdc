//go:build cgo

package native

//#include <stdlib.h>
//#include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// Device types of hardware frames ([Frame.Hardware]), libavutil's names.
const (
	hwDeviceCUDA  = "cuda"
	hwDeviceVAAPI = "vaapi"
)

// hwExtraFrames is how many surfaces a hardware decoder allocates beyond
// what decoding needs (extra_hw_frames): the pictures its consumers
// (encoders, references) may hold at once. VAAPI's surface pool has a
// fixed size; a decoder runs out of surfaces when consumers hold more.
const hwExtraFrames = 8

// VideoDecoder decodes an H.264 stream into [Frame]s that reference the
// decoder's pictures: no pixel is copied between the decoder and the
// frame's consumer. The backends are in [DecoderOptions.Backend]. A
// VideoDecoder is safe for concurrent use, one call at a time; the frames
// it hands out belong to their receivers and may outlive it.
type VideoDecoder struct {
	opts DecoderOptions
	auto bool

	mu      sync.Mutex // guards everything below
	dec     *backendDecoder
	rest    []string // backends left to fall back on (BackendAuto)
	pkt     *C.AVPacket
	frame   *C.AVFrame
	params  []byte // the last SPS and PPS seen, to start a replacement
	waitIDR bool   // a replacement waits for an IDR
	closed  bool
}

// backendDecoder is one open libavcodec decoder of a backend.
type backendDecoder struct {
	name   string // the backend
	device string // hardware frames' device type, "" for system memory
	cc     *astiav.CodecContext
	ccC    *C.AVCodecContext
	fail   error // tests: every decode fails with it
}

// NewVideoDecoder opens a decoder with the given options: BackendAuto
// (the default) opens the first backend of [DecoderBackends] that opens
// (NVDEC, QSV, VA-API, software), a named backend only that one.
// Opening creates the backend's device (a CUDA context, a VA-API display
// on the render node), so that a machine without the hardware fails here
// for NVDEC and VA-API; QSV finds out at the first access unit. The error
// of a failed open lists each backend's reason.
func NewVideoDecoder(o DecoderOptions) (_ *VideoDecoder, err error) {
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	d := &VideoDecoder{opts: o, auto: o.Backend == BackendAuto, rest: o.chain()}
	defer func() {
		if err != nil {
			d.free()
		}
	}()
	if d.pkt = C.av_packet_alloc(); d.pkt == nil {
		return nil, errors.New("native: allocate packet: out of memory")
	}
	if d.frame = C.av_frame_alloc(); d.frame == nil {
		return nil, errors.New("native: allocate frame: out of memory")
	}
	if err := d.next(nil); err != nil {
		return nil, err
	}
	return d, nil
}

// next opens the next backend of the chain that opens, replacing the
// current one. why is the current one's failure, for the log and the
// error.
func (d *VideoDecoder) next(why error) error {
	var reasons []string
	if why != nil && d.dec != nil {
		reasons = append(reasons, d.dec.name+": "+why.Error())
	}
	d.closeBackend()
	for len(d.rest) > 0 {
		name := d.rest[0]
		d.rest = d.rest[1:]
		b, err := openBackend(name, d.opts)
		if err == nil {
			d.dec = b
			if l := logger(); l != nil && (why != nil || len(reasons) > 0) {
				l.Warn("decoder fell back", "backend", name, "skipped", strings.Join(reasons, "; "))
			}
			return nil
		}
		if !d.auto {
			return err
		}
		reasons = append(reasons, name+": "+strings.ReplaceAll(err.Error(), "native: ", ""))
	}
	return fmt.Errorf("native: no H.264 decoder backend works (%s)", strings.Join(reasons, "; "))
}

func (d *VideoDecoder) closeBackend() {
	if d.dec != nil {
		d.dec.cc.Free()
		d.dec = nil
	}
}

// openBackend opens the named backend's decoder.
func openBackend(name string, o DecoderOptions) (_ *backendDecoder, err error) {
	codec := "h264"
	var devType C.enum_AVHWDeviceType = C.AV_HWDEVICE_TYPE_NONE
	var want C.enum_AVPixelFormat = C.AV_PIX_FMT_NONE
	var device, devPath string
	dict := astiav.NewDictionary() // the decoder's options
	defer dict.Free()
	switch name {
	case BackendNVDEC:
		devType, want, device = C.AV_HWDEVICE_TYPE_CUDA, C.AV_PIX_FMT_CUDA, hwDeviceCUDA
	case BackendCUVID:
		codec = "h264_cuvid"
		devType, want, device = C.AV_HWDEVICE_TYPE_CUDA, C.AV_PIX_FMT_CUDA, hwDeviceCUDA
	case BackendVAAPI:
		devType, want, device, devPath = C.AV_HWDEVICE_TYPE_VAAPI, C.AV_PIX_FMT_VAAPI, hwDeviceVAAPI, o.VAAPIDevice
	case BackendQSV:
		// System-memory nv12: h264_qsv copies each picture out of its
		// surface, with an internal session (no device to create here).
		codec, want = "h264_qsv", C.AV_PIX_FMT_NV12
		// One frame in flight: the default (4) holds pictures back
		// until its queue fills.
		if err := dict.Set("async_depth", "1", 0); err != nil {
			return nil, err
		}
	case BackendSoftware:
	default:
		return nil, fmt.Errorf("%w: decoder backend %q", ErrInvalidOptions, name)
	}
	c := astiav.FindDecoderByName(codec)
	if c == nil {
		return nil, atStage("open", fmt.Errorf("decoder %s not compiled into FFmpeg", codec))
	}
	b := &backendDecoder{name: name, device: device, cc: astiav.AllocCodecContext(c)}
	if b.cc == nil {
		return nil, errors.New("native: allocate codec context: out of memory")
	}
	defer func() {
		if err != nil {
			b.cc.Free()
		}
	}()
	b.ccC = (*C.AVCodecContext)(b.cc.UnsafePointer())
	// Timestamps in the encoders' microsecond clock, carried from each
	// packet to its picture.
	b.ccC.pkt_timebase = C.AVRational{num: 1, den: 1_000_000}
	if name == BackendSoftware {
		// Slice threads only: frame threading delays every picture.
		b.cc.SetThreadType(astiav.ThreadTypeSlice)
		b.cc.SetThreadCount(o.Threads)
	} else {
		b.cc.SetThreadCount(1)
	}
	if name == BackendCUVID {
		// h264_cuvid holds pictures back for reordering unless told the
		// stream is low-delay (ulMaxDisplayDelay 0).
		b.cc.SetFlags(b.cc.Flags().Add(astiav.CodecContextFlagLowDelay))
	}
	if want != C.AV_PIX_FMT_NONE {
		C.ms_want_format(b.ccC, want)
	}
	if devType != C.AV_HWDEVICE_TYPE_NONE {
		var ref *C.AVBufferRef
		var cpath *C.char
		var devOpts *C.AVDictionary
		defer C.av_dict_free(&devOpts)
		if devPath != "" {
			// A DRM render node only: no fallback to an X11 display.
			cpath = C.CString(devPath)
			defer C.free(unsafe.Pointer(cpath))
			k, v := C.CString("connection_type"), C.CString("drm")
			code := C.av_dict_set(&devOpts, k, v, 0)
			C.free(unsafe.Pointer(k))
			C.free(unsafe.Pointer(v))
			if code < 0 {
				return nil, averr(code)
			}
		}
		if code := C.av_hwdevice_ctx_create(&ref, devType, cpath, devOpts, 0); code < 0 {
			what := "create " + C.GoString(C.av_hwdevice_get_type_name(devType)) + " device"
			if devPath != "" {
				what += " " + devPath
			}
			return nil, atStage(what, averr(code))
		}
		b.ccC.hw_device_ctx = ref // freed with the codec context
		b.ccC.extra_hw_frames = hwExtraFrames
	}
	if err := b.cc.Open(c, dict); err != nil {
		return nil, atStage("open "+codec, err)
	}
	return b, nil
}

// Backend returns the backend decoding now: the one NewVideoDecoder
// opened, or the one BackendAuto fell back to.
func (d *VideoDecoder) Backend() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dec == nil {
		return ""
	}
	return d.dec.name
}

// Decode decodes one H.264 access unit in Annex-B form (copied into a
// padded packet) and calls fn for each picture it completes. The pictures'
// PTS is NoPTS (the encoder assigns one); [VideoDecoder.DecodeAt] carries
// a timestamp through instead. The low-delay streams that screen encoders
// produce (no B-frames) yield each access unit's picture from the call
// that decodes it; a stream with reordering yields pictures later.
//
// The frame given to fn references the decoder's picture: fn owns it, in
// every case, and must Release it or hand it to Encoder.Encode, which
// releases it; [Frame.Ref] gives further references for further consumers.
// Its size and format are the picture's, and follow the stream's when
// that changes mid-stream (a new SPS, as after a rotation). Frames from a
// hardware backend are hardware frames ([Frame.Hardware]) except QSV's.
// An error that fn returns stops Decode and is returned; pictures not yet
// handed out come out of the next call.
//
// Fallback. A decoder opened with BackendAuto replaces a hardware backend
// that fails (any error but invalid data, which a hardware backend reports
// as the software one does, and is returned as it is) by the next of
// [DecoderBackends] that opens, in place. The replacement starts at a key
// frame: when the failing access unit holds an IDR it is decoded again at
// once (after the last SPS and PPS seen, if it lacks them), and Decode
// succeeds; otherwise Decode returns an error that wraps ErrNeedKeyFrame,
// and so does every following access unit, dropped undecoded, until one
// holds an IDR (parameter sets still go in). Ask the source for a key
// frame on ErrNeedKeyFrame. [VideoDecoder.Backend] says which backend
// decodes. A named backend does not fall back: its errors are returned.
func (d *VideoDecoder) Decode(au []byte, fn func(*Frame) error) error {
	return d.DecodeAt(au, NoPTS, fn)
}

// DecodeAt is Decode with pts as the access unit's presentation time:
// the picture it yields gets it as its PTS (NoPTS for none), also when a
// stream with reordering yields it from a later call.
func (d *VideoDecoder) DecodeAt(au []byte, pts time.Duration, fn func(*Frame) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if len(au) == 0 {
		return nil
	}
	if d.dec == nil {
		return errors.New("native: no decoder backend left")
	}
	info := scanAU(au)
	if info.params != nil {
		d.params = info.params
	}
	if d.waitIDR {
		if !info.idr {
			if info.params != nil {
				// Parameter sets alone (a codec config buffer): keep
				// them for the IDR.
				return nil
			}
			return fmt.Errorf("%w: %s waits for an IDR; access unit dropped", ErrNeedKeyFrame, d.dec.name)
		}
		d.waitIDR = false
		if !info.hasSPS {
			au = append(d.params[:len(d.params):len(d.params)], au...)
		}
	}
	for {
		fnErr, err := d.dec.decode(d.pkt, d.frame, au, pts, fn)
		if fnErr != nil {
			return fnErr
		}
		if err == nil || !d.auto || d.dec.name == BackendSoftware || errors.Is(err, astiav.ErrInvaliddata) {
			return err
		}
		failed := d.dec.name
		if nerr := d.next(err); nerr != nil {
			return fmt.Errorf("native: %s failed (%v) and %w", failed, err, nerr)
		}
		if !info.idr {
			d.waitIDR = true
			return fmt.Errorf("%w: hardware decoding failed (%v); %s decodes from the next IDR", ErrNeedKeyFrame, err, d.dec.name)
		}
		if !info.hasSPS {
			au = append(d.params[:len(d.params):len(d.params)], au...)
			info.hasSPS = true
		}
	}
}

// decode sends one packet and hands out the pictures it completes. fnErr
// is fn's error, err the decoder's.
func (b *backendDecoder) decode(pkt *C.AVPacket, frame *C.AVFrame, au []byte, pts time.Duration, fn func(*Frame) error) (fnErr, err error) {
	if b.fail != nil {
		return nil, b.fail
	}
	if code := C.av_new_packet(pkt, C.int(len(au))); code < 0 {
		return nil, wrap(averr(code), "native: allocate %d-byte packet", len(au))
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(pkt.data)), len(au)), au)
	pkt.pts = ptsToAV(pts)
	defer C.av_packet_unref(pkt)
	for {
		code := C.avcodec_send_packet(b.ccC, pkt)
		if code == errAgain {
			// Pictures left by an fn that failed: hand them out first.
			if fnErr, err := b.receive(frame, fn); fnErr != nil || err != nil {
				return fnErr, err
			}
			continue
		}
		if code < 0 {
			return nil, wrap(averr(code), "native: %s decode", b.name)
		}
		return b.receive(frame, fn)
	}
}

// receive hands out every picture the decoder has ready.
func (b *backendDecoder) receive(frame *C.AVFrame, fn func(*Frame) error) (fnErr, err error) {
	for {
		code := C.avcodec_receive_frame(b.ccC, frame)
		if code == errAgain || code == errEOF {
			return nil, nil
		}
		if code < 0 {
			return nil, wrap(averr(code), "native: %s receive frame", b.name)
		}
		ts := frame.pts
		if ts == C.AV_NOPTS_VALUE {
			ts = frame.best_effort_timestamp
		}
		f, err := adoptFrame(frame, b.device)
		if err != nil {
			return nil, err
		}
		f.PTS = ptsFromAV(ts)
		if err := fn(f); err != nil {
			return err, nil
		}
	}
}

// Flush hands out the pictures the decoder still holds, as Decode does,
// and resets it: the next access unit starts a new stream, which must
// begin with an IDR.
func (d *VideoDecoder) Flush(fn func(*Frame) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	b := d.dec
	if b == nil {
		return errors.New("native: no decoder backend left")
	}
	if code := C.avcodec_send_packet(b.ccC, nil); code < 0 && code != errEOF {
		return wrap(averr(code), "native: %s flush", b.name)
	}
	fnErr, err := b.receive(d.frame, fn)
	C.avcodec_flush_buffers(b.ccC)
	if fnErr != nil {
		return fnErr
	}
	return err
}

// Close frees the decoder. Frames it handed out stay valid until they are
// released. Close is idempotent.
func (d *VideoDecoder) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.free()
	return nil
}

func (d *VideoDecoder) free() {
	d.closeBackend()
	if d.frame != nil {
		C.av_frame_free(&d.frame)
	}
	if d.pkt != nil {
		C.av_packet_free(&d.pkt)
	}
}
