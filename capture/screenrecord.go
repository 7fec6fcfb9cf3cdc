package capture

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/capture/annexb"
)

// Sample is one H.264 access unit from a device.
type Sample struct {
	// Data is the access unit in Annex-B form. Emit callbacks get a slice
	// they may keep (each sample has its own).
	Data     []byte
	KeyFrame bool
	// PTS is the time since the source started, strictly increasing across
	// screenrecord restarts.
	PTS time.Duration
	// Captured is when the unit's last byte arrived from the device.
	Captured time.Time
}

// StreamInfo describes the H.264 stream, from its latest SPS.
type StreamInfo struct {
	Width, Height  int
	ProfileLevelID string // e.g. "42e01f", for SDP
}

// ScreenrecordOptions configures a screenrecord source. Zero values take
// the defaults given.
type ScreenrecordOptions struct {
	// Size asks screenrecord to scale (--size), fixed. Zero follows the
	// device: each screenrecord starts at the size of the picture the
	// display shows then, and a change of that size while it runs (a
	// rotation) restarts it, so that the stream's SPS carries the new size.
	Size media.Size
	// SizeCheckInterval is how often the device's picture size is checked
	// while screenrecord runs (Size zero only). Default
	// DefaultSizeCheckInterval; negative turns the check off.
	SizeCheckInterval time.Duration
	// OnSize, if set, is told the stream's size (from its SPS) before the
	// first access unit and before the first access unit of each new
	// size, on the goroutine that calls emit.
	OnSize func(media.Size)
	// BitRate is screenrecord's --bit-rate in bits/s. Default 4,000,000.
	BitRate int
	// TimeLimit is screenrecord's --time-limit. Default and maximum 180 s,
	// screenrecord's own.
	TimeLimit time.Duration
	// Lead is how long before the time limit the replacement screenrecord
	// starts. Default 3 s (at most a third of TimeLimit).
	Lead time.Duration
	// Idle is how long the stream must be quiet before the framer
	// delivers an access unit whose end it cannot see yet. Default 1 ms.
	Idle time.Duration
	// Log receives the source's logs; default slog.Default().
	Log *slog.Logger
	// OnError is told of each capture failure as it happens (a device that
	// vanished, a command that failed); the source keeps retrying.
	OnError func(error)
}

const (
	maxTimeLimit = 180 * time.Second
	minBitRate   = 100_000
	maxBitRate   = 200_000_000
)

