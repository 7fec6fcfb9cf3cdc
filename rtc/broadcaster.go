package rtc

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/media"

	pionmedia "github.com/pion/webrtc/v4/pkg/media"
)

// SampleWriter takes one viewer's samples. *webrtc.TrackLocalStaticSample
// implements it.
type SampleWriter interface {
	WriteSample(pionmedia.Sample) error
}

// BroadcasterConfig configures a Broadcaster. Zero fields take the defaults
// given.
type BroadcasterConfig struct {
	// DeviceID names the device in logs.
	DeviceID string
	// QueueSize is the number of units each viewer may have waiting.
	// Default 64.
	QueueSize int
	// GOPCacheUnits and GOPCacheBytes bound the cache of the units since
	// the latest keyframe. Defaults: three quarters of QueueSize, 8 MiB.
	GOPCacheUnits, GOPCacheBytes int
	// RequestKeyFrame asks the device's owner for a keyframe, which
	// merges and rate-limits the requests. It must not block. nil: none.
	RequestKeyFrame func()
	// Log receives the broadcaster's logs; default slog.Default().
	Log *slog.Logger
	// Now is the clock of the queue and send stages; default time.Now.
	// Tests set it.
	Now func() time.Time
}

func (c BroadcasterConfig) withDefaults() BroadcasterConfig {
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

// item is a unit with the time it reached the broadcaster.
type item struct {
	u  media.Unit
	at time.Time
	// primed marks a cached unit given to a joining viewer: its wait is
	// the join's, not the queue's, and is not counted as a stage.
	primed bool
}

// Broadcaster fans one device's encoded units out to its viewers. Write
// never blocks: each viewer has its own bounded queue and writer
// goroutine, and a viewer whose queue is full drops what it has queued and
// skips ahead to the next keyframe, so a slow viewer never holds up the
// writer or the other viewers. The broadcaster keeps the units since the
// latest keyframe, so a new viewer starts at once from that keyframe
// ("fast join"); with no keyframe cached it asks the device for one
// (BroadcasterConfig.RequestKeyFrame, which the device's owner merges and
// rate-limits).
type Broadcaster struct {
	cfg BroadcasterConfig
	log *slog.Logger

	mu        sync.Mutex
	viewers   map[*Viewer]struct{}
	gop       []item // keyframe first; empty when none was seen
	gopBytes  int
	gopBroken bool // the group outgrew the cache: only its keyframe is kept
	closed    bool

	wg sync.WaitGroup // viewers' writer goroutines

	unitsIn, bytesIn, keyFramesIn atomic.Uint64
	dropped                       atomic.Uint64
	kfAsked                       atomic.Uint64

	// The stages of its viewers' units, all viewers together:
	// Write → a writer took the unit (queue), → its RTP was written (send).
	queueLat, sendLat media.StageHistogram
}

// NewBroadcaster returns a broadcaster; Close stops it.
func NewBroadcaster(cfg BroadcasterConfig) *Broadcaster {
	cfg = cfg.withDefaults()
	return &Broadcaster{
		cfg:     cfg,
		log:     cfg.Log.With("device", cfg.DeviceID),
		viewers: map[*Viewer]struct{}{},
	}
}

// RequestKeyFrame asks the device for a keyframe, without blocking.
func (b *Broadcaster) RequestKeyFrame() {
	b.kfAsked.Add(1)
	if fn := b.cfg.RequestKeyFrame; fn != nil {
		fn()
	}
}

// Write hands a unit to every viewer. It never blocks. The broadcaster
// keeps u.Data (viewers and the cache share it): the caller must not change
// it afterwards. Units of zero length are ignored.
func (b *Broadcaster) Write(u media.Unit) {
	if len(u.Data) == 0 {
		return
	}
	it := item{u: u, at: b.cfg.Now()}
	needKey := false
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.unitsIn.Add(1)
	b.bytesIn.Add(uint64(len(u.Data)))
	b.cache(it)
	for v := range b.viewers {
		if v.push(it) {
			needKey = true
		}
	}
	b.mu.Unlock()
	if needKey {
		b.RequestKeyFrame()
	}
}

// cache adds a unit to the group-of-pictures cache; b.mu is held.
func (b *Broadcaster) cache(it item) {
	if it.u.KeyFrame {
		b.keyFramesIn.Add(1)
		clear(b.gop)
		b.gop = append(b.gop[:0], it)
		b.gopBytes = len(it.u.Data)
		b.gopBroken = false
		return
	}
	if len(b.gop) == 0 || b.gopBroken {
		return
	}
	if len(b.gop) >= b.cfg.GOPCacheUnits || b.gopBytes+len(it.u.Data) > b.cfg.GOPCacheBytes {
		clear(b.gop[1:])
		b.gop = b.gop[:1]
		b.gopBytes = len(b.gop[0].u.Data)
		b.gopBroken = true
		return
	}
	b.gop = append(b.gop, it)
	b.gopBytes += len(it.u.Data)
}

// Subscribe adds a viewer whose writer goroutine writes samples to w, and
// primes it from the cache: the whole group since the latest keyframe when
// the cache holds it, else the keyframe alone followed by a wait for the
// next one, which it asks for. With nothing cached the viewer waits for a
// keyframe, which it asks for. id names the viewer in logs.
func (b *Broadcaster) Subscribe(id string, w SampleWriter) (*Viewer, error) {
	return b.subscribe(id, w, false)
}

// SubscribeAtNextKey adds a viewer that starts at the next keyframe, which
// it asks for, ignoring the cache: a viewer moving here from another
// stream of the same device continues from now, not from the cached past.
func (b *Broadcaster) SubscribeAtNextKey(id string, w SampleWriter) (*Viewer, error) {
	return b.subscribe(id, w, true)
}

func (b *Broadcaster) subscribe(id string, w SampleWriter, atNextKey bool) (*Viewer, error) {
	v := &Viewer{
		b: b, id: id, w: w,
		q:      make([]item, b.cfg.QueueSize),
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	needKey := false
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	switch {
	case len(b.gop) == 0 || atNextKey:
		v.waitKey, needKey = true, true
	case b.gopBroken:
		v.push(primed(b.gop[0]))
		v.waitKey, needKey = true, true
	default:
		for _, it := range b.gop {
			v.push(primed(it))
		}
	}
	b.viewers[v] = struct{}{}
	b.wg.Add(1)
	b.mu.Unlock()
	go v.run()
	if needKey {
		b.RequestKeyFrame()
	}
	return v, nil
}

// primed returns a cached unit as given to a joining viewer.
func primed(it item) item {
	it.primed = true
	return it
}

// Close stops every viewer's writer goroutine and waits for them. Writes after Close are ignored. It is
// idempotent.
func (b *Broadcaster) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.wg.Wait()
		return
	}
	b.closed = true
	for v := range b.viewers {
		v.stop()
	}
	clear(b.viewers)
	clear(b.gop)
	b.gop = nil
	b.mu.Unlock()
	b.wg.Wait()
}

