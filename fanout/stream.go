package fanout

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/media"
)

// Config configures a Stream. Zero fields take the defaults given.
type Config struct {
	// DeviceID names the device in logs and statistics.
	DeviceID string
	// QueueSize is the number of units each reader may have waiting.
	// Default 64.
	QueueSize int
	// GOPCacheUnits and GOPCacheBytes bound the cache of the units since
	// the latest keyframe. Defaults: three quarters of QueueSize, 8 MiB.
	GOPCacheUnits, GOPCacheBytes int
	// RequestKeyFrame asks the stream's owner for a keyframe; the owner
	// merges and rate-limits the requests. It must not block. nil: none.
	RequestKeyFrame func()
	// Log receives the stream's logs; default slog.Default().
	Log *slog.Logger
	// Now is the clock of the queue and send stages; default time.Now.
	// Tests set it.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.QueueSize <= 0 {
		c.QueueSize = 64
	}
	if c.GOPCacheUnits <= 0 {
		c.GOPCacheUnits = max(1, c.QueueSize*3/4)
	}
	c.GOPCacheUnits = min(c.GOPCacheUnits, c.QueueSize)
	if c.GOPCacheBytes <= 0 {
		c.GOPCacheBytes = 8 << 20
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// item is a unit with the stream it came from and the time it reached it.
type item struct {
	u   media.Unit
	at  time.Time
	src *Stream
	// primed marks a cached unit given to a joining reader: its wait is
	// the join's, not the queue's, and is not counted as a stage.
	primed bool
}

// Stream is one encoded stream of a device, fanned out to its readers.
// Write never blocks: each reader has its own bounded queue and goroutine.
// The stream keeps the units since the latest keyframe, so that a new
// reader starts at once from that keyframe ("fast join"); with no
// keyframe cached the reader asks the owner for one (Config.RequestKeyFrame).
type Stream struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	readers   map[*Reader]struct{} // those watching it and those moving to it
	gop       []item               // keyframe first; empty when none was seen
	gopBytes  int
	gopBroken bool // the group outgrew the cache: only its keyframe is kept
	closed    bool

	unitsIn, bytesIn, keyFramesIn atomic.Uint64
	dropped                       atomic.Uint64
	kfAsked                       atomic.Uint64

	// The stages of its readers' units, all readers together:
	// Write → a reader took the unit (queue), → its Writer returned (send).
	queueLat, sendLat media.StageHistogram
}

// New returns a stream; Close stops it.
func New(cfg Config) *Stream {
	cfg = cfg.withDefaults()
	return &Stream{cfg: cfg, log: cfg.Log.With("device", cfg.DeviceID), readers: map[*Reader]struct{}{}}
}

// RequestKeyFrame asks the owner for a keyframe, without blocking.
func (s *Stream) RequestKeyFrame() {
	s.kfAsked.Add(1)
	if fn := s.cfg.RequestKeyFrame; fn != nil {
		fn()
	}
}

// Write hands a unit to every reader. It never blocks. The stream keeps
// u.Data (readers and the cache share it): the caller must not change it
// afterwards. Units of zero length are ignored.
func (s *Stream) Write(u media.Unit) {
	if len(u.Data) == 0 {
		return
	}
	it := item{u: u, at: s.cfg.Now(), src: s}
	needKey := false
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.unitsIn.Add(1)
	s.bytesIn.Add(uint64(len(u.Data)))
	s.cache(it)
	for r := range s.readers {
		if r.push(it) {
			needKey = true
		}
	}
	s.mu.Unlock()
	if needKey {
		s.RequestKeyFrame()
	}
}

// cache adds a unit to the group-of-pictures cache; s.mu is held.
func (s *Stream) cache(it item) {
	if it.u.KeyFrame {
		s.keyFramesIn.Add(1)
		clear(s.gop)
		s.gop = append(s.gop[:0], it)
		s.gopBytes = len(it.u.Data)
		s.gopBroken = false
		return
	}
	if len(s.gop) == 0 || s.gopBroken {
		return
	}
	if len(s.gop) >= s.cfg.GOPCacheUnits || s.gopBytes+len(it.u.Data) > s.cfg.GOPCacheBytes {
		clear(s.gop[1:])
		s.gop = s.gop[:1]
		s.gopBytes = len(s.gop[0].u.Data)
		s.gopBroken = true
		return
	}
	s.gop = append(s.gop, it)
	s.gopBytes += len(it.u.Data)
}

