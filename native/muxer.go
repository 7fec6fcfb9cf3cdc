//go:build cgo

package native

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/asticode/go-astiav"
)

// muxTimeBase is the clock a muxer's stream is opened with: 90 kHz, the
// usual video timescale. The muxer may replace it when it writes the
// header (Matroska counts milliseconds); packets are stamped in the
// stream's time base as it is after the header.
var muxTimeBase = astiav.NewRational(1, 90_000)

// mp4MovFlags make the MP4 fragmented: an empty moov first, then one
// moof+mdat per fragment (each keyframe starts one, Flush cuts one), with
// offsets relative to the moof, so that a file cut anywhere (a crash, a
// SIGKILL) plays up to its last complete fragment.
const mp4MovFlags = "frag_keyframe+empty_moov+default_base_moof"

// Muxer writes one video stream into a file: fragmented MP4 for H.264,
// WebM for VP8 (libavformat's mp4 and webm muxers, through the file
// protocol). Its methods may be called from any goroutine, one at a time;
// after a write error every call returns that error.
type Muxer struct {
	opts MuxerOptions

	mu      sync.Mutex
	fc      *astiav.FormatContext
	pb      *astiav.IOContext
	st      *astiav.Stream
	pkt     *astiav.Packet
	tb      astiav.Rational // the stream's time base after the header
	lastDTS int64           // in tb; valid when wrote
	wrote   bool
	packets int64
	size    int64 // bytes written, at the last write or flush
	err     error // the first write error, sticky
	closed  bool
}

// NewMuxer creates o.Path and writes the container's header: for MP4 an
// ftyp and an empty moov whose avcC holds o.ParameterSets, for WebM the
// EBML header, Segment and Tracks. Everything it allocated is freed if it
// fails. An error that the system reported (a directory that is not
// writable, a full disk) wraps its syscall.Errno, so that errors.Is
// matches fs.ErrPermission or syscall.ENOSPC; a missing muxer or protocol
// is [ErrMuxerNotFound].
//
// See avformat_alloc_output_context2, avformat_new_stream, avio_open2 and
// avformat_write_header.
func NewMuxer(o MuxerOptions) (_ *Muxer, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	format := MuxerFormat(o.Codec)
	m := &Muxer{opts: o}
	defer func() {
		if err != nil {
			m.free()
		}
	}()
	if m.fc, err = astiav.AllocOutputFormatContext(nil, format, o.Path); err != nil {
		if errors.Is(err, astiav.ErrMuxerNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrMuxerNotFound, format)
		}
		return nil, muxErr(err, "native: allocate %s muxer", format)
	}
	if m.fc == nil {
		return nil, errors.New("native: allocate muxer: out of memory")
	}
	if m.st = m.fc.NewStream(nil); m.st == nil {
		return nil, errors.New("native: new muxer stream: out of memory")
	}
	cp := m.st.CodecParameters()
	cp.SetMediaType(astiav.MediaTypeVideo)
	cp.SetWidth(o.Width)
	cp.SetHeight(o.Height)
	cp.SetPixelFormat(astiav.PixelFormatYuv420P)
	if o.Codec == MediaCodecH264 {
		cp.SetCodecID(astiav.CodecIDH264)
		if err := cp.SetExtraData(o.ParameterSets); err != nil {
			return nil, muxErr(err, "native: muxer extradata")
		}
	} else {
		cp.SetCodecID(astiav.CodecIDVp8)
	}
	m.st.SetTimeBase(muxTimeBase)
	if m.pb, err = astiav.OpenIOContext(o.Path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite), nil, nil); err != nil {
		if errors.Is(err, astiav.ErrProtocolNotFound) {
			return nil, fmt.Errorf("%w: file protocol", ErrMuxerNotFound)
		}
		return nil, muxErr(err, "native: create %s", o.Path)
	}
	m.fc.SetPb(m.pb)
	// Each write and flush pushes what the muxer produced to the file
	// (avio_flush), and reports the I/O context's error: a fragment
	// reaches the disk when it is complete, a full disk at once.
	m.fc.SetFlags(m.fc.Flags().Add(astiav.FormatContextFlagFlushPackets))
	d := astiav.NewDictionary()
	defer d.Free()
	if format == "mp4" {
		if err := d.Set("movflags", mp4MovFlags, 0); err != nil {
			return nil, muxErr(err, "native: muxer options")
		}
	}
	if err := m.fc.WriteHeader(d); err != nil {
		return nil, muxErr(err, "native: write %s header to %s", format, o.Path)
	}
	m.tb = m.st.TimeBase()
	if m.tb.Num() <= 0 || m.tb.Den() <= 0 {
		return nil, fmt.Errorf("native: muxer: stream time base %s", m.tb)
	}
	if m.pkt = astiav.AllocPacket(); m.pkt == nil {
		return nil, errors.New("native: allocate packet: out of memory")
	}
	m.updateSize()
	return m, nil
}

