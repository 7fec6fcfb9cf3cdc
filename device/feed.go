package device

import (
	"context"
	"sync"
	"time"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"
)

// Viewer is one viewer's link to its device: it watches one output (codec
// and rung) at a time through a fanout.Reader, and moves between the
// codec's rungs on its bandwidth estimate (fanout.Selector); the reader
// switches at a keyframe of the new rung. Its methods are what the
// session layer's Feed asks for, and may be called from several
// goroutines at once.
type Viewer struct {
	d     *Device
	id    string
	leave func() // drops the viewer's reference to the device

	mu       sync.Mutex
	o        *output // the output watched
	r        *fanout.Reader
	sel      fanout.Selector
	next     *output // the output being moved to, until its first keyframe
	closed   bool
	once     sync.Once
	released bool // the outputs' references were given back
}

func newViewer(d *Device, o *output, id string, leave func()) *Viewer {
	return &Viewer{d: d, o: o, id: id, leave: leave, sel: fanout.Selector{Rungs: d.codecRungs(o.key.Codec), Cur: o.key.Rung}}
}

// codecRungs are the rungs a viewer of codec moves between.
func (d *Device) codecRungs(c media.Codec) []fanout.Rung {
	rungs := d.rungs()
	n := 0
	for i := range rungs {
		if ok, _ := d.plan.serves(outputKey{Codec: c, Rung: i}, len(rungs)); ok {
			n = i + 1
		} else {
			break
		}
	}
	return rungs[:n]
}

func (f *Viewer) output() *output {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.o
}

// Format is the codec and profile of the output watched.
func (f *Viewer) Format() media.Format {
	fm, _ := f.output().formatNow()
	return fm
}

// Start begins writing the output's units to w, from a keyframe. Calls
// after the first do nothing.
func (f *Viewer) Start(w fanout.Writer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return media.ErrClosed
	}
	if f.r != nil {
		return nil
	}
	r, err := f.o.b.Subscribe(f.id, w)
	if err != nil {
		return err
	}
	f.r = r
	return nil
}

// RequestKeyFrame asks the output watched for a keyframe (merged and
// rate-limited with its other viewers').
func (f *Viewer) RequestKeyFrame() { f.output().kf.request() }

// SetEstimate notes the viewer's bandwidth estimate: it sets its output's
// rate, and may move the viewer to another rung.
func (f *Viewer) SetEstimate(bps int) {
	f.output().setEstimate(f.id, bps)
	f.mu.Lock()
	r, moved := f.sel.Observe(bps, time.Now())
	started := f.r != nil && !f.closed
	f.mu.Unlock()
	if moved && started {
		f.moveTo(r)
	}
}

// moveTo starts the move to rung r: the reader takes that rung's output
// from its next keyframe, and the old output is released when it has.
func (f *Viewer) moveTo(r int) {
	key := outputKey{Codec: f.output().key.Codec, Rung: r}
	o, err := f.d.acquire(key)
	if err != nil {
		f.d.log.Warn("rung switch", "viewer", f.id, "to", key.String(), "err", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.r == nil || o == f.o {
		go f.d.releaseOutput(o)
		return
	}
	f.cancelMoveLocked()
	if err := f.r.Move(o.b, func(*fanout.Stream) { f.moved(o) }); err != nil {
		go f.d.releaseOutput(o)
		return
	}
	f.next = o
	f.d.log.Info("viewer moving to another rung", "viewer", f.id, "from", f.o.key.String(), "to", key.String())
}

// cancelMoveLocked abandons a move in progress. Callers hold f.mu. A move
// that has just finished, whose callback has not run yet, is finished
// here (the callback then finds nothing to do).
func (f *Viewer) cancelMoveLocked() {
	if f.next == nil {
		return
	}
	gone := f.next
	if f.r.CancelMove() == nil {
		gone, f.o = f.o, f.next
	}
	f.next = nil
	gone.dropEstimate(f.id)
	go f.d.releaseOutput(gone)
}

// moved runs on the reader's goroutine when the new rung's first keyframe
// was taken: the old output is released.
func (f *Viewer) moved(o *output) {
	f.mu.Lock()
	if f.next != o || f.released {
		f.mu.Unlock()
		return
	}
	old := f.o
	f.o, f.next = o, nil
	f.mu.Unlock()
	old.dropEstimate(f.id)
	f.d.releaseOutput(old)
}

// TakeControl gives the viewer control of the device and returns the
// viewer that lost it.
func (f *Viewer) TakeControl() string { return f.d.control.Take(f.id) }

// ReleaseControl gives control up and reports whether the viewer held it.
func (f *Viewer) ReleaseControl() bool { return f.d.control.Drop(f.id) }

// Controller reports whether the viewer holds control.
func (f *Viewer) Controller() bool { return f.d.control.Holder() == f.id }

// Input injects the viewer's input, if it may send input
// (fanout.Control); else media.ErrNotController.
func (f *Viewer) Input(ctx context.Context, in media.Input) error {
	if !f.d.control.Allow(f.id) {
		return media.ErrNotController
	}
	return f.d.inject(ctx, in)
}

// Clipboard reads the device's clipboard through its input agent.
func (f *Viewer) Clipboard(ctx context.Context) (string, error) {
	return f.d.clipboard(ctx)
}

// Notices calls fn with the device's input state, then its changes and
// the device's clipboard changes, until stop is called.
func (f *Viewer) Notices(fn func(media.InputNotice)) (stop func()) {
	return f.d.notices(fn)
}

// Stats returns the viewer's counters, which go on across rung switches.
func (f *Viewer) Stats() fanout.ViewerStats {
	f.mu.Lock()
	r, o := f.r, f.o
	f.mu.Unlock()
	var s fanout.ViewerStats
	if r != nil {
		s = r.Stats()
	}
	s.Codec, s.Rung = string(o.key.Codec), o.key.Rung
	return s
}

// Stop stops writing without waiting for the writer.
func (f *Viewer) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.r != nil {
		f.r.Stop()
	}
}

// Close stops writing, waits for the writer, gives control back and
// leaves the device. It is idempotent.
func (f *Viewer) Close() {
	f.once.Do(func() {
		f.Stop()
		f.mu.Lock()
		r := f.r
		f.mu.Unlock()
		if r != nil {
			r.Close() // no move callback runs after this
		}
		f.mu.Lock()
		f.released = true
		o, next := f.o, f.next
		f.next = nil
		f.mu.Unlock()
		f.d.control.Drop(f.id)
		o.dropEstimate(f.id)
		f.d.releaseOutput(o)
		if next != nil {
			next.dropEstimate(f.id)
			f.d.releaseOutput(next)
		}
		f.leave()
	})
}