// BroadcasterStats are a broadcaster's counters.
type BroadcasterStats struct {
	DeviceID string `json:"deviceId"`
	Viewers  int    `json:"viewers"`
	// UnitsIn, BytesIn and KeyFramesIn count what Write took.
	UnitsIn     uint64 `json:"unitsIn"`
	BytesIn     uint64 `json:"bytesIn"`
	KeyFramesIn uint64 `json:"keyFramesIn"`
	// Dropped counts units dropped for slow or joining viewers, summed
	// over viewers.
	Dropped uint64 `json:"dropped"`
	// KeyFrameRequests counts the keyframe requests of joins, skips and
	// PLIs, before the device's owner merges them.
	KeyFrameRequests uint64 `json:"keyFrameRequests"`
	// GOPCached is the number of units in the cache.
	GOPCached int `json:"gopCached"`
	// Queue and Send are the stage histograms of the broadcaster's
	// viewers, all together and those gone included: Write → a viewer's
	// writer took the unit, and → the unit's RTP packets were written
	// (media.StageQueue, media.StageSend). For metrics only.
	Queue media.StageSnapshot `json:"-"`
	Send  media.StageSnapshot `json:"-"`
}

// Stages returns the queue and send stage histograms (see
// BroadcasterStats), with atomics only: no lock is taken.
func (b *Broadcaster) Stages() (queue, send media.StageSnapshot) {
	return b.queueLat.Snapshot(), b.sendLat.Snapshot()
}

// Dropped returns the units viewers skipped (BroadcasterStats.Dropped),
// with no lock taken.
func (b *Broadcaster) Dropped() uint64 { return b.dropped.Load() }

// Stats returns the broadcaster's counters.
func (b *Broadcaster) Stats() BroadcasterStats {
	b.mu.Lock()
	n, g := len(b.viewers), len(b.gop)
	b.mu.Unlock()
	return BroadcasterStats{
		DeviceID: b.cfg.DeviceID, Viewers: n,
		UnitsIn: b.unitsIn.Load(), BytesIn: b.bytesIn.Load(), KeyFramesIn: b.keyFramesIn.Load(),
		Dropped:          b.dropped.Load(),
		KeyFrameRequests: b.kfAsked.Load(),
		GOPCached:        g,
		Queue:            b.queueLat.Snapshot(),
		Send:             b.sendLat.Snapshot(),
	}
}
