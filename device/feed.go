package device

import (
	"context"
	"sync"

	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/rtc"
)

// feed is one viewer's link to its device: rtc.Feed.
type feed struct {
	d     *Device
	o     *output
	id    string
	leave func() // drops the viewer's reference to the device

	mu     sync.Mutex
	v      *rtc.Viewer
	closed bool
	once   sync.Once
}

var _ rtc.Feed = (*feed)(nil)

func (f *feed) Format() media.Format {
	fm, _ := f.o.formatNow()
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
	v, err := f.o.b.Subscribe(f.id, w)
	if err != nil {
		return err
	}
	f.v = v
	return nil
}

func (f *feed) RequestKeyFrame()     { f.o.kf.request() }
func (f *feed) SetEstimate(bps int)  { f.o.setEstimate(f.id, bps) }
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
	v := f.v
	f.mu.Unlock()
	if v == nil {
		return rtc.ViewerStats{}
	}
	return v.Stats()
}

func (f *feed) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.v != nil {
		f.v.Unsubscribe()
	}
}

func (f *feed) Close() {
	f.once.Do(func() {
		f.Stop()
		f.mu.Lock()
		v := f.v
		f.mu.Unlock()
		if v != nil {
			v.Close()
		}
		f.d.control.drop(f.id)
		f.o.dropEstimate(f.id)
		f.leave()
	})
}
