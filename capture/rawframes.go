package capture

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

// maxFrameRate bounds a FrameRate option.
const maxFrameRate = media.MaxFrameRate

// RawFramesOptions configures a raw-frames source.
type RawFramesOptions struct {
	// Size is the size screenrecord scales to (--size), fixed. Zero follows
	// the device: each screenrecord starts at the size of the picture the
	// display shows then (its size, turned: adb.Client.PictureSize), and a
	// change of that size while it runs restarts it at the new one. Frames
	// are cropped to even sizes.
	Size media.Size
	// FrameRate caps the frames delivered per second; 0 delivers every
	// frame the device sends. A frame that arrives before its slot waits
	// for it, and a newer frame replaces it (the older is released and
	// counted in SourceStats.Paced): the newest wins and nothing queues.
	FrameRate int
	// SizeCheckInterval is how often the device's picture size is checked
	// while screenrecord runs (Size zero only). Default
	// DefaultSizeCheckInterval; negative turns the check off.
	SizeCheckInterval time.Duration
	// TimeLimit and Lead work as for screenrecord.
	TimeLimit, Lead time.Duration
	// PoolFrames bounds the frames in flight; default 4.
	PoolFrames int
	// OnSize, if set, is told the frames' size before the first frame and
	// before the first frame of each new size, on the goroutine that calls
	// emit: the device's owner re-reads the geometry for input and reopens
	// its encoder there.
	OnSize  func(media.Size)
	Log     *slog.Logger
	OnError func(error)
}

// RawFramesSource reads `screenrecord --output-format=raw-frames`: RGB888
// pictures, top row first, with no header, which it converts into pooled
// YUV420P frames for an encoder on this host. It serves devices whose
// hardware encoder does not work (some Redroid images).
type RawFramesSource struct {
	client *adb.Client
	serial string
	opts   RawFramesOptions
	sup    *supervisor[*native.Frame]
	clk    clock
	sizeOf func(context.Context) (media.Size, error) // the picture's size now

	mu      sync.Mutex
	pool    *sizedPool // the pool of the latest generation's size
	emitted media.Size // the size of the last frame delivered
	started time.Time
	lastPTS time.Duration

	frames, dropped, paced atomic.Int64
}

// sizedPool is a frame pool for one size of the device's frames, shared
// by the generations of that size.
type sizedPool struct {
	*native.FramePool
	size  media.Size // the device's frames, before cropping
	users int        // generations using it
}

