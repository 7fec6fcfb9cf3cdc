package recording

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// metaInterval is how often a running recording's description is
// rewritten between segments (its sizes and durations so far).
const metaInterval = 10 * time.Second

// goneTicks is how many monitor ticks in a row the device must be gone
// before the recording ends.
const goneTicks = 2

// errEnded is what the writer answers once the recording ended.
var errEnded = errors.New("recording: ended")

// rec is one recording: the device's feed writes into it (WriteSample,
// on the feed's goroutine), its monitor flushes and watches the limits.
type rec struct {
	r       *Recorder
	dir     string
	feed    Feed          // nil for a recording found at start
	stopped chan struct{} // closed once it ended and left the device; nil for one found at start

	end sync.Once

	mu       sync.Mutex
	info     Info
	done     bool // takes no more units
	seg      *segment
	params   params // the last keyframe's
	keyAsked bool   // a keyframe was asked for to end the segment
	lastMeta time.Time
	skipped  int // units before the first usable keyframe
}

// segment is the file being written.
type segment struct {
	mux       *native.Muxer
	idx       int // in info.Segments
	p         params
	startPTS  time.Duration // the stream's PTS of its first keyframe
	end       time.Duration // media time written: the last packet's time and duration
	unflushed int           // packets since the last flush
	counted   int64         // bytes counted in the metrics
}

// WriteSample takes one unit of the device's stream (fanout.Writer). A
// write error ends the recording, failed.
func (x *rec) WriteSample(s fanout.Sample) error {
	x.mu.Lock()
	if x.done {
		x.mu.Unlock()
		return errEnded
	}
	reason, err := x.write(s)
	x.mu.Unlock()
	if err != nil {
		x.finish(StateFailed, reason, err, true)
		return err
	}
	return nil
}

// write writes one unit; x.mu is held. On error it returns the failure
// reason.
func (x *rec) write(s fanout.Sample) (string, error) {
	u := s.Unit
	o := x.r.o
	if u.KeyFrame {
		p, ok, err := keyParams(u, x.params)
		switch {
		case err != nil && x.seg == nil:
			x.skip(u, err)
			return "", nil
		case err != nil:
			return ReasonStream, fmt.Errorf("keyframe at %s: %w", u.PTS, err)
		case !ok && x.seg == nil:
			x.skip(u, errors.New("a keyframe without SPS and PPS"))
			return "", nil
		case ok:
			x.params = p
			if x.seg == nil || !x.seg.p.same(p) || u.PTS-x.seg.startPTS >= o.Segment {
				if err := x.closeSegment(); err != nil {
					return classify(err), err
				}
				if err := x.openSegment(p, u.PTS); err != nil {
					return classify(err), err
				}
			}
		}
	} else if x.seg == nil {
		x.skipped++
		return "", nil // a segment starts at a keyframe
	}
	seg := x.seg
	if u.Codec != seg.p.codec {
		return "", nil // not this segment's stream
	}
	t := max(u.PTS-seg.startPTS, 0)
	if !u.KeyFrame && t >= o.Segment && !x.keyAsked {
		// The segment is due to end at a keyframe: ask for one.
		x.keyAsked = true
		x.feed.RequestKeyFrame()
	}
	data := u.Data
	if u.Codec == media.H264 {
		data = stripParams(data)
	}
	dur := s.Duration
	if u.Duration > 0 {
		dur = u.Duration
	}
	if err := seg.mux.WritePacket(data, t, t, dur, u.KeyFrame); err != nil {
		return classify(err), fmt.Errorf("write %s: %w", x.info.Segments[seg.idx].Name, err)
	}
	seg.end = max(seg.end, t+dur)
	seg.unflushed++
	x.sync()
	return "", nil
}

// skip notes a unit dropped before the first usable keyframe.
func (x *rec) skip(u media.Unit, why error) {
	x.skipped++
	if x.skipped == 1 || x.skipped%300 == 0 {
		x.r.log.Warn("recording: waiting for a keyframe it can start a segment with", "recording", x.info.ID, "device", x.info.DeviceID,
			"skipped", x.skipped, "why", why)
	}
	x.feed.RequestKeyFrame()
}

