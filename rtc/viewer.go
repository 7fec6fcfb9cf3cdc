package rtc

import (
	"sync"
	"sync/atomic"
	"time"

	pionmedia "github.com/pion/webrtc/v4/pkg/media"
)

// defaultFrameDuration is a sample's duration when the PTS tell nothing.
const defaultFrameDuration = time.Second / 30

// Viewer is one subscriber of a Broadcaster: a bounded queue and the
// goroutine that writes it to the viewer's track.
type Viewer struct {
	b  *Broadcaster
	id string
	w  SampleWriter

	mu      sync.Mutex
	q       []item // ring
	head, n int
	waitKey bool
	closed  bool

	notify chan struct{}
	done   chan struct{}
	exited chan struct{}

	// Used by run only.
	lastPTS time.Duration
	havePTS bool

	sent, sentBytes, dropped, skips, writeErrors atomic.Uint64
}

// push queues a unit; b.mu is held. It reports whether the viewer now
// needs a keyframe: its queue was full, so it dropped what it had queued
// and waits for the next keyframe.
func (v *Viewer) push(it item) (needKey bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return false
	}
	if v.waitKey {
		if !it.u.KeyFrame {
			v.drop(1)
			return false
		}
		v.waitKey = false
	}
	if v.n == len(v.q) {
		v.skips.Add(1)
		dropped := v.n
		for i := range v.q {
			v.q[i] = item{}
		}
		v.head, v.n = 0, 0
		if !it.u.KeyFrame {
			dropped++
			v.waitKey, needKey = true, true
		}
		v.drop(dropped)
		if needKey {
			v.b.log.Debug("rtc: viewer queue full, skipping to the next keyframe", "session", v.id, "dropped", dropped)
			return true
		}
	}
	v.q[(v.head+v.n)%len(v.q)] = it
	v.n++
	select {
	case v.notify <- struct{}{}:
	default:
	}
	return needKey
}

func (v *Viewer) drop(n int) {
	v.dropped.Add(uint64(n))
	v.b.dropped.Add(uint64(n))
}

// pop takes the oldest queued unit.
func (v *Viewer) pop() (item, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed || v.n == 0 {
		return item{}, false
	}
	it := v.q[v.head]
	v.q[v.head] = item{}
	v.head = (v.head + 1) % len(v.q)
	v.n--
	return it, true
}

// run writes queued units until the viewer stops.
func (v *Viewer) run() {
	defer v.b.wg.Done()
	defer close(v.exited)
	for {
		select {
		case <-v.notify:
		case <-v.done:
			return
		}
		for {
			it, ok := v.pop()
			if !ok {
				break
			}
			taken := v.b.cfg.Now()
			if v.write(it) && !it.primed {
				v.b.queueLat.Observe(taken.Sub(it.at))
				v.b.sendLat.Observe(v.b.cfg.Now().Sub(taken))
			}
		}
	}
}

// write sends one unit as a sample. Its duration is the PTS difference to
// the previous unit (a sample's duration moves the RTP timestamp of the
// next), else the unit's own duration, else 1/30 s; a difference beyond a
// second (a pause in a static screen, a skip) counts as one frame. It
// reports whether the sample was written.
func (v *Viewer) write(it item) bool {
	d := defaultFrameDuration
	diff := it.u.PTS - v.lastPTS
	switch {
	case v.havePTS && diff > 0 && diff <= time.Second:
		d = diff
	case it.u.Duration > 0 && it.u.Duration <= time.Second:
		d = it.u.Duration
	}
	v.lastPTS, v.havePTS = it.u.PTS, true
	if err := v.w.WriteSample(pionmedia.Sample{Data: it.u.Data, Duration: d, Timestamp: it.at}); err != nil {
		if v.writeErrors.Add(1) == 1 {
			v.b.log.Debug("rtc: write sample", "session", v.id, "err", err)
		}
		return false
	}
	v.sent.Add(1)
	v.sentBytes.Add(uint64(len(it.u.Data)))
	return true
}

// stop marks the viewer closed and wakes its goroutine.
func (v *Viewer) stop() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	v.closed = true
	for i := range v.q {
		v.q[i] = item{}
	}
	v.n = 0
	close(v.done)
}

// Close unsubscribes the viewer and waits for its goroutine. It is
// idempotent.
func (v *Viewer) Close() {
	v.Unsubscribe()
	<-v.exited
}

// Unsubscribe takes the viewer off its broadcaster and tells its
// goroutine to stop, without waiting for it (it may be inside a write
// that only closing the peer connection ends). It is idempotent.
func (v *Viewer) Unsubscribe() {
	v.b.mu.Lock()
	delete(v.b.viewers, v)
	v.stop()
	v.b.mu.Unlock()
}

// ViewerStats are a viewer's counters.
type ViewerStats struct {
	// Sent and SentBytes count the units written to the track.
	Sent      uint64 `json:"sent"`
	SentBytes uint64 `json:"sentBytes"`
	// Dropped counts units not sent: dropped from a full queue or skipped
	// while waiting for a keyframe.
	Dropped uint64 `json:"dropped"`
	// Skips counts the times the queue overflowed.
	Skips       uint64 `json:"skips"`
	WriteErrors uint64 `json:"writeErrors"`
	Queued      int    `json:"queued"`
	// Codec and Rung say which of its device's outputs the viewer
	// watches (rung 0 is the full picture); Switches counts its moves
	// between rungs. The device owner fills them.
	Codec    string `json:"codec,omitempty"`
	Rung     int    `json:"rung"`
	Switches uint64 `json:"rungSwitches"`
}

// Stats returns the viewer's counters.
func (v *Viewer) Stats() ViewerStats {
	v.mu.Lock()
	n := v.n
	v.mu.Unlock()
	return ViewerStats{
		Sent: v.sent.Load(), SentBytes: v.sentBytes.Load(),
		Dropped: v.dropped.Load(), Skips: v.skips.Load(),
		WriteErrors: v.writeErrors.Load(), Queued: n,
	}
}
