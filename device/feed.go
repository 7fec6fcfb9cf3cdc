package device

import (
	"context"
	"sync"
	"time"

	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/rtc"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
)

// feed is one viewer's link to its device: rtc.Feed. It watches one output
// (codec and rung) at a time, and moves between the codec's rungs on its
// bandwidth estimate (rungSelector), at a keyframe of the new rung.
type feed struct {
	d     *Device
	id    string
	leave func() // drops the viewer's reference to the device

	mu       sync.Mutex
	o        *output // the output watched
	v        *rtc.Viewer
	sw       *switchWriter
	sel      rungSelector
	next     *output // the output being moved to, until its first keyframe
	nextV    *rtc.Viewer
	switches uint64
	base     rtc.ViewerStats // counters of the subscriptions left behind
	closed   bool
	once     sync.Once
}

var _ rtc.Feed = (*feed)(nil)

func newFeed(d *Device, o *output, id string, leave func()) *feed {
	return &feed{d: d, o: o, id: id, leave: leave, sel: rungSelector{rungs: d.codecRungs(o.key.Codec), cur: o.key.Rung}}
}

// codecRungs are the rungs a viewer of codec moves between.
func (d *Device) codecRungs(c media.Codec) []Rung {
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

func (f *feed) output() *output {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.o
}

func (f *feed) Format() media.Format {
	fm, _ := f.output().formatNow()
	return fm
}

func (f *feed) Start(w rtc.SampleWriter) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return rtc.ErrClosed
	}
	if f.v != nil {
		return nil
	}
	f.sw = &switchWriter{w: w}
	v, err := f.o.b.Subscribe(f.id, f.sw.writer(f.sw.gen, nil))
	if err != nil {
		return err
	}
	f.v = v
	return nil
}

func (f *feed) RequestKeyFrame() { f.output().kf.request() }

// SetEstimate notes the viewer's bandwidth estimate: it sets its output's
// rate, and may move the viewer to another rung.
func (f *feed) SetEstimate(bps int) {
	f.output().setEstimate(f.id, bps)
	f.mu.Lock()
	r, moved := f.sel.observe(bps, time.Now())
	started := f.v != nil && !f.closed
	f.mu.Unlock()
	if moved && started {
		f.moveTo(r)
	}
}

// moveTo starts the move to rung r: the viewer subscribes to that rung's
// output from its next keyframe, and leaves the old one when that
// keyframe is written.
func (f *feed) moveTo(r int) {
	key := outputKey{Codec: f.output().key.Codec, Rung: r}
	o, err := f.d.acquire(key)
	if err != nil {
		f.d.log.Warn("rung switch", "viewer", f.id, "to", key.String(), "err", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.sw == nil {
		go f.d.releaseOutput(o)
		return
	}
	f.cancelMoveLocked()
	if o == f.o {
		go f.d.releaseOutput(o)
		return
	}
	gen := f.sw.nextGen()
	v, err := o.b.SubscribeAtNextKey(f.id, f.sw.writer(gen, func() { f.moved(o, gen) }))
	if err != nil {
		go f.d.releaseOutput(o)
		return
	}
	f.next, f.nextV = o, v
	f.d.log.Info("viewer moving to another rung", "viewer", f.id, "from", f.o.key.String(), "to", key.String())
}

// cancelMoveLocked abandons a move in progress. Callers hold f.mu.
func (f *feed) cancelMoveLocked() {
	if f.next == nil {
		return
	}
	f.nextV.Unsubscribe()
	f.next.dropEstimate(f.id)
	go f.d.releaseOutput(f.next)
	f.next, f.nextV = nil, nil
}

// moved runs when the new rung's first keyframe was written: the old
// subscription ends.
func (f *feed) moved(o *output, gen uint64) {
	f.mu.Lock()
	if f.next != o || f.closed {
		f.mu.Unlock()
		return
	}
	old, oldV := f.o, f.v
	f.o, f.v = o, f.nextV
	f.next, f.nextV = nil, nil
	f.switches++
	oldV.Unsubscribe()
	st := oldV.Stats()
	f.base.Sent += st.Sent
	f.base.SentBytes += st.SentBytes
	f.base.Dropped += st.Dropped
	f.base.Skips += st.Skips
	f.base.WriteErrors += st.WriteErrors
	f.mu.Unlock()
	old.dropEstimate(f.id)
	f.d.releaseOutput(old)
}

func (f *feed) TakeControl() string  { return f.d.control.take(f.id) }
func (f *feed) ReleaseControl() bool { return f.d.control.drop(f.id) }
func (f *feed) Controller() bool     { return f.d.control.holder() == f.id }

func (f *feed) Input(ctx context.Context, msg rtc.InputMessage) error {
	if !f.d.control.allow(f.id) {
		return rtc.ErrNotController
	}
	return f.d.inject(ctx, msg)
}

func (f *feed) Stats() rtc.ViewerStats {
	f.mu.Lock()
	v, o, n, base := f.v, f.o, f.switches, f.base
	f.mu.Unlock()
	var s rtc.ViewerStats
	if v != nil {
		s = v.Stats()
	}
	// Counters go on across rung switches.
	s.Sent += base.Sent
	s.SentBytes += base.SentBytes
	s.Dropped += base.Dropped
	s.Skips += base.Skips
	s.WriteErrors += base.WriteErrors
	s.Codec, s.Rung, s.Switches = string(o.key.Codec), o.key.Rung, n
	return s
}

func (f *feed) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.cancelMoveLocked()
	if f.v != nil {
		f.v.Unsubscribe()
	}
}

func (f *feed) Close() {
	f.once.Do(func() {
		f.Stop()
		f.mu.Lock()
		v, o := f.v, f.o
		f.mu.Unlock()
		if v != nil {
			v.Close()
		}
		f.d.control.drop(f.id)
		o.dropEstimate(f.id)
		f.d.releaseOutput(o)
		f.leave()
	})
}

// switchWriter is a viewer's track, written by one subscription at a
// time: while the viewer moves between rungs, the old subscription writes
// until the new one's first sample (a keyframe), which flips it.
type switchWriter struct {
	w rtc.SampleWriter

	mu     sync.Mutex
	gen    uint64 // the subscription that writes
	latest uint64 // the newest subscription handed out
}

// nextGen returns the generation of a new subscription.
func (s *switchWriter) nextGen() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest++
	return s.latest
}

// writer returns the sample writer of subscription gen; its first sample
// makes it the one that writes, and runs flipped.
func (s *switchWriter) writer(gen uint64, flipped func()) rtc.SampleWriter {
	return genWriter{s, gen, flipped}
}

type genWriter struct {
	s       *switchWriter
	gen     uint64
	flipped func()
}

func (g genWriter) WriteSample(smp pionmedia.Sample) error {
	s := g.s
	s.mu.Lock()
	flip := false
	switch {
	case g.gen == s.gen:
	case g.gen > s.gen && g.gen == s.latest:
		s.gen, flip = g.gen, true // the new rung's keyframe: it takes over
	default:
		s.mu.Unlock()
		return nil // a subscription that lost the track
	}
	err := s.w.WriteSample(smp)
	s.mu.Unlock()
	if flip && g.flipped != nil {
		go g.flipped()
	}
	return err
}