// classify returns the failure reason of a muxer error: the files' (it
// carries a system error), else the stream's.
func classify(err error) string {
	if _, ok := errors.AsType[syscall.Errno](err); ok {
		return storageReason(err)
	}
	if errors.Is(err, ErrStorage) {
		return storageReason(err)
	}
	return ReasonStream
}

// openSegment starts a segment at a keyframe of stream time pts; x.mu
// is held.
func (x *rec) openSegment(p params, pts time.Duration) error {
	n := len(x.info.Segments) + 1
	name := fmt.Sprintf("segment-%04d%s", n, native.MuxerExtension(string(p.codec)))
	mux, err := native.NewMuxer(native.MuxerOptions{Path: filepath.Join(x.dir, name), Codec: string(p.codec),
		Width: p.width, Height: p.height, ParameterSets: p.sets})
	if err != nil {
		if _, ok := errors.AsType[syscall.Errno](err); ok {
			err = storage(err)
		}
		return fmt.Errorf("start segment %s: %w", name, err)
	}
	x.info.Codec = string(p.codec)
	x.info.Segments = append(x.info.Segments, Segment{Index: n, Name: name, Width: p.width, Height: p.height,
		StartedAt: time.Now().UTC(), Open: true})
	x.seg = &segment{mux: mux, idx: len(x.info.Segments) - 1, p: p, startPTS: pts}
	x.keyAsked = false
	x.sync()
	x.writeMetaLocked()
	x.r.log.Info("recording: segment started", "recording", x.info.ID, "device", x.info.DeviceID, "segment", name,
		"size", fmt.Sprintf("%dx%d", p.width, p.height), "codec", p.codec)
	return nil
}

// closeSegment finishes the segment being written, if any; x.mu is
// held. After a write error the file is closed as it is (no trailer):
// it plays up to its last complete fragment.
func (x *rec) closeSegment() error {
	seg := x.seg
	if seg == nil {
		return nil
	}
	x.seg = nil
	err := seg.mux.Close()
	s := &x.info.Segments[seg.idx]
	size := seg.mux.Size()
	if st, serr := os.Stat(filepath.Join(x.dir, s.Name)); serr == nil {
		size = st.Size()
	}
	if d := size - seg.counted; d > 0 {
		x.r.o.Metrics.BytesWritten(x.info.DeviceID, d)
	}
	s.Bytes, s.Duration, s.Open = size, seg.end, false
	if err != nil {
		return fmt.Errorf("finish %s: %w", s.Name, err)
	}
	return nil
}

// sync notes the open segment's size and duration, and counts the bytes
// written since the last call; x.mu is held.
func (x *rec) sync() {
	seg := x.seg
	size := seg.mux.Size()
	if d := size - seg.counted; d > 0 {
		x.r.o.Metrics.BytesWritten(x.info.DeviceID, d)
		seg.counted = size
	}
	s := &x.info.Segments[seg.idx]
	s.Bytes, s.Duration = size, seg.end
}

// flush writes the open segment's fragment out; x.mu is held.
func (x *rec) flush() (string, error) {
	seg := x.seg
	if seg == nil || seg.unflushed == 0 {
		return "", nil
	}
	seg.unflushed = 0
	if err := seg.mux.Flush(); err != nil {
		return classify(err), fmt.Errorf("write %s: %w", x.info.Segments[seg.idx].Name, err)
	}
	x.sync()
	return "", nil
}

