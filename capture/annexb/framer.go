package annexb

import (
	"bytes"
	"fmt"
	"time"
)

// DefaultMaxAccessUnit is the default [Options.MaxAccessUnit]: 8 MiB.
const DefaultMaxAccessUnit = 8 << 20

// firstMBBytes bounds the bytes after the NAL header that are read for
// first_mb_in_slice: 16 escaped bytes hold at least 10 RBSP bytes, more than
// the longest exp-Golomb code a 32-bit value needs (63 bits).
const firstMBBytes = 16

// AccessUnit is one complete access unit.
type AccessUnit struct {
	// Data holds the Annex-B bytes of the whole access unit, each NAL unit
	// preceded by its start code as it was in the stream (trailing zero bytes
	// dropped). It is a view of the framer's buffer, valid only until the
	// framer's next call: copy it to keep it.
	Data []byte
	// KeyFrame reports an IDR slice (nal_unit_type 5).
	KeyFrame bool
	// HasParams reports both a sequence and a picture parameter set.
	HasParams bool
	// Arrival is the time given with the chunk that held the access unit's
	// last byte: its capture timestamp.
	Arrival time.Time

	// offset is the stream offset of Data[0], for tests.
	offset int64
}

// Options configures a [Framer].
type Options struct {
	// MaxAccessUnit bounds, in bytes, a pending access unit and the bytes
	// skipped while looking for one. A larger access unit is dropped with
	// [ErrTooLarge]; more skipped bytes are reported with [ErrMalformed].
	// Zero or less means [DefaultMaxAccessUnit].
	MaxAccessUnit int
}

// Framer splits an H.264 Annex-B byte stream, written in chunks of any size,
// into access units (H.264 7.4.1.2.3). It is not safe for concurrent use.
//
// Once the pending access unit holds a slice, the next access unit delimiter,
// parameter set, SEI, NAL unit of type 14 to 18, or slice with
// first_mb_in_slice 0 begins a new access unit; other NAL units (later
// slices of the picture, end of sequence or stream, filler) join the pending
// one. Parameter sets, SEI and delimiters before the first slice belong to
// that slice's access unit. An access unit is therefore emitted as soon as
// the first bytes of the next one arrive (the NAL header, and for a slice
// the few bytes of first_mb_in_slice), or at [Framer.Flush].
//
// Errors do not stop a Framer: on a malformed NAL unit or an oversized access
// unit it drops what is pending, reports the error once the chunk has been
// framed, and resumes at the next NAL unit that begins an access unit. The
// same holds at the start of the stream and after [Framer.Flush] and
// [Framer.Reset]: NAL units that cannot begin an access unit (a picture's
// later slices) are skipped until one that can.
type Framer struct {
	max int
	buf []byte
	// base is the stream offset of buf[0], for error messages.
	base int64

	// scan is how far buf has been searched for start codes; a search
	// resumes two bytes before it, for a start code split across chunks.
	scan int
	// nal is the offset of the current (last, unfinished) NAL unit's start
	// code, zero_byte included, or -1 before the first start code.
	nal int
	// hdr is the offset of the current NAL unit's header byte.
	hdr int
	// classified reports that the current NAL unit's type and, for a slice,
	// first_mb_in_slice have been read and acted on.
	classified bool
	// nalTime is the arrival time of the last byte before the current NAL
	// unit: the Arrival of an access unit that ends where it begins.
	nalTime time.Time
	// au is the offset of the pending access unit. While nothing is pending
	// (seeking) it is the offset of the bytes still kept, at most a partial
	// start code and the NAL unit being classified.
	au int
	// seek reports that no access unit is pending: NAL units are skipped
	// until one that begins an access unit.
	seek bool
	// skipped counts bytes dropped while seeking, since the last access
	// unit start or error.
	skipped int

	// Flags of the pending access unit.
	vcl, key, sps, pps bool

	// Chunk bookkeeping for Arrival: the latest chunk starts at chunkStart
	// in buf and arrived at now; nzTime is the arrival of the latest chunk
	// holding a non-zero byte, prevNZTime the same before the latest chunk.
	chunkStart         int
	now                time.Time
	nzTime, prevNZTime time.Time

	scratch [firstMBBytes]byte

	// searched counts the bytes searched for start codes, for a test that
	// Write scans each byte about once.
	searched int64
}