func (o ScreenrecordOptions) withDefaults() ScreenrecordOptions {
	if o.BitRate == 0 {
		o.BitRate = 4_000_000
	}
	if o.TimeLimit == 0 {
		o.TimeLimit = maxTimeLimit
	}
	if o.Lead == 0 {
		o.Lead = min(3*time.Second, o.TimeLimit/3)
	}
	if o.Idle == 0 {
		o.Idle = time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	o.SizeCheckInterval = sizeCheckInterval(o.SizeCheckInterval)
	return o
}

func (o ScreenrecordOptions) validate() error {
	if o.Size != (media.Size{}) {
		if err := o.Size.Validate(); err != nil {
			return err
		}
	}
	if o.BitRate < minBitRate || o.BitRate > maxBitRate {
		return fmt.Errorf("%w: bit rate %d (want %d..%d)", media.ErrInvalidArgument, o.BitRate, minBitRate, maxBitRate)
	}
	if o.TimeLimit < time.Second || o.TimeLimit > maxTimeLimit || o.TimeLimit%time.Second != 0 {
		return fmt.Errorf("%w: time limit %s (want whole seconds, 1s..180s)", media.ErrInvalidArgument, o.TimeLimit)
	}
	if o.Lead < 0 || o.Lead >= o.TimeLimit {
		return fmt.Errorf("%w: lead %s (want less than the time limit)", media.ErrInvalidArgument, o.Lead)
	}
	return nil
}

// ScreenrecordSource streams a device's own H.264 from `screenrecord
// --output-format=h264`, framed into access units, with no re-encoding.
type ScreenrecordSource struct {
	client *adb.Client
	serial string
	opts   ScreenrecordOptions
	sup    *supervisor[Sample]
	clk    clock
	sizeOf func(context.Context) (media.Size, error) // the picture's size now

	mu      sync.Mutex
	info    StreamInfo
	told    media.Size // the size OnSize was told last
	key     Sample     // the latest SPS/PPS + IDR, for consumers that join
	lastPTS time.Duration
	started time.Time

	units, bytes, keyRequests atomic.Int64
}

// NewScreenrecordSource returns a source for the device; it validates the
// serial and options before anything reaches adb.
func NewScreenrecordSource(c *adb.Client, serial string, o ScreenrecordOptions) (*ScreenrecordSource, error) {
	if err := adb.ValidSerial(serial); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &ScreenrecordSource{client: c, serial: serial, opts: o, lastPTS: -1, clk: wallClock{},
		sizeOf: pictureSize(c.PictureSize, serial)}
	s.sup = newSupervisor(supervisorConfig[Sample]{
		log:      o.Log.With("device", serial, "source", "screenrecord"),
		run:      s.runOnce,
		release:  func(Sample) {},
		lifetime: o.TimeLimit,
		lead:     o.Lead,
		onError:  o.OnError,
	})
	return s, nil
}

// args is the screenrecord command line.
func (s *ScreenrecordSource) args() []string {
	a := []string{"--output-format=h264", "--bit-rate", strconv.Itoa(s.opts.BitRate),
		"--time-limit", strconv.Itoa(int(s.opts.TimeLimit / time.Second))}
	if s.opts.Size != (media.Size{}) {
		a = append(a, "--size", s.opts.Size.String())
	}
	return append(a, "-")
}

// follows reports whether the source follows the device's size.
func (s *ScreenrecordSource) follows() bool {
	return s.opts.Size == (media.Size{}) && s.opts.SizeCheckInterval > 0
}

// runOnce runs one screenrecord until it ends.
func (s *ScreenrecordSource) runOnce(ctx context.Context, send func(Sample, bool, time.Time) error) error {
	// The size is read before screenrecord starts: a turn in between costs
	// one needless restart, never a missed one.
	var size media.Size
	if s.follows() {
		var err error
		if size, err = s.sizeOf(ctx); err != nil {
			return err
		}
	}
	st, err := s.client.Exec(ctx, s.serial, "screenrecord", s.args()...)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	defer st.Close()
	if s.follows() {
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		wg.Go(func() {
			watchSize(wctx, s.clk, s.opts.SizeCheckInterval, size, s.sizeOf, s.sup.cfg.log,
				func(media.Size) { s.sup.requestRestart() })
		})
	}
	err = annexb.Stream(st, s.opts.Idle, annexb.Options{}, func(au annexb.AccessUnit) error {
		smp := Sample{Data: bytes.Clone(au.Data), KeyFrame: au.KeyFrame, Captured: au.Arrival}
		return send(smp, au.KeyFrame && au.HasParams, au.Arrival)
	})
	if ctx.Err() != nil {
		return nil // stopped on purpose
	}
	return err
}

// Run captures until ctx ends, calling emit for each access unit in order.
// It returns ctx's error, or the first error emit returns.
func (s *ScreenrecordSource) Run(ctx context.Context, emit func(Sample) error) error {
	s.mu.Lock()
	s.started = time.Now()
	s.mu.Unlock()
	return s.sup.loop(ctx, func(smp Sample, at time.Time) error {
		s.mu.Lock()
		pts := at.Sub(s.started)
		if pts <= s.lastPTS {
			pts = s.lastPTS + time.Microsecond
		}
		s.lastPTS = pts
		smp.PTS = pts
		if smp.KeyFrame {
			s.noteKeyFrame(smp)
		}
		size := media.Size{Width: s.info.Width, Height: s.info.Height}
		tell := size != s.told && size != (media.Size{})
		s.told = size
		s.mu.Unlock()
		if tell && s.opts.OnSize != nil {
			s.opts.OnSize(size)
		}
		s.units.Add(1)
		s.bytes.Add(int64(len(smp.Data)))
		return emit(smp)
	})
}

// noteKeyFrame caches a keyframe and reads the stream's size and profile
// from its SPS. Callers hold mu.
func (s *ScreenrecordSource) noteKeyFrame(smp Sample) {
	hasSPS := false
	for nal := range annexb.NALUnits(smp.Data) {
		if annexb.NALType(nal) != annexb.NALSPS {
			continue
		}
		hasSPS = true
		if sps, err := annexb.ParseSPS(nal); err == nil {
			s.info = StreamInfo{Width: sps.Width, Height: sps.Height, ProfileLevelID: sps.ProfileLevelID()}
		}
	}
	if hasSPS {
		s.key = smp
	}
}

// KeyFrame returns the latest keyframe with its SPS and PPS, so that a new
// consumer can start at once even when the screen is still.
func (s *ScreenrecordSource) KeyFrame() (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key, s.key.Data != nil
}

// Info returns the stream's size and profile, known after the first
// keyframe.
func (s *ScreenrecordSource) Info() StreamInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// RequestKeyFrame asks for a fresh IDR. screenrecord cannot be asked for
// one, so the source restarts it and switches over at the new stream's
// first IDR; a request while a restart is under way is merged into it. It
// never blocks. The caller rate-limits requests (a restart costs the
// device a new encoder session).
func (s *ScreenrecordSource) RequestKeyFrame() {
	s.keyRequests.Add(1)
	s.sup.requestKeyFrame()
}

// Kick tells the source that its device is back (listed again by the adb
// server, reconnected, or the adb server answers again): the retry
// back-off starts again from its shortest delay, and a source waiting to
// retry starts screenrecord now. A running stream is left alone. It never
// blocks.
func (s *ScreenrecordSource) Kick() { s.sup.kickNow() }

// SourceStats are a source's counters.
type SourceStats struct {
	Units, Bytes, Restarts, KeyFrameRequests int64
	// Dropped counts frames skipped because the consumer held every pooled
	// frame (raw-frames).
	Dropped int64
	// Paced counts frames that a FrameRate cap dropped for newer ones
	// (raw-frames).
	Paced int64
}

// Stats returns the source's counters.
func (s *ScreenrecordSource) Stats() SourceStats {
	return SourceStats{Units: s.units.Load(), Bytes: s.bytes.Load(), Restarts: s.sup.restarts.Load(), KeyFrameRequests: s.keyRequests.Load()}
}
