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

// RawFramesOptions configures a raw-frames source.
type RawFramesOptions struct {
	// media.Size is the size screenrecord scales to (--size); zero reads the
	// device's size with "wm size". Frames are cropped to even sizes.
	Size media.Size
	// TimeLimit and Lead work as for screenrecord.
	TimeLimit, Lead time.Duration
	// PoolFrames bounds the frames in flight; default 4.
	PoolFrames int
	Log        *slog.Logger
	OnError    func(error)
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

	mu      sync.Mutex
	size    media.Size // the device's frames, before cropping
	pool    *native.FramePool
	started time.Time
	lastPTS time.Duration

	frames, dropped atomic.Int64
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
	if o.PoolFrames <= 0 {
		o.PoolFrames = 4
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &RawFramesSource{client: c, serial: serial, opts: o, lastPTS: -1}
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

func (s *RawFramesSource) runOnce(ctx context.Context, send func(*native.Frame, bool, time.Time) error) error {
	s.mu.Lock()
	size, pool := s.size, s.pool
	s.mu.Unlock()
	st, err := s.client.Exec(ctx, s.serial, "screenrecord", "--output-format=raw-frames",
		"--size", size.String(), "--time-limit", strconv.Itoa(int(s.opts.TimeLimit/time.Second)), "-")
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	defer st.Close()
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
// to an encoder, or Release it).
func (s *RawFramesSource) Run(ctx context.Context, emit func(*native.Frame) error) error {
	size := s.opts.Size
	if size == (media.Size{}) {
		var err error
		if size, err = s.client.DeviceSize(ctx, s.serial); err != nil {
			return err
		}
	}
	pool, err := native.NewFramePool(max(size.Width&^1, 2), max(size.Height&^1, 2), native.PixelFormatYUV420P, s.opts.PoolFrames)
	if err != nil {
		return err
	}
	defer pool.Close()
	s.mu.Lock()
	s.size, s.pool, s.started = size, pool, time.Now()
	s.mu.Unlock()
	return s.sup.loop(ctx, func(f *native.Frame, at time.Time) error {
		pts := at.Sub(s.started)
		if pts <= s.lastPTS {
			pts = s.lastPTS + time.Microsecond
		}
		s.lastPTS = pts
		f.PTS = pts
		s.frames.Add(1)
		return emit(f)
	})
}

// media.Size returns the frames' size (even), known once Run has started.
func (s *RawFramesSource) Size() media.Size {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool == nil {
		return media.Size{}
	}
	return media.Size{Width: s.pool.Width(), Height: s.pool.Height()}
}

// Stats returns the source's counters; Units counts frames delivered.
func (s *RawFramesSource) Stats() SourceStats {
	return SourceStats{Units: s.frames.Load(), Restarts: s.sup.restarts.Load()}
}

// Dropped returns how many frames were skipped because the consumer held
// every pooled frame.
func (s *RawFramesSource) Dropped() int64 { return s.dropped.Load() }