// NewFramer returns a Framer.
func NewFramer(o Options) *Framer {
	f := &Framer{max: o.MaxAccessUnit}
	if f.max <= 0 {
		f.max = DefaultMaxAccessUnit
	}
	f.Reset()
	return f
}

// Reset drops the pending bytes, as when a source switches streams: the
// next bytes are framed as the start of a new stream.
func (f *Framer) Reset() {
	f.base += int64(len(f.buf))
	f.buf = f.buf[:0]
	f.scan, f.nal, f.hdr, f.au = 0, -1, 0, 0
	f.classified, f.seek, f.skipped = false, true, 0
	f.clearFlags()
	f.chunkStart = 0
}

// Write appends p, a chunk of the stream that arrived at now, and calls emit
// for every access unit that p completes, in stream order. It copies p.
//
// If emit fails, Write returns its error at once; the bytes not yet framed
// are kept, and the next call goes on from there. Otherwise Write frames
// the whole chunk and returns the first framing error, wrapping
// [ErrMalformed] or [ErrTooLarge], if any.
func (f *Framer) Write(p []byte, now time.Time, emit func(AccessUnit) error) error {
	f.compact()
	f.prevNZTime = f.nzTime
	f.chunkStart = len(f.buf)
	f.now = now
	f.buf = append(f.buf, p...)
	if hasNonZero(p) {
		f.nzTime = now
	}
	_, err := f.process(emit)
	return err
}

// Flush declares that no more bytes are coming for now: the stream went
// quiet or ended. If the pending bytes hold a slice, they are emitted as an
// access unit, the last NAL unit taken as complete; a last NAL unit too
// short to be one (a start code, or a slice without its first_mb_in_slice)
// is kept for the next call. Pending bytes without a slice (parameter sets
// waiting for their picture) are kept.
//
// now is when the flush happens; the emitted access unit's Arrival is still
// the arrival of its last byte. After a flush the framer skips NAL units up
// to the next one that begins an access unit, so a picture whose later
// slices arrive after the flush is not emitted in pieces.
func (f *Framer) Flush(now time.Time, emit func(AccessUnit) error) error {
	f.compact()
	stopped, frameErr := f.process(emit) // bytes left unframed by a failed emit
	if stopped {
		return frameErr
	}
	if f.nal < 0 {
		return frameErr
	}
	if !f.classified {
		ok, err := f.classify(len(f.buf), false, emit)
		if err != nil {
			if ok { // emit failed
				return err
			}
			frameErr = firstError(frameErr, err)
		}
	}
	if f.seek || !f.vcl {
		return frameErr
	}
	var au AccessUnit
	start := f.au
	if f.classified {
		// The last NAL unit is complete: everything up to the last non-zero
		// byte is the access unit; trailing zeros may begin a start code.
		end := len(f.buf)
		for end > f.hdr && f.buf[end-1] == 0 {
			end--
		}
		au = f.accessUnit(f.au, end, f.nzTime)
		f.nal, f.au, f.scan = -1, end, len(f.buf)
	} else {
		// The last NAL unit has not arrived yet; keep its start code.
		au = f.accessUnit(f.au, f.nal, f.nalTime)
		f.au = f.nal
	}
	f.seek, f.skipped = true, 0
	f.clearFlags()
	if len(au.Data) > f.max {
		return firstError(frameErr, f.tooLarge(f.base+int64(start), len(au.Data)))
	}
	if err := emit(au); err != nil {
		return err
	}
	return frameErr
}

