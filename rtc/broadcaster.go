package rtc

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/cloudphone/media-service/encoder"
)

// SampleWriter takes one viewer's samples. *webrtc.TrackLocalStaticSample
// implements it.
type SampleWriter interface {
	WriteSample(media.Sample) error
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
	// KeyFrameMinInterval is the least time between two calls of the
	// keyframe function. Default 500ms.
	KeyFrameMinInterval time.Duration
	// RequestKeyFrame asks the device for a keyframe; it may be set later
	// with SetRequestKeyFrame. It must not block.
	RequestKeyFrame func()
	// Log receives the broadcaster's logs; default slog.Default().
	Log *slog.Logger
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
	if c.KeyFrameMinInterval <= 0 {
		c.KeyFrameMinInterval = 500 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// item is a unit with the time it reached the broadcaster.
type item struct {
	u  encoder.Unit
	at time.Time
}

// Broadcaster fans one device's encoded units out to its viewers. Write
// never blocks: each viewer has its own bounded queue and writer
// goroutine, and a viewer whose queue is full drops what it has queued and
// skips ahead to the next keyframe, so a slow viewer never holds up the
// writer or the other viewers. The broadcaster keeps the units since the
// latest keyframe, so a new viewer starts at once from that keyframe
// ("fast join"); with no keyframe cached it asks the device for one.
// Keyframe requests are merged and rate-limited.
type Broadcaster struct {
	cfg BroadcasterConfig
	log *slog.Logger

	mu        sync.Mutex
	viewers   map[*Viewer]struct{}
	gop       []item // keyframe first; empty when none was seen
	gopBytes  int
	gopBroken bool // the group outgrew the cache: only its keyframe is kept
	closed    bool

	requestFn atomic.Pointer[func()]
	kick      chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup

	unitsIn, bytesIn, keyFramesIn atomic.Uint64
	dropped                       atomic.Uint64
	kfAsked, kfSent               atomic.Uint64
}

// NewBroadcaster returns a broadcaster; Close stops it.
func NewBroadcaster(cfg BroadcasterConfig) *Broadcaster {
	cfg = cfg.withDefaults()
	b := &Broadcaster{
		cfg:     cfg,
		log:     cfg.Log.With("device", cfg.DeviceID),
		viewers: map[*Viewer]struct{}{},
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	if cfg.RequestKeyFrame != nil {
		b.SetRequestKeyFrame(cfg.RequestKeyFrame)
	}
	b.wg.Add(1)
	go b.keyFrames()
	return b
}

// SetRequestKeyFrame sets the function that asks the device for a
// keyframe. It must not block.
func (b *Broadcaster) SetRequestKeyFrame(fn func()) {
	if fn == nil {
		b.requestFn.Store(nil)
		return
	}
	b.requestFn.Store(&fn)
}

// RequestKeyFrame asks the device for a keyframe, without blocking. Calls
// are merged: the device hears at most one request per
// KeyFrameMinInterval, and a request inside the interval is forwarded at
// its end.
func (b *Broadcaster) RequestKeyFrame() {
	b.kfAsked.Add(1)
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// keyFrames forwards keyframe requests, rate-limited.
func (b *Broadcaster) keyFrames() {
	defer b.wg.Done()
	var last time.Time
	for {
		select {
		case <-b.kick:
		case <-b.done:
			return
		}
		if wait := b.cfg.KeyFrameMinInterval - time.Since(last); !last.IsZero() && wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-b.done:
				t.Stop()
				return
			}
			select { // merged into this one
			case <-b.kick:
			default:
			}
		}
		if fn := b.requestFn.Load(); fn != nil {
			(*fn)()
			b.kfSent.Add(1)
		}
		last = time.Now()
	}
}

// Write hands a unit to every viewer. It never blocks. The broadcaster
// keeps u.Data (viewers and the cache share it): the caller must not change
// it afterwards. Units of zero length are ignored.
func (b *Broadcaster) Write(u encoder.Unit) {
	if len(u.Data) == 0 {
		return
	}
	it := item{u: u, at: time.Now()}
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
	case len(b.gop) == 0:
		v.waitKey, needKey = true, true
	case b.gopBroken:
		v.push(b.gop[0])
		v.waitKey, needKey = true, true
	default:
		for _, it := range b.gop {
			v.push(it)
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

// Close stops every viewer's writer goroutine and the keyframe
// goroutine, and waits for them. Writes after Close are ignored. It is
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
	close(b.done)
	b.mu.Unlock()
	b.wg.Wait()
}

// KeyFrameCached reports whether a new viewer would start from a cached
// keyframe.
func (b *Broadcaster) KeyFrameCached() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.gop) > 0
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
	// KeyFrameRequests counts requests (joins, skips, PLIs);
	// KeyFramesRequested those forwarded to the device after merging.
	KeyFrameRequests   uint64 `json:"keyFrameRequests"`
	KeyFramesRequested uint64 `json:"keyFramesRequested"`
	// GOPCached is the number of units in the cache.
	GOPCached int `json:"gopCached"`
}

// Stats returns the broadcaster's counters.
func (b *Broadcaster) Stats() BroadcasterStats {
	b.mu.Lock()
	n, g := len(b.viewers), len(b.gop)
	b.mu.Unlock()
	return BroadcasterStats{
		DeviceID: b.cfg.DeviceID, Viewers: n,
		UnitsIn: b.unitsIn.Load(), BytesIn: b.bytesIn.Load(), KeyFramesIn: b.keyFramesIn.Load(),
		Dropped:          b.dropped.Load(),
		KeyFrameRequests: b.kfAsked.Load(), KeyFramesRequested: b.kfSent.Load(),
		GOPCached: g,
	}
}