// NewRawFramesSource returns a raw-frames source for the device.
func NewRawFramesSource(c *adb.Client, serial string, o RawFramesOptions) (*RawFramesSource, error) {
	if err := adb.ValidSerial(serial); err != nil {
		return nil, err
	}
	if o.Size != (media.Size{}) {
		if err := o.Size.Validate(); err != nil {
			return nil, err
		}
	}
	if o.TimeLimit == 0 {
		o.TimeLimit = maxTimeLimit
	}
	if o.Lead == 0 {
		o.Lead = min(3*time.Second, o.TimeLimit/3)
	}
	if o.TimeLimit < time.Second || o.TimeLimit > maxTimeLimit || o.TimeLimit%time.Second != 0 || o.Lead >= o.TimeLimit {
		return nil, fmt.Errorf("%w: time limit %s, lead %s", media.ErrInvalidArgument, o.TimeLimit, o.Lead)
	}
	if o.FrameRate < 0 || o.FrameRate > maxFrameRate {
		return nil, fmt.Errorf("%w: frame rate %d (want 0..%d)", media.ErrInvalidArgument, o.FrameRate, maxFrameRate)
	}
	o.SizeCheckInterval = sizeCheckInterval(o.SizeCheckInterval)
	if o.PoolFrames <= 0 {
		o.PoolFrames = 4
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &RawFramesSource{client: c, serial: serial, opts: o, lastPTS: -1, clk: wallClock{},
		sizeOf: pictureSize(c.PictureSize, serial)}
	s.sup = newSupervisor(supervisorConfig[*native.Frame]{
		log:      o.Log.With("device", serial, "source", "raw-frames"),
		run:      s.runOnce,
		release:  func(f *native.Frame) { f.Release() },
		lifetime: o.TimeLimit,
		lead:     o.Lead,
		onError:  o.OnError,
	})
	return s, nil
}

// follows reports whether the source follows the device's size.
func (s *RawFramesSource) follows() bool { return s.opts.Size == (media.Size{}) }

// acquirePool returns the pool for frames of size, creating it (and
// making it the current one) when the current pool is of another size.
func (s *RawFramesSource) acquirePool(size media.Size) (*sizedPool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pool; p != nil && p.size == size {
		p.users++
		return p, nil
	}
	fp, err := native.NewFramePool(max(size.Width&^1, 2), max(size.Height&^1, 2), native.PixelFormatYUV420P, s.opts.PoolFrames)
	if err != nil {
		return nil, err
	}
	old := s.pool
	s.pool = &sizedPool{FramePool: fp, size: size, users: 1}
	if old != nil && old.users == 0 {
		old.Close()
	}
	return s.pool, nil
}

// releasePool gives up a generation's use of p; an unused pool that is no
// longer current is closed (frames still out are freed when released).
func (s *RawFramesSource) releasePool(p *sizedPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.users--
	if p.users == 0 && p != s.pool {
		p.Close()
	}
}

func (s *RawFramesSource) runOnce(ctx context.Context, send func(*native.Frame, bool, time.Time) error) error {
	size := s.opts.Size
	if s.follows() {
		var err error
		if size, err = s.sizeOf(ctx); err != nil {
			return err
		}
	}
	pool, err := s.acquirePool(size)
	if err != nil {
		return err
	}
	defer s.releasePool(pool)
	st, err := s.client.Exec(ctx, s.serial, "screenrecord", "--output-format=raw-frames",
		"--size", size.String(), "--time-limit", strconv.Itoa(int(s.opts.TimeLimit/time.Second)), "-")
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	defer st.Close()
	if s.follows() && s.opts.SizeCheckInterval > 0 {
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		wg.Go(func() {
			watchSize(wctx, s.clk, s.opts.SizeCheckInterval, size, s.sizeOf, s.sup.cfg.log,
				func(media.Size) { s.sup.requestRestart() })
		})
	}
	stride := size.Width * 3
	buf := make([]byte, stride*size.Height)
	for {
		if _, err := io.ReadFull(st, buf); err != nil {
			if ctx.Err() != nil || err == io.EOF {
				return nil
			}
			return fmt.Errorf("read raw frame: %w", err)
		}
		at := time.Now()
		f, err := pool.Get()
		if err != nil {
			s.dropped.Add(1) // the consumer holds every frame: skip this one
			continue
		}
		if err := f.WritePacked(buf, pool.Width(), pool.Height(), stride, native.PixelFormatRGB24); err != nil {
			f.Release()
			return err
		}
		if err := send(f, true, at); err != nil {
			f.Release()
			return nil
		}
	}
}

// Run captures until ctx ends. emit takes ownership of each frame (hand it
// to an encoder, or Release it). It returns ctx's error, or the first
// error emit returns. Capture failures (a vanished device) go to OnError,
// and capture retries with backoff.
func (s *RawFramesSource) Run(ctx context.Context, emit func(*native.Frame) error) error {
	s.mu.Lock()
	s.started = time.Now()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.pool != nil && s.pool.users == 0 {
			s.pool.Close()
		}
		s.mu.Unlock()
	}()
	stamp := func(f *native.Frame, at time.Time) {
		pts := at.Sub(s.started)
		if pts <= s.lastPTS {
			pts = s.lastPTS + time.Microsecond
		}
		s.lastPTS = pts
		f.PTS = pts
	}
	deliver := func(f *native.Frame) error {
		if size := (media.Size{Width: f.Width(), Height: f.Height()}); size != s.emitted {
			s.mu.Lock()
			s.emitted = size
			s.mu.Unlock()
			if s.opts.OnSize != nil {
				s.opts.OnSize(size)
			}
		}
		s.frames.Add(1)
		return emit(f)
	}
	if s.opts.FrameRate == 0 {
		return s.sup.loop(ctx, func(f *native.Frame, at time.Time) error {
			stamp(f, at)
			return deliver(f)
		})
	}
	p := newPacerInterval(capInterval(s.opts.FrameRate), s.clk, func(f *native.Frame) { f.Release() }, &s.paced)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	perr := make(chan error, 1)
	go func() {
		err := p.run(ctx, deliver)
		cancel() // emit failed: stop capturing
		perr <- err
	}()
	err := s.sup.loop(ctx, func(f *native.Frame, at time.Time) error {
		stamp(f, at)
		p.offer(f)
		return nil
	})
	cancel()
	if e := <-perr; e != nil {
		return e
	}
	return err
}

// Kick tells the source that its device is back, as
// ScreenrecordSource.Kick does: a source waiting to retry starts
// screenrecord now, with its back-off reset. It never blocks.
func (s *RawFramesSource) Kick() { s.sup.kickNow() }

// Size returns the size of the frames delivered last (even), or before
// the first one, of the frames the running screenrecord sends.
func (s *RawFramesSource) Size() media.Size {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.emitted != (media.Size{}) {
		return s.emitted
	}
	if s.pool == nil {
		return media.Size{}
	}
	return media.Size{Width: s.pool.Width(), Height: s.pool.Height()}
}

// Stats returns the source's counters; Units counts frames delivered,
// Dropped the frames skipped because the consumer held every pooled
// frame, and Paced the frames that FrameRate replaced by newer ones.
func (s *RawFramesSource) Stats() SourceStats {
	return SourceStats{Units: s.frames.Load(), Restarts: s.sup.restarts.Load(),
		Dropped: s.dropped.Load(), Paced: s.paced.Load()}
}

// Dropped returns how many frames were skipped because the consumer held
// every pooled frame.
func (s *RawFramesSource) Dropped() int64 { return s.dropped.Load() }