// process frames the bytes of buf from scan on. It returns the first
// framing error, or emit's error with stopped set.
func (f *Framer) process(emit func(AccessUnit) error) (stopped bool, err error) {
	for {
		floor := f.au
		if f.nal >= 0 {
			floor = max(f.hdr, f.au)
		}
		from := max(f.scan-2, floor)
		i := bytes.Index(f.buf[from:], startCode)
		found := i >= 0
		if found {
			f.searched += int64(i + 3)
		} else {
			f.searched += int64(len(f.buf) - from)
		}
		end, sc := len(f.buf), from+i
		if found {
			end = sc
			if sc-1 >= floor && f.buf[sc-1] == 0 {
				end = sc - 1 // zero_byte of a four-byte start code
			}
		}
		if f.nal >= 0 && !f.classified {
			emitted, cerr := f.classify(end, found, emit)
			if emitted && cerr != nil {
				return true, cerr
			}
			err = firstError(err, cerr)
		}
		if !found {
			f.scan = len(f.buf)
			return false, firstError(err, f.bound())
		}
		// The current NAL unit ends at end; the next one starts there.
		if f.nal < 0 || f.seek {
			err = firstError(err, f.skip(end))
		}
		f.nalTime = f.lastByteTime(end)
		f.nal, f.hdr, f.classified = end, sc+3, false
		f.scan = f.hdr
	}
}

// bound enforces MaxAccessUnit on what is pending once a chunk is framed,
// and drops what no access unit needs.
func (f *Framer) bound() error {
	if !f.seek {
		end := len(f.buf)
		if !f.classified {
			end = f.nal // the current NAL unit may begin the next access unit
		} else {
			for n := 0; n < 3 && end > f.au && f.buf[end-1] == 0; n++ {
				end-- // possibly the next start code
			}
		}
		if end-f.au <= f.max {
			return nil
		}
		err := f.tooLarge(f.base+int64(f.au), end-f.au)
		f.dropPending()
		if f.classified {
			// The current NAL unit belongs to the dropped access unit.
			f.au = max(f.au, len(f.buf)-3)
		}
		return err
	}
	if f.nal >= 0 && !f.classified {
		return nil // the current NAL unit may begin an access unit
	}
	// Unsynchronised, or skipping the current NAL unit: keep only what may
	// be the start of a start code.
	return f.skip(len(f.buf) - 3)
}

// skip drops the bytes from au to end while seeking, and reports when more
// than MaxAccessUnit bytes have gone by without an access unit.
func (f *Framer) skip(end int) error {
	if end <= f.au {
		return nil
	}
	f.skipped += end - f.au
	f.au = end
	if f.skipped <= f.max {
		return nil
	}
	n := f.skipped
	f.skipped = 0
	return wrapMalformed("no access unit start in %d bytes before byte %d", n, f.base+int64(end))
}

