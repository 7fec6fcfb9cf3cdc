package rtc

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Hub is a Provider over a MediaSource: it counts each device's viewers,
// starts the device's capture and encoder for the first, shares them and
// one Broadcaster among all, and stops them Config.Linger after the last
// one left. A viewer that comes back within the linger finds the pipeline
// still running (and its cached keyframe). A device's next Start waits for
// its previous Stop to return.
type Hub struct {
	src MediaSource
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	entries  map[string]*hubEntry
	stopping map[string]chan struct{} // closed when that device's Stop returned
	closed   bool
	wg       sync.WaitGroup // linger timers and the stops they run
}

// hubEntry is one device's pipeline.
type hubEntry struct {
	id    string
	refs  int
	ready chan struct{} // closed when Start returned; then dev, b, err are set
	dev   Device
	b     *Broadcaster
	err   error
	timer *time.Timer
	gen   uint64 // invalidates a scheduled stop
}

var _ Provider = (*Hub)(nil)

// NewHub returns a hub over src, configured by cfg's Linger, ViewerQueue,
// KeyFrameMinInterval and Log.
func NewHub(src MediaSource, cfg Config) *Hub {
	cfg = cfg.WithDefaults()
	return &Hub{
		src: src, cfg: cfg, log: cfg.Log,
		entries:  map[string]*hubEntry{},
		stopping: map[string]chan struct{}{},
	}
}

// Acquire joins the device's pipeline, starting it if needed.
func (h *Hub) Acquire(ctx context.Context, deviceID string) (Device, *Broadcaster, func(), error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, nil, nil, ErrClosed
	}
	e := h.entries[deviceID]
	if e == nil {
		e = &hubEntry{id: deviceID, refs: 1, ready: make(chan struct{})}
		h.entries[deviceID] = e
		prev := h.stopping[deviceID]
		h.mu.Unlock()
		h.start(ctx, e, prev)
	} else {
		e.refs++
		h.cancelStop(e)
		h.mu.Unlock()
	}
	var once sync.Once
	release := func() { once.Do(func() { h.release(e) }) }
	select {
	case <-e.ready:
	case <-ctx.Done():
		release()
		return nil, nil, nil, ctx.Err()
	}
	if e.err != nil {
		return nil, nil, nil, e.err
	}
	return e.dev, e.b, release, nil
}

// start runs the source's Start for a new entry.
func (h *Hub) start(ctx context.Context, e *hubEntry, prev chan struct{}) {
	var (
		dev Device
		b   *Broadcaster
		err error
	)
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil {
		b = NewBroadcaster(BroadcasterConfig{
			DeviceID: e.id, QueueSize: h.cfg.ViewerQueue,
			KeyFrameMinInterval: h.cfg.KeyFrameMinInterval, Log: h.log,
		})
		dev, err = h.src.Start(ctx, e.id, b)
		if err == nil && dev == nil {
			err = fmt.Errorf("rtc: media source started %q without a device", e.id)
		}
		if err != nil {
			b.Close()
			b = nil
		} else {
			b.SetRequestKeyFrame(dev.RequestKeyFrame)
			h.log.Info("rtc: device media started", "device", e.id)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e.dev, e.b, e.err = dev, b, err
	close(e.ready)
	if err != nil {
		if h.entries[e.id] == e {
			delete(h.entries, e.id)
		}
		return
	}
	if e.refs == 0 {
		h.scheduleStop(e) // every acquirer gave up while it started
	}
}

// release drops one viewer of e.
func (h *Hub) release(e *hubEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e.refs--
	select {
	case <-e.ready:
	default:
		return // start will see refs == 0
	}
	if e.refs == 0 && e.err == nil {
		h.scheduleStop(e)
	}
}

// scheduleStop stops e's pipeline after the linger; h.mu is held.
func (h *Hub) scheduleStop(e *hubEntry) {
	if h.closed || h.entries[e.id] != e {
		return
	}
	e.gen++
	gen := e.gen
	h.wg.Add(1)
	e.timer = time.AfterFunc(max(h.cfg.Linger, 0), func() { h.expire(e, gen) })
}

// cancelStop cancels a scheduled stop of e; h.mu is held.
func (h *Hub) cancelStop(e *hubEntry) {
	e.gen++
	if e.timer != nil && e.timer.Stop() {
		h.wg.Done()
	}
	e.timer = nil
}

// expire stops e's pipeline if nobody came back.
func (h *Hub) expire(e *hubEntry, gen uint64) {
	defer h.wg.Done()
	h.mu.Lock()
	if e.gen != gen || e.refs > 0 || h.entries[e.id] != e {
		h.mu.Unlock()
		return
	}
	delete(h.entries, e.id)
	e.timer = nil
	done := make(chan struct{})
	h.stopping[e.id] = done
	h.mu.Unlock()

	h.stop(e)

	h.mu.Lock()
	if h.stopping[e.id] == done {
		delete(h.stopping, e.id)
	}
	h.mu.Unlock()
	close(done)
}

// stop ends a started pipeline.
func (h *Hub) stop(e *hubEntry) {
	h.src.Stop(e.id)
	e.b.Close()
	h.log.Info("rtc: device media stopped", "device", e.id)
}

// Stats returns the broadcaster counters of the running pipelines, by
// device ID.
func (h *Hub) Stats() []BroadcasterStats {
	h.mu.Lock()
	var bs []*Broadcaster
	for _, e := range h.entries {
		select {
		case <-e.ready:
			if e.b != nil {
				bs = append(bs, e.b)
			}
		default:
		}
	}
	h.mu.Unlock()
	out := make([]BroadcasterStats, 0, len(bs))
	for _, b := range bs {
		out = append(out, b.Stats())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out
}

// Close stops every pipeline now, viewers or not (close the Manager
// first), and waits for the stops. Acquire then returns ErrClosed. It is
// idempotent.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.wg.Wait()
		return nil
	}
	h.closed = true
	entries := make([]*hubEntry, 0, len(h.entries))
	for id, e := range h.entries {
		h.cancelStop(e)
		entries = append(entries, e)
		delete(h.entries, id)
	}
	h.mu.Unlock()
	for _, e := range entries {
		<-e.ready
		if e.err == nil {
			h.stop(e)
		}
	}
	h.wg.Wait()
	return nil
}
