package fanout

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// defaultFrameDuration is a sample's duration when the PTS tell nothing.
const defaultFrameDuration = time.Second / 30

// errMoving refuses a move while another is in progress.
var errMoving = errors.New("fanout: the reader is already moving")

// Reader is one viewer of a device: a bounded queue and the goroutine
// that writes it to the viewer's Writer. It watches one Stream at a time
// and moves between a device's streams (Move) at a keyframe of the new
// one, so its Writer sees one unbroken sequence.
type Reader struct {
	id  string
	w   Writer
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	q        []item // ring
	head, n  int
	waitKey  bool
	closed   bool
	cur      *Stream // the stream written
	next     *Stream // the stream moved to, until its first keyframe
	moved    func(from *Stream)
	left     []*Stream // streams moved away from, to detach from
	moves    []move    // finished moves whose callbacks have not run
	switches uint64

	notify chan struct{}
	done   chan struct{}
	exited chan struct{}

	// Used by run only.
	lastPTS time.Duration
	havePTS bool

	sent, sentBytes, dropped, skips, writeErrors atomic.Uint64
}

// move is a finished move, for its callback.
type move struct {
	from *Stream
	fn   func(from *Stream)
}

func newReader(id string, w Writer, s *Stream) *Reader {
	return &Reader{
		id: id, w: w, log: s.log, now: s.cfg.Now, cur: s,
		q:      make([]item, s.cfg.QueueSize),
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
}

// push queues a unit of one of the reader's streams; the stream's lock is
// held. A unit of the stream the reader moves to is taken from its first
// keyframe on, and from then on the old stream's units are not. It
// reports whether the reader needs a keyframe of it.src.
func (r *Reader) push(it item) (needKey bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	switch it.src {
	case r.cur:
	case r.next:
		if !it.u.KeyFrame {
			return false // not the reader's yet
		}
		r.left = append(r.left, r.cur)
		r.moves = append(r.moves, move{from: r.cur, fn: r.moved})
		r.cur, r.next, r.moved = it.src, nil, nil
		r.switches++
		r.waitKey = false
	default:
		return false // a stream left behind
	}
	return r.pushLocked(it)
}

// pushLocked queues a unit; r.mu is held. A full queue drops what it
// holds and, unless it is a keyframe, the unit too: the reader waits for
// the next keyframe (needKey).
func (r *Reader) pushLocked(it item) (needKey bool) {
	if r.waitKey {
		if !it.u.KeyFrame {
			r.drop(it)
			return false
		}
		r.waitKey = false
	}
	if r.n == len(r.q) {
		r.skips.Add(1)
		dropped := r.n
		for i := range r.q {
			if r.q[i].src != nil {
				r.drop(r.q[i])
			}
			r.q[i] = item{}
		}
		r.head, r.n = 0, 0
		if !it.u.KeyFrame {
			dropped++
			r.drop(it)
			r.waitKey, needKey = true, true
			r.log.Debug("fanout: reader queue full, skipping to the next keyframe", "session", r.id, "dropped", dropped)
			return true
		}
	}
	r.q[(r.head+r.n)%len(r.q)] = it
	r.n++
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return false
}

// drop counts one unit not sent, on the reader and on its stream.
func (r *Reader) drop(it item) {
	r.dropped.Add(1)
	it.src.dropped.Add(1)
}

// pop takes the oldest queued unit.
func (r *Reader) pop() (item, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.n == 0 {
		return item{}, false
	}
	it := r.q[r.head]
	r.q[r.head] = item{}
	r.head = (r.head + 1) % len(r.q)
	r.n--
	return it, true
}

// run writes queued units until the reader stops.
func (r *Reader) run() {
	defer close(r.exited)
	defer r.detach()
	for {
		select {
		case <-r.notify:
		case <-r.done:
			return
		}
		r.settle()
		for {
			it, ok := r.pop()
			if !ok {
				break
			}
			taken := r.now()
			if r.write(it) && !it.primed {
				it.src.queueLat.Observe(taken.Sub(it.at))
				it.src.sendLat.Observe(r.now().Sub(taken))
			}
		}
		r.settle()
	}
}

// settle leaves the streams the reader moved away from and runs the
// callbacks of its finished moves.
func (r *Reader) settle() {
	r.mu.Lock()
	left, moves := r.left, r.moves
	r.left, r.moves = nil, nil
	r.mu.Unlock()
	for _, s := range left {
		s.remove(r)
	}
	for _, m := range moves {
		if m.fn != nil {
			m.fn(m.from)
		}
	}
}

// detach takes the stopped reader off every stream it was on.
func (r *Reader) detach() {
	r.mu.Lock()
	streams := append(r.left, r.cur, r.next)
	r.left = nil
	r.mu.Unlock()
	for _, s := range streams {
		if s != nil {
			s.remove(r)
		}
	}
}

// write hands one unit to the Writer, with its duration (see Sample). It
// reports whether the Writer took it.
func (r *Reader) write(it item) bool {
	d := defaultFrameDuration
	diff := it.u.PTS - r.lastPTS
	switch {
	case r.havePTS && diff > 0 && diff <= time.Second:
		d = diff
	case it.u.Duration > 0 && it.u.Duration <= time.Second:
		d = it.u.Duration
	}
	r.lastPTS, r.havePTS = it.u.PTS, true
	if err := r.w.WriteSample(Sample{Unit: it.u, Duration: d, Arrived: it.at}); err != nil {
		if r.writeErrors.Add(1) == 1 {
			r.log.Debug("fanout: write sample", "session", r.id, "err", err)
		}
		return false
	}
	r.sent.Add(1)
	r.sentBytes.Add(uint64(len(it.u.Data)))
	return true
}

// Move starts moving the reader to stream to, another stream of its
// device: it keeps writing its current stream until to's next keyframe,
// which it asks for, and writes to's units from that keyframe on. moved
// runs on the reader's goroutine once the move is done, with the stream
// left. A move in progress must be cancelled first (CancelMove).
func (r *Reader) Move(to *Stream, moved func(from *Stream)) error {
	to.mu.Lock()
	if to.closed {
		to.mu.Unlock()
		return ErrClosed
	}
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		to.mu.Unlock()
		return ErrClosed
	case r.next != nil:
		r.mu.Unlock()
		to.mu.Unlock()
		return errMoving
	case r.cur == to:
		r.mu.Unlock()
		to.mu.Unlock()
		return nil
	}
	r.next, r.moved = to, moved
	r.mu.Unlock()
	to.readers[r] = struct{}{}
	to.mu.Unlock()
	to.RequestKeyFrame()
	return nil
}