// Subscribe adds a reader whose goroutine writes samples to w, and primes
// it from the cache: the whole group since the latest keyframe when the
// cache holds it, else the keyframe alone followed by a wait for the next
// one, which it asks for. With nothing cached the reader waits for a
// keyframe, which it asks for. id names the reader in logs.
func (s *Stream) Subscribe(id string, w Writer) (*Reader, error) {
	r := newReader(id, w, s)
	needKey := false
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	r.mu.Lock()
	switch {
	case len(s.gop) == 0:
		r.waitKey, needKey = true, true
	case s.gopBroken:
		r.pushLocked(primed(s.gop[0]))
		r.waitKey, needKey = true, true
	default:
		for _, it := range s.gop {
			r.pushLocked(primed(it))
		}
	}
	r.mu.Unlock()
	s.readers[r] = struct{}{}
	s.mu.Unlock()
	go r.run()
	if needKey {
		s.RequestKeyFrame()
	}
	return r, nil
}

// primed returns a cached unit as given to a joining reader.
func primed(it item) item {
	it.primed = true
	return it
}

// remove takes r off the stream.
func (s *Stream) remove(r *Reader) {
	s.mu.Lock()
	delete(s.readers, r)
	s.mu.Unlock()
}

// Close stops every reader that watches the stream and waits for their
// goroutines; a reader moving to it stays where it is. Writes after Close
// are ignored. It is idempotent.
func (s *Stream) Close() {
	s.mu.Lock()
	var stopped []*Reader
	if !s.closed {
		s.closed = true
		for r := range s.readers {
			if r.leave(s) {
				stopped = append(stopped, r)
			}
		}
		clear(s.readers)
		clear(s.gop)
		s.gop = nil
	}
	s.mu.Unlock()
	for _, r := range stopped {
		<-r.exited
	}
}

// Stats are a stream's counters.
type Stats struct {
	DeviceID string `json:"deviceId"`
	// Viewers are the readers that watch the stream (not those moving to it).
	Viewers int `json:"viewers"`
	// UnitsIn, BytesIn and KeyFramesIn count what Write took.
	UnitsIn     uint64 `json:"unitsIn"`
	BytesIn     uint64 `json:"bytesIn"`
	KeyFramesIn uint64 `json:"keyFramesIn"`
	// Dropped counts units dropped for slow or joining readers, summed
	// over readers.
	Dropped uint64 `json:"dropped"`
	// KeyFrameRequests counts the keyframe requests of joins, skips and
	// PLIs, before the owner merges them.
	KeyFrameRequests uint64 `json:"keyFrameRequests"`
	// GOPCached is the number of units in the cache.
	GOPCached int `json:"gopCached"`
	// Queue and Send are the stage histograms of the stream's readers,
	// all together and those gone included (media.StageQueue,
	// media.StageSend). For metrics only.
	Queue media.StageSnapshot `json:"-"`
	Send  media.StageSnapshot `json:"-"`
}

// Stages returns the queue and send stage histograms (see Stats), with
// atomics only: no lock is taken.
func (s *Stream) Stages() (queue, send media.StageSnapshot) {
	return s.queueLat.Snapshot(), s.sendLat.Snapshot()
}

// Dropped returns the units readers skipped (Stats.Dropped), with no
// lock taken.
func (s *Stream) Dropped() uint64 { return s.dropped.Load() }

// Viewers returns the number of readers that watch the stream.
func (s *Stream) Viewers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewersLocked()
}

func (s *Stream) viewersLocked() int {
	n := 0
	for r := range s.readers {
		if r.watches(s) {
			n++
		}
	}
	return n
}

// Stats returns the stream's counters.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	n, g := s.viewersLocked(), len(s.gop)
	s.mu.Unlock()
	return Stats{
		DeviceID: s.cfg.DeviceID, Viewers: n,
		UnitsIn: s.unitsIn.Load(), BytesIn: s.bytesIn.Load(), KeyFramesIn: s.keyFramesIn.Load(),
		Dropped:          s.dropped.Load(),
		KeyFrameRequests: s.kfAsked.Load(),
		GOPCached:        g,
		Queue:            s.queueLat.Snapshot(),
		Send:             s.sendLat.Snapshot(),
	}
}