// monitor flushes the open segment every FlushInterval, and ends the
// recording at MaxDuration, or when its device stopped running here.
func (x *rec) monitor() {
	o := x.r.o
	t := time.NewTicker(o.FlushInterval)
	defer t.Stop()
	var deadline <-chan time.Time
	if o.MaxDuration > 0 {
		d := time.NewTimer(o.MaxDuration - time.Since(x.info.StartedAt))
		defer d.Stop()
		deadline = d.C
	}
	gone := 0
	for {
		select {
		case <-x.stopped:
			return
		case <-deadline:
			x.stop(ReasonMaxDuration)
			return
		case <-t.C:
		}
		x.mu.Lock()
		if x.done {
			x.mu.Unlock()
			continue
		}
		reason, err := x.flush()
		if err == nil && time.Since(x.lastMeta) >= metaInterval {
			x.writeMetaLocked()
		}
		x.mu.Unlock()
		if err != nil {
			x.finish(StateFailed, reason, err, false)
			return
		}
		if o.Source.Running(x.info.DeviceID) {
			gone = 0
		} else if gone++; gone >= goneTicks {
			x.finish(StateFailed, ReasonDeviceGone, fmt.Errorf("device %s stopped running on this instance", x.info.DeviceID), false)
			return
		}
	}
}

// stop ends the recording (finished, for reason) and waits until it has
// left its device. A recording that ended already is left as it is.
func (x *rec) stop(reason string) {
	if x.stopped == nil {
		return // found at start: ended long ago
	}
	x.finish(StateFinished, reason, nil, false)
	<-x.stopped
}

// finish ends the recording once: no unit is written after it, the
// segment is finished (a finishing error fails the recording), the
// description written, the recorder told; then the feed is closed, which
// leaves the device. From the writer (the feed's own goroutine, which
// Close waits for) the feed is closed on another goroutine.
func (x *rec) finish(state, reason string, cause error, fromWriter bool) {
	x.end.Do(func() {
		if x.feed != nil {
			x.feed.Stop()
		}
		x.mu.Lock()
		x.done = true
		if err := x.closeSegment(); err != nil && cause == nil {
			state, reason, cause = StateFailed, classify(err), err
		}
		x.info.State, x.info.Reason, x.info.Error = state, reason, errorString(cause)
		x.info.EndedAt = time.Now().UTC()
		x.writeMetaLocked()
		info := x.cloneLocked()
		x.mu.Unlock()
		x.r.ended(x)
		log := x.r.log.With("recording", info.ID, "device", info.DeviceID, "reason", reason, "segments", len(info.Segments),
			"bytes", info.Bytes(), "duration", info.Duration().Round(time.Millisecond))
		if state == StateFailed {
			x.r.o.Metrics.Failure(reason)
			log.Error("recording failed: it is stopped; the device and its viewers go on", "err", cause)
			if x.r.o.OnFailed != nil {
				x.r.o.OnFailed(info)
			}
		} else {
			log.Info("recording ended")
		}
		leave := func() {
			if x.feed != nil {
				x.feed.Close()
			}
			close(x.stopped)
		}
		if fromWriter {
			x.r.wg.Go(leave)
		} else {
			leave()
		}
	})
}

// snapshot returns the recording as it is now.
func (x *rec) snapshot() Info {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cloneLocked()
}

func (x *rec) cloneLocked() Info {
	info := x.info
	info.Segments = slices.Clone(info.Segments)
	if info.Segments == nil {
		info.Segments = []Segment{}
	}
	return info
}

// writeMetaLocked writes the description (recording.json) through a
// temporary file; x.mu is held. A failure is logged: the segments are
// what matters, and their own writes report a full disk.
func (x *rec) writeMetaLocked() {
	x.lastMeta = time.Now()
	b, err := json.MarshalIndent(x.cloneLocked(), "", "  ")
	if err == nil {
		tmp := filepath.Join(x.dir, metaFile+".tmp")
		if err = os.WriteFile(tmp, append(b, '\n'), 0o644); err == nil {
			err = os.Rename(tmp, filepath.Join(x.dir, metaFile))
		}
	}
	if err != nil {
		x.r.log.Warn("recording: cannot write its description", "recording", x.info.ID, "err", err)
	}
}

// writeMeta writes the description.
func (x *rec) writeMeta() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.writeMetaLocked()
}