// CancelMove abandons a move in progress and returns the stream it was
// moving to; nil when there was none, or the move has just finished (its
// callback runs then).
func (r *Reader) CancelMove() *Stream {
	r.mu.Lock()
	s := r.next
	r.next, r.moved = nil, nil
	r.mu.Unlock()
	if s != nil {
		s.remove(r)
	}
	return s
}

// leave is called by a stream s that closes, with s.mu held: a reader
// that watches s stops (true); one moving to s gives the move up.
func (r *Reader) leave(s *Stream) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch s {
	case r.next:
		r.next, r.moved = nil, nil
	case r.cur:
		r.stopLocked()
		return true
	}
	return false
}

// watches reports whether the reader writes s's units.
func (r *Reader) watches(s *Stream) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.closed && r.cur == s
}

// Stop stops the reader without waiting for its goroutine, which may be
// inside a write that only closing the protocol's connection ends. It is
// idempotent.
func (r *Reader) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked()
}

func (r *Reader) stopLocked() {
	if r.closed {
		return
	}
	r.closed = true
	for i := range r.q {
		r.q[i] = item{}
	}
	r.n = 0
	r.moves = nil
	close(r.done)
}

// Close stops the reader and waits for its goroutine, which leaves every
// stream. It is idempotent.
func (r *Reader) Close() {
	r.Stop()
	<-r.exited
}

// ViewerStats are one viewer's counters.
type ViewerStats struct {
	// Sent and SentBytes count the units written.
	Sent      uint64 `json:"sent"`
	SentBytes uint64 `json:"sentBytes"`
	// Dropped counts units not sent: dropped from a full queue or skipped
	// while waiting for a keyframe.
	Dropped uint64 `json:"dropped"`
	// Skips counts the times the queue overflowed.
	Skips       uint64 `json:"skips"`
	WriteErrors uint64 `json:"writeErrors"`
	Queued      int    `json:"queued"`
	// Codec and Rung say which of its device's streams the viewer
	// watches (rung 0 is the full picture), as its owner names them;
	// Switches counts its moves between streams.
	Codec    string `json:"codec,omitempty"`
	Rung     int    `json:"rung"`
	Switches uint64 `json:"rungSwitches"`
}

// Stats returns the reader's counters; its owner fills Codec and Rung.
func (r *Reader) Stats() ViewerStats {
	r.mu.Lock()
	n, sw := r.n, r.switches
	r.mu.Unlock()
	return ViewerStats{
		Sent: r.sent.Load(), SentBytes: r.sentBytes.Load(),
		Dropped: r.dropped.Load(), Skips: r.skips.Load(),
		WriteErrors: r.writeErrors.Load(), Queued: n, Switches: sw,
	}
}