// Options returns the options the muxer was opened with.
func (m *Muxer) Options() MuxerOptions { return m.opts }

// ts converts d to the stream's time base, rounding down.
func (m *Muxer) ts(d time.Duration) int64 {
	return d.Microseconds() * int64(m.tb.Den()) / (int64(m.tb.Num()) * 1_000_000)
}

// WritePacket writes one packet: an H.264 access unit in Annex-B form (SPS
// and PPS in it are kept), or a VP8 frame, with its presentation and
// decoding times from the start of the file and how long it shows. data
// is copied. Decoding times must increase: one that does not (two
// packets within one tick of the stream's clock) is moved one tick past
// the previous packet's, and the presentation time with it when needed.
// The packet goes to the file with the fragment (MP4) or cluster (WebM)
// it belongs to: at the next keyframe or [Muxer.Flush].
//
// See av_packet_from_data and av_write_frame.
func (m *Muxer) WritePacket(data []byte, pts, dts, duration time.Duration, keyFrame bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable(); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	p, d := m.ts(pts), m.ts(dts)
	if m.wrote && d <= m.lastDTS {
		d = m.lastDTS + 1
	}
	p = max(p, d)
	if err := m.pkt.FromData(data); err != nil {
		return muxErr(err, "native: muxer packet")
	}
	m.pkt.SetPts(p)
	m.pkt.SetDts(d)
	m.pkt.SetDuration(max(m.ts(duration), 1))
	m.pkt.SetStreamIndex(m.st.Index())
	if keyFrame {
		m.pkt.SetFlags(astiav.NewPacketFlags(astiav.PacketFlagKey))
	} else {
		m.pkt.SetFlags(astiav.NewPacketFlags())
	}
	err := m.fc.WriteFrame(m.pkt)
	m.pkt.Unref()
	if err != nil {
		m.err = muxErr(err, "native: write packet to %s", m.opts.Path)
		return m.err
	}
	m.lastDTS, m.wrote = d, true
	m.packets++
	m.updateSize()
	return nil
}

// Flush writes out what the muxer holds, as a complete fragment (MP4: a
// moof and its mdat) or cluster (WebM), and flushes the file's buffer to
// the system: the packets written so far survive a crash of the process.
// Fragments then start between keyframes, which MP4 allows.
//
// See av_write_frame with a NULL packet (AVFMT_FLAG_FLUSH_PACKETS: it ends
// with avio_flush).
func (m *Muxer) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.usable(); err != nil {
		return err
	}
	if !m.wrote {
		return nil
	}
	if err := m.fc.WriteFrame(nil); err != nil {
		m.err = muxErr(err, "native: flush %s", m.opts.Path)
		return m.err
	}
	m.updateSize()
	return nil
}

// Size returns the bytes written to the file so far (what the last write
// or flush reached; the muxer buffers the fragment being built).
func (m *Muxer) Size() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size
}

// Packets returns the packets written.
func (m *Muxer) Packets() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.packets
}

// Close writes the trailer (the last fragment and the fragment index for
// MP4; the cues and sizes for WebM) unless a write failed, closes the file
// and frees the muxer. It returns the error that ended the file, if any.
// It is idempotent.
//
// See av_write_trailer, avio_closep and avformat_free_context.
func (m *Muxer) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return m.err
	}
	m.closed = true
	if m.err == nil {
		if err := m.fc.WriteTrailer(); err != nil {
			m.err = muxErr(err, "native: write trailer to %s", m.opts.Path)
		}
	}
	if m.pb != nil {
		m.updateSize()
		if err := m.pb.Close(); err != nil && m.err == nil {
			m.err = muxErr(err, "native: close %s", m.opts.Path)
		}
		m.pb = nil
	}
	m.free()
	return m.err
}

func (m *Muxer) usable() error {
	if m.closed {
		return ErrClosed
	}
	return m.err
}

// updateSize notes the file's size: avio_tell, the position past the
// last byte written (the muxers seek back only in the trailer).
func (m *Muxer) updateSize() {
	if m.pb == nil {
		return
	}
	if n, err := m.pb.Seek(0, io.SeekCurrent); err == nil && n > m.size {
		m.size = n
	}
}

// free releases what NewMuxer allocated (the file is closed first).
func (m *Muxer) free() {
	if m.pkt != nil {
		m.pkt.Free()
		m.pkt = nil
	}
	if m.pb != nil {
		m.pb.Close()
		m.pb = nil
	}
	if m.fc != nil {
		m.fc.Free()
		m.fc = nil
	}
}

// muxErr wraps a libavformat error; one that is a system error (a
// negative errno: EACCES, ENOSPC, EROFS, ...) also wraps its
// syscall.Errno.
func muxErr(err error, format string, args ...any) error {
	var ae astiav.Error
	if errors.As(err, &ae) && ae < 0 && ae > -4096 {
		return fmt.Errorf(format+": %w (%w)", append(args, syscall.Errno(-ae), err)...)
	}
	return wrap(err, format, args...)
}
