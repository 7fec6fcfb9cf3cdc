package device

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"
)

// Registry is a reference-counted registry of device owners, which
// viewers join. The first viewer of a device starts its Device
// under the registry's own context (so a viewer that gives up fails no
// other viewer of the same device); every viewer bounds its own wait with
// its own context. A device stops Config.Linger after its last viewer
// left; a viewer that comes back within the linger finds it running (and
// its cached keyframe). A device's next start waits for its previous stop.
type Registry struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context // devices start and run under it
	cancel context.CancelFunc

	mu       sync.Mutex
	entries  map[string]*entry
	stopping map[string]chan struct{} // closed when that device's stop returned
	closed   bool
	wg       sync.WaitGroup // starts, linger timers and the stops they run

	poolOnce sync.Once
	pool     atomic.Pointer[poolRouter]
	poolErr  error

	shots      shotCache     // screenshots of the window (screenshot.go)
	shotWindow time.Duration // tests: ScreenshotWindow when 0
}

// entry is one device in the registry.
type entry struct {
	id    string
	refs  int
	ready chan struct{} // closed when the start ended; then dev or err is set
	dev   *Device
	err   error
	timer *time.Timer
	gen   uint64 // invalidates a scheduled stop
}

// NewRegistry returns a registry of devices built from cfg. Close stops
// every device.
func NewRegistry(cfg Config) *Registry {
	cfg = cfg.withDefaults()
	cfg.live = newLive(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	return &Registry{
		cfg: cfg, log: cfg.Log, ctx: ctx, cancel: cancel,
		entries:  map[string]*entry{},
		stopping: map[string]chan struct{}{},
	}
}

// JoinRequest asks for one viewer of a device.
type JoinRequest struct {
	DeviceID string
	// ViewerID names the viewer (its session) in control and logs.
	ViewerID string
	// Codecs are what the viewer can receive, best first.
	Codecs []media.Codec
}

// Join starts or joins a device for one viewer. A viewer that cannot
// take any codec the configuration sends is refused before the device
// starts (media.ErrCodecUnsupported); a device that is not there is
// media.ErrUnknownDevice. ctx bounds this viewer's wait only.
func (r *Registry) Join(ctx context.Context, req JoinRequest) (*Viewer, error) {
	if err := media.CheckDeviceID(req.DeviceID); err != nil {
		return nil, err
	}
	// The service's order decides, not the offer's: H.264 first (the
	// device's own stream needs no encoding at all, and H.264 has the
	// hardware encoders), VP8 only for viewers that cannot take H.264.
	sends := r.cfg.codecs()
	codec, ok := media.Codec(""), false
	for _, c := range sends {
		if slices.Contains(req.Codecs, c) {
			codec, ok = c, true
			break
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: the service sends %s (CAPTURE_MODE=%s, VIDEO_ENCODER_TYPE=%s); the offer takes %s", media.ErrCodecUnsupported,
			codecList(sends), r.cfg.Mode, r.cfg.Kind, codecList(req.Codecs))
	}
	e, release, err := r.acquire(req.DeviceID)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	if e.err != nil {
		release()
		return nil, e.err
	}
	o, err := e.dev.acquire(outputKey{Codec: codec})
	if err != nil {
		release()
		return nil, err
	}
	if err := o.waitFirst(ctx, r.cfg.FirstKeyFrame, e.dev.LastError); err != nil {
		e.dev.releaseOutput(o)
		release()
		return nil, err
	}
	return newViewer(e.dev, o, req.ViewerID, release), nil
}

func codecList(cs []media.Codec) string {
	if len(cs) == 0 {
		return "no video codec the service sends"
	}
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// acquire counts one more viewer of a device, starting it if needed, and
// returns its entry and the function that drops the reference.
func (r *Registry) acquire(id string) (*entry, func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, media.ErrClosed
	}
	e := r.entries[id]
	if e == nil {
		e = &entry{id: id, refs: 1, ready: make(chan struct{})}
		r.entries[id] = e
		prev := r.stopping[id]
		r.wg.Go(func() { r.start(e, prev) })
	} else {
		e.refs++
		r.cancelStop(e)
	}
	var once sync.Once
	return e, func() { once.Do(func() { r.release(e) }) }, nil
}

// start starts a new entry's device under the registry's context.
func (r *Registry) start(e *entry, prev chan struct{}) {
	var dev *Device
	var err error
	if prev != nil {
		select {
		case <-prev:
		case <-r.ctx.Done():
			err = media.ErrClosed
		}
	}
	if err == nil {
		dev, err = start(r.ctx, e.id, r.cfg, r.workerPool)
		if err != nil && r.ctx.Err() != nil {
			err = media.ErrClosed
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e.dev, e.err = dev, err
	close(e.ready)
	if err != nil {
		r.log.Warn("device did not start", "device", e.id, "err", err)
		if r.entries[e.id] == e {
			delete(r.entries, e.id)
		}
		return
	}
	f, _ := dev.primary().formatNow()
	r.log.Info("device started", "device", e.id, "encoder", dev.EncoderName(), "codec", f.Codec, "profile", f.ProfileLevelID)
	if e.refs == 0 {
		r.scheduleStop(e) // every viewer gave up while it started
	}
}

// workerPool returns the shared worker pool, started on first use.
func (r *Registry) workerPool() (*poolRouter, error) {
	r.poolOnce.Do(func() {
		p, err := newPoolRouter(r.cfg.current())
		r.pool.Store(p)
		r.poolErr = err
		if p != nil {
			p.pool.SetWorkers(r.cfg.current().Workers) // a SetLive while it started
		}
	})
	return r.pool.Load(), r.poolErr
}

// release drops one viewer of e.
func (r *Registry) release(e *entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.refs--
	select {
	case <-e.ready:
	default:
		return // start will see refs == 0
	}
	if e.refs == 0 && e.err == nil {
		r.scheduleStop(e)
	}
}

// scheduleStop stops e's device after the linger; r.mu is held.
func (r *Registry) scheduleStop(e *entry) {
	if r.closed || r.entries[e.id] != e {
		return
	}
	e.gen++
	gen := e.gen
	r.wg.Add(1)
	e.timer = time.AfterFunc(max(r.cfg.Linger, 0), func() { r.expire(e, gen) })
}

// cancelStop cancels a scheduled stop of e; r.mu is held.
func (r *Registry) cancelStop(e *entry) {
	e.gen++
	if e.timer != nil && e.timer.Stop() {
		r.wg.Done()
	}
	e.timer = nil
}

// expire stops e's device if nobody came back.
func (r *Registry) expire(e *entry, gen uint64) {
	defer r.wg.Done()
	r.mu.Lock()
	if e.gen != gen || e.refs > 0 || r.entries[e.id] != e {
		r.mu.Unlock()
		return
	}
	done := r.detach(e)
	r.mu.Unlock()
	r.finish(e, done, "no viewer since the linger")
}

// Stop stops a device now, whatever its viewers (end their sessions
// first: they would see no more frames), as when this instance lost the
// device to another; a device still starting is stopped once started.
// It does not wait for the stop, and reports whether the device ran.
func (r *Registry) Stop(id, why string) bool {
	r.mu.Lock()
	e := r.entries[id]
	if e == nil || r.closed {
		r.mu.Unlock()
		return false
	}
	r.cancelStop(e)
	done := r.detach(e)
	r.mu.Unlock()
	r.wg.Go(func() { r.finish(e, done, why) })
	return true
}

// StopIdle stops now the devices that no viewer watches (those waiting
// out their linger), and returns their IDs: a draining instance hands
// them over at once.
func (r *Registry) StopIdle(why string) []string {
	r.mu.Lock()
	var idle []*entry
	var dones []chan struct{}
	for _, e := range r.entries {
		select {
		case <-e.ready:
			if e.refs == 0 && e.err == nil && !r.closed {
				r.cancelStop(e)
				idle = append(idle, e)
				dones = append(dones, r.detach(e))
			}
		default:
		}
	}
	r.mu.Unlock()
	ids := make([]string, 0, len(idle))
	for i, e := range idle {
		r.finish(e, dones[i], why)
		ids = append(ids, e.id)
	}
	slices.Sort(ids)
	return ids
}

// Workers is the encode slots (WORKER_COUNT, live).
func (r *Registry) Workers() int { return r.cfg.current().Workers }

// Has reports whether a device runs, is starting or lingers here.
func (r *Registry) Has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entries[id] != nil
}

// Count returns how many devices run or are starting.
func (r *Registry) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// detach takes e out of the registry and marks its device as stopping
// (the next start waits for the returned channel to close); r.mu is
// held.
func (r *Registry) detach(e *entry) chan struct{} {
	delete(r.entries, e.id)
	e.timer = nil
	done := make(chan struct{})
	r.stopping[e.id] = done
	return done
}

// finish stops a detached entry's device once its start has ended, and
// closes done.
func (r *Registry) finish(e *entry, done chan struct{}, why string) {
	<-e.ready
	if e.err == nil {
		e.dev.Close()
		r.cfg.Release(e.id, e.dev.serial)
		r.log.Info("device stopped", "device", e.id, "why", why)
	}
	r.mu.Lock()
	if r.stopping[e.id] == done {
		delete(r.stopping, e.id)
	}
	r.mu.Unlock()
	close(done)
}

// running returns the devices that have started.
func (r *Registry) running() []*Device {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Device
	for _, e := range r.entries {
		select {
		case <-e.ready:
			if e.dev != nil {
				out = append(out, e.dev)
			}
		default:
		}
	}
	slices.SortFunc(out, func(a, b *Device) int { return strings.Compare(a.id, b.id) })
	return out
}

// Device returns a running device by its ID.
func (r *Registry) Device(id string) (*Device, bool) {
	for _, d := range r.running() {
		if d.id == id {
			return d, true
		}
	}
	return nil, false
}

// DeviceBack tells a running device's capture that the device is back:
// the adb server lists it again in state "device", it was reconnected, or
// the adb server answers again after a restart. A capture waiting to
// retry starts now, with its retry back-off reset, so that its viewers
// resume at once rather than at the end of a delay that grew while the
// device was gone. It reports whether the device runs; it does nothing
// for one that does not.
//
// serial is the device's adb serial, which the adb server lists; the
// devices running at that address are kicked.
func (r *Registry) DeviceBack(serial string) bool {
	found := false
	for _, d := range r.running() {
		if d.serial == serial {
			d.kick()
			found = true
		}
	}
	return found
}

// Stats returns the statistics of the running devices, by serial.
func (r *Registry) Stats() []Stats {
	devs := r.running()
	out := make([]Stats, 0, len(devs))
	for _, d := range devs {
		out = append(out, d.Stats())
	}
	return out
}

// StreamStats returns the fan-out counters of the running devices'
// outputs, by device.
func (r *Registry) StreamStats() []fanout.Stats {
	var out []fanout.Stats
	for _, d := range r.running() {
		out = append(out, d.streamStats()...)
	}
	return out
}

// WorkerPoolStats returns the shared worker pool's counters, all devices
// together, or nil when no pool runs (USE_WORKER_POOL=false, or no device
// encoded here started yet).
func (r *Registry) WorkerPoolStats() *encoder.Snapshot {
	p := r.pool.Load()
	if p == nil {
		return nil
	}
	s := p.stats()
	return &s
}

// Close stops every device now, viewers or not (close the session manager
// first), waits for the starts and stops under way, and stops the worker
// pool. Join then returns media.ErrClosed. It is idempotent.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.wg.Wait()
		return nil
	}
	r.closed = true
	r.cancel()
	entries := make([]*entry, 0, len(r.entries))
	for id, e := range r.entries {
		r.cancelStop(e)
		entries = append(entries, e)
		delete(r.entries, id)
	}
	r.mu.Unlock()
	for _, e := range entries {
		<-e.ready
		if e.err == nil {
			e.dev.Close()
			r.cfg.Release(e.id, e.dev.serial)
		}
	}
	r.wg.Wait()
	if p := r.pool.Load(); p != nil {
		p.close()
	}
	r.shots.close()
	return nil
}