// classify reads the type of the current NAL unit, whose bytes end at end
// (complete: the NAL unit is known to end there), and acts on it: it emits
// the pending access unit if this NAL unit begins a new one, and adds the
// NAL unit to the pending access unit or skips it. It returns without
// classifying if more bytes are needed. emitted reports that emit was
// called; err is then emit's error.
func (f *Framer) classify(end int, complete bool, emit func(AccessUnit) error) (emitted bool, err error) {
	data := trimZeros(f.buf[f.hdr:end])
	if len(data) == 0 {
		if complete {
			f.classified = true // an empty NAL unit: ignored
		}
		return false, nil
	}
	h := data[0]
	t := int(h & 0x1f)
	if h&0x80 != 0 {
		f.classified = true
		f.dropPending()
		return false, wrapMalformed("forbidden_zero_bit set in nal unit of type %d at byte %d", t, f.base+int64(f.nal))
	}
	begins := beginsAccessUnit(t)
	// A slice begins a picture if its first_mb_in_slice is 0. Partitions B
	// and C start with slice_id instead, and always follow their partition A.
	if t == NALSlice || t == NALSliceA || t == NALIDR {
		n := min(len(data)-1, firstMBBytes)
		r := bitReader{b: AppendRBSP(f.scratch[:0], data[1:1+n])}
		firstMB := r.ue()
		switch {
		case r.fail == readExhausted && n == len(data)-1 && !complete:
			return false, nil // wait for more bytes
		case r.fail != readOK:
			f.classified = true
			f.dropPending()
			return false, wrapMalformed("unreadable first_mb_in_slice in nal unit of type %d at byte %d", t, f.base+int64(f.nal))
		}
		begins = firstMB == 0
	}
	f.classified = true

	var au AccessUnit
	ready := false
	switch {
	case f.seek && !begins:
		return false, nil // skipped: dropped when the next NAL unit starts
	case f.seek:
		f.seek, f.skipped = false, 0
		f.au = f.nal
	case begins && f.vcl:
		au, ready = f.accessUnit(f.au, f.nal, f.nalTime), true
		f.clearFlags()
		f.au = f.nal
	}
	switch t {
	case NALIDR:
		f.key = true
	case NALSPS:
		f.sps = true
	case NALPPS:
		f.pps = true
	}
	if IsVCL(t) {
		f.vcl = true
	}
	if !ready {
		return false, nil
	}
	if len(au.Data) > f.max {
		return false, f.tooLarge(f.base+int64(f.nal)-int64(len(au.Data)), len(au.Data))
	}
	return true, emit(au)
}

// accessUnit returns the access unit of buf[start:end] with the pending
// flags, its trailing zero bytes dropped.
func (f *Framer) accessUnit(start, end int, arrival time.Time) AccessUnit {
	return AccessUnit{
		Data:      trimZeros(f.buf[start:end]),
		KeyFrame:  f.key,
		HasParams: f.sps && f.pps,
		Arrival:   arrival,
		offset:    f.base + int64(start),
	}
}

// dropPending discards the pending access unit, up to the current NAL unit,
// and starts seeking.
func (f *Framer) dropPending() {
	if f.nal >= 0 {
		f.au = max(f.au, f.nal)
	}
	f.seek, f.skipped = true, 0
	f.clearFlags()
}

func (f *Framer) clearFlags() { f.vcl, f.key, f.sps, f.pps = false, false, false, false }

// tooLarge returns the error for an access unit of n bytes at stream offset
// at.
func (f *Framer) tooLarge(at int64, n int) error {
	return fmt.Errorf("%w: %d bytes at byte %d, limit %d", ErrTooLarge, n, at, f.max)
}

// lastByteTime returns the arrival time of the last non-zero byte before
// offset end: the latest chunk's if that byte is in it, else that of the
// latest earlier chunk with a non-zero byte (the bytes in between are all
// zero).
func (f *Framer) lastByteTime(end int) time.Time {
	j := end - 1
	for j >= f.chunkStart && f.buf[j] == 0 {
		j--
	}
	if j >= f.chunkStart {
		return f.now
	}
	return f.prevNZTime
}

// compact moves the pending bytes to the front of buf, releasing what was
// emitted or dropped. Views handed to emit stay valid until this runs.
func (f *Framer) compact() {
	if f.au == 0 {
		return
	}
	n := copy(f.buf, f.buf[f.au:])
	f.buf = f.buf[:n]
	f.base += int64(f.au)
	f.scan = max(f.scan-f.au, 0)
	if f.nal >= 0 {
		f.nal -= f.au
		f.hdr -= f.au
	}
	f.chunkStart = max(f.chunkStart-f.au, 0)
	f.au = 0
}

// hasNonZero reports whether p holds a byte other than zero. It looks from
// the end, where a chunk of H.264 almost always has one.
func hasNonZero(p []byte) bool {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0 {
			return true
		}
	}
	return false
}

func firstError(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
