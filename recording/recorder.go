package recording

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// Source is where recordings get their devices' streams: the service
// adapts its device registry.
type Source interface {
	// Join joins a device for one viewer, the recording, named viewerID,
	// on the stream a viewer of codecs (best first) would get. It fails
	// as the registry does (media.ErrUnknownDevice, ...).
	Join(ctx context.Context, deviceID, viewerID string, codecs []media.Codec) (Feed, error)
	// Running reports whether the device still runs here: a recording
	// whose device stopped ends.
	Running(deviceID string) bool
}

// Feed is a recording's link to its device, a viewer's (device.Viewer).
type Feed interface {
	// Start begins writing the stream's units to w, from a keyframe.
	Start(w fanout.Writer) error
	// RequestKeyFrame asks the device for a keyframe.
	RequestKeyFrame()
	// Stop stops writing without waiting for the writer.
	Stop()
	// Close stops writing, waits for the writer and leaves the device.
	Close()
}

// Metrics receives the recordings' counters. Its methods must not block.
type Metrics interface {
	// Running sets the recordings running.
	Running(n int)
	// BytesWritten counts bytes written to a device's recordings.
	BytesWritten(deviceID string, n int64)
	// Failure counts a recording that failed, by reason (FailureReasons).
	Failure(reason string)
}

// Options configure a Recorder.
type Options struct {
	// Dir holds the recordings (RECORDINGS_DIR); it is created.
	Dir string
	// Segment is a segment's length (RECORDING_SEGMENT); default 5m.
	Segment time.Duration
	// MaxDuration ends a recording that long after it started
	// (RECORDING_MAX_DURATION); 0: no bound.
	MaxDuration time.Duration
	// MaxRecordings bounds the recordings running at once here
	// (MAX_RECORDINGS); 0: no bound.
	MaxRecordings int
	// MaxAge deletes the recordings that ended longer ago
	// (RECORDINGS_MAX_AGE); 0 keeps them.
	MaxAge time.Duration
	// RetentionInterval is how often MaxAge is applied; default MaxAge/24
	// within 1m..1h.
	RetentionInterval time.Duration
	// FlushInterval is how often a segment's fragment is cut and written
	// out, so that at most that much is lost in a crash; default 1s.
	FlushInterval time.Duration
	// JoinTimeout bounds the wait for the device at Start (its first
	// keyframe); default 20s.
	JoinTimeout time.Duration
	// Instance names this instance in the recordings (POD_NAME or the
	// host name): in a fleet, the one that wrote them serves them.
	Instance string
	// IDPrefix starts every recording ID (a fleet member's tag and "_",
	// so that any instance finds the writer).
	IDPrefix string
	// Source gives the recordings their devices.
	Source Source
	// Metrics, if set, receives the counters.
	Metrics Metrics
	// OnFailed, if set, is called once for each recording that failed
	// (Info.State StateFailed), outside any lock. It must not block.
	OnFailed func(Info)
	// Log receives the recorder's logs; default slog.Default().
	Log *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Segment <= 0 {
		o.Segment = 5 * time.Minute
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.JoinTimeout <= 0 {
		o.JoinTimeout = 20 * time.Second
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = min(max(o.MaxAge/24, time.Minute), time.Hour)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	return o
}

type noMetrics struct{}

func (noMetrics) Running(int)                {}
func (noMetrics) BytesWritten(string, int64) {}
func (noMetrics) Failure(string)             {}

// Recording states (Info.State).
const (
	StateRecording = "recording"
	StateFinished  = "finished"
	StateFailed    = "failed"
)

// Info describes a recording, as List gives it and recording.json keeps
// it.
type Info struct {
	ID       string `json:"id"`
	DeviceID string `json:"deviceId"`
	// Instance wrote it (Options.Instance).
	Instance string `json:"instance"`
	// Codec is the stream's, once its first segment started ("h264", or
	// "vp8").
	Codec string `json:"codec,omitempty"`
	// State is StateRecording, StateFinished or StateFailed.
	State string `json:"state"`
	// Reason says why it ended: ReasonStopped, ReasonMaxDuration,
	// ReasonShutdown, or a failure reason (FailureReasons,
	// ReasonInterrupted).
	Reason string `json:"reason,omitempty"`
	// Error is a failed recording's error.
	Error     string    `json:"error,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt,omitzero"`
	// StartedBy names who started it (the API caller's principal).
	StartedBy string    `json:"startedBy,omitempty"`
	Segments  []Segment `json:"segments"`
}

// Segment is one file of a recording.
type Segment struct {
	// Index counts the recording's segments from 1.
	Index int `json:"index"`
	// Name is the file's name in the recording's directory.
	Name string `json:"name"`
	// Bytes is the file's size (while written: what has reached it).
	Bytes int64 `json:"bytes"`
	// Duration is the media time written (while written: so far).
	Duration time.Duration `json:"duration"`
	// Width and Height are the picture's size.
	Width     int       `json:"width"`
	Height    int       `json:"height"`
	StartedAt time.Time `json:"startedAt"`
	// Open is set while the segment is written.
	Open bool `json:"open,omitempty"`
}

// Bytes sums the segments' sizes.
func (i Info) Bytes() int64 {
	var n int64
	for _, s := range i.Segments {
		n += s.Bytes
	}
	return n
}

// Duration sums the segments' durations.
func (i Info) Duration() time.Duration {
	var d time.Duration
	for _, s := range i.Segments {
		d += s.Duration
	}
	return d
}

// metaFile is a recording's description in its directory.
const metaFile = "recording.json"

// idPattern is what a recording ID looks like (the API checks it), and
// segmentName a segment file's name.
var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	segmentName = regexp.MustCompile(`^segment-[0-9]{4,}\.(mp4|webm)$`)
)

// ValidID reports whether id is well formed.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Recorder runs a service's recordings. Its methods are safe for
// concurrent use.
type Recorder struct {
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	all      map[string]*rec // by ID: running, ended and found at start
	running  map[string]*rec // by device ID
	starting map[string]bool // device IDs whose start is under way
	closed   bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New lists the recordings found in Options.Dir and starts the retention
// loop. The directory is created by the first recording (so that a
// service that never records leaves no directory behind); one that
// exists but cannot be read is an error, and the recorder still works:
// its recordings fail at start if the directory cannot be written.
func New(o Options) (*Recorder, error) {
	o = o.withDefaults()
	if o.Dir == "" {
		return nil, fmt.Errorf("%w: recording: no directory", media.ErrConfig)
	}
	if o.Source == nil {
		return nil, fmt.Errorf("%w: recording: no source", media.ErrConfig)
	}
	r := &Recorder{o: o, log: o.Log, all: map[string]*rec{}, running: map[string]*rec{}, starting: map[string]bool{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	err := r.load()
	o.Metrics.Running(0)
	if o.MaxAge > 0 {
		r.wg.Go(r.retentionLoop)
	}
	if err != nil {
		return r, storage(fmt.Errorf("recordings directory %s: %w", o.Dir, err))
	}
	return r, nil
}

// load lists the recordings found in Dir. One still recording was
// interrupted: it becomes failed, its segments' sizes read from their
// files.
func (r *Recorder) load() error {
	entries, err := os.ReadDir(r.o.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // created by the first recording
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || !ValidID(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(r.o.Dir, e.Name(), metaFile))
		if err != nil {
			continue
		}
		var info Info
		if err := json.Unmarshal(b, &info); err != nil || info.ID != e.Name() {
			r.log.Warn("recordings: unreadable description, left alone", "recording", e.Name(), "err", err)
			continue
		}
		// Only the files a recorder writes are ever served from it.
		info.Segments = slices.DeleteFunc(info.Segments, func(s Segment) bool { return !segmentName.MatchString(s.Name) })
		x := &rec{r: r, info: info, dir: filepath.Join(r.o.Dir, info.ID), done: true}
		if info.State == StateRecording {
			x.info.State, x.info.Reason = StateFailed, ReasonInterrupted
			x.info.Error = "the service stopped while recording (a crash or a kill): the segments hold what reached the disk"
			for i := range x.info.Segments {
				s := &x.info.Segments[i]
				if st, err := os.Stat(filepath.Join(x.dir, s.Name)); err == nil {
					s.Bytes = st.Size()
					if x.info.EndedAt.Before(st.ModTime()) {
						x.info.EndedAt = st.ModTime().UTC()
					}
				}
				s.Open = false
			}
			if x.info.EndedAt.IsZero() {
				x.info.EndedAt = x.info.StartedAt
			}
			x.writeMeta()
		}
		r.all[info.ID] = x
	}
	if len(r.all) > 0 {
		r.log.Info("recordings: found in the directory", "dir", r.o.Dir, "recordings", len(r.all))
	}
	return nil
}

// Dir returns the recordings' directory.
func (r *Recorder) Dir() string { return r.o.Dir }

// Start starts recording a device: it joins the device (waiting, within
// ctx and Options.JoinTimeout, for its stream) and returns the recording,
// which writes its first segment from the first keyframe. by names who
// asked, for the listing. It fails with ErrRunning when the device has a
// recording running here, ErrLimit over MaxRecordings, the Source's error
// when the device cannot be joined, and an ErrStorage when the
// recording's directory cannot be created (the recording is then listed,
// failed).
func (r *Recorder) Start(ctx context.Context, deviceID, by string) (Info, error) {
	if err := media.CheckDeviceID(deviceID); err != nil {
		return Info{}, err
	}
	if !native.Available {
		return Info{}, fmt.Errorf("%w: recording needs FFmpeg's muxers: %w", media.ErrUnavailable, native.ErrUnavailable)
	}
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return Info{}, ErrClosed
	case r.running[deviceID] != nil || r.starting[deviceID]:
		r.mu.Unlock()
		return Info{}, fmt.Errorf("%w: device %s", ErrRunning, deviceID)
	case r.o.MaxRecordings > 0 && len(r.running)+len(r.starting) >= r.o.MaxRecordings:
		r.mu.Unlock()
		return Info{}, fmt.Errorf("%w (%d running)", ErrLimit, r.o.MaxRecordings)
	}
	r.starting[deviceID] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.starting, deviceID)
		r.mu.Unlock()
	}()

	id := r.o.IDPrefix + newID()
	x := &rec{r: r, dir: filepath.Join(r.o.Dir, id), info: Info{ID: id, DeviceID: deviceID, Instance: r.o.Instance,
		State: StateRecording, StartedAt: time.Now().UTC(), StartedBy: by, Segments: []Segment{}}, stopped: make(chan struct{})}
	if err := os.MkdirAll(x.dir, 0o755); err != nil {
		err = storage(fmt.Errorf("create the recording's directory: %w", err))
		r.mu.Lock()
		r.all[id] = x
		r.mu.Unlock()
		x.finish(StateFailed, storageReason(err), err, false)
		return x.snapshot(), err
	}
	jctx, cancel := context.WithTimeout(ctx, r.o.JoinTimeout)
	feed, err := r.o.Source.Join(jctx, deviceID, "recording-"+id, []media.Codec{media.H264, media.VP8})
	cancel()
	if err != nil {
		os.RemoveAll(x.dir)
		return Info{}, err
	}
	x.feed = feed
	x.writeMeta()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		feed.Close()
		os.RemoveAll(x.dir)
		return Info{}, ErrClosed
	}
	r.all[id] = x
	r.running[deviceID] = x
	n := len(r.running)
	r.mu.Unlock()
	r.o.Metrics.Running(n)
	if err := feed.Start(x); err != nil {
		x.finish(StateFailed, ReasonDeviceGone, fmt.Errorf("start reading the device's stream: %w", err), false)
		return x.snapshot(), nil
	}
	r.wg.Go(x.monitor)
	r.log.Info("recording started", "recording", id, "device", deviceID, "by", by, "dir", x.dir)
	return x.snapshot(), nil
}

// newID returns 16 random hex digits.
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Stop ends the device's running recording and returns it as it ended;
// ErrNotFound when none runs here.
func (r *Recorder) Stop(deviceID string) (Info, error) {
	r.mu.Lock()
	x := r.running[deviceID]
	r.mu.Unlock()
	if x == nil {
		return Info{}, fmt.Errorf("%w: no recording of device %s runs here", ErrNotFound, deviceID)
	}
	x.stop(ReasonStopped)
	return x.snapshot(), nil
}

// Running returns the device's running recording, if any.
func (r *Recorder) Running(deviceID string) (Info, bool) {
	r.mu.Lock()
	x := r.running[deviceID]
	r.mu.Unlock()
	if x == nil {
		return Info{}, false
	}
	return x.snapshot(), true
}

// List returns every recording here, oldest first.
func (r *Recorder) List() []Info {
	r.mu.Lock()
	recs := make([]*rec, 0, len(r.all))
	for _, x := range r.all {
		recs = append(recs, x)
	}
	r.mu.Unlock()
	out := make([]Info, 0, len(recs))
	for _, x := range recs {
		out = append(out, x.snapshot())
	}
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Get returns one recording.
func (r *Recorder) Get(id string) (Info, error) {
	r.mu.Lock()
	x := r.all[id]
	r.mu.Unlock()
	if x == nil {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return x.snapshot(), nil
}

// SegmentFile returns the path of a recording's segment n (from 1) and
// the segment. An open segment can be read: it holds the fragments
// written so far.
func (r *Recorder) SegmentFile(id string, n int) (string, Segment, error) {
	info, err := r.Get(id)
	if err != nil {
		return "", Segment{}, err
	}
	for _, s := range info.Segments {
		if s.Index == n {
			return filepath.Join(r.o.Dir, id, s.Name), s, nil
		}
	}
	return "", Segment{}, fmt.Errorf("%w: recording %s has no segment %d", ErrNotFound, id, n)
}

// Delete deletes a recording and its files, stopping it first when it
// runs.
func (r *Recorder) Delete(id string) error {
	r.mu.Lock()
	x := r.all[id]
	r.mu.Unlock()
	if x == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	x.stop(ReasonStopped)
	return r.remove(x)
}

// remove deletes an ended recording's files and forgets it.
func (r *Recorder) remove(x *rec) error {
	if err := os.RemoveAll(x.dir); err != nil {
		return storage(fmt.Errorf("delete recording %s: %w", x.info.ID, err))
	}
	r.mu.Lock()
	if r.all[x.info.ID] == x {
		delete(r.all, x.info.ID)
	}
	r.mu.Unlock()
	r.log.Info("recording deleted", "recording", x.info.ID, "device", x.info.DeviceID)
	return nil
}

// retentionLoop deletes the recordings that ended over MaxAge ago.
func (r *Recorder) retentionLoop() {
	t := time.NewTicker(r.o.RetentionInterval)
	defer t.Stop()
	for {
		r.expire(time.Now())
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// expire deletes the recordings that ended before now - MaxAge.
func (r *Recorder) expire(now time.Time) {
	cutoff := now.Add(-r.o.MaxAge)
	for _, info := range r.List() {
		if info.State == StateRecording || info.EndedAt.IsZero() || !info.EndedAt.Before(cutoff) {
			continue
		}
		r.mu.Lock()
		x := r.all[info.ID]
		r.mu.Unlock()
		if x == nil {
			continue
		}
		if err := r.remove(x); err != nil {
			r.log.Warn("recordings: retention could not delete a recording", "recording", info.ID, "err", err)
			continue
		}
		r.log.Info("recordings: deleted after RECORDINGS_MAX_AGE", "recording", info.ID, "ended", info.EndedAt, "max_age", r.o.MaxAge)
	}
}

// ended forgets a running recording.
func (r *Recorder) ended(x *rec) {
	r.mu.Lock()
	if r.running[x.info.DeviceID] == x {
		delete(r.running, x.info.DeviceID)
	}
	n := len(r.running)
	r.mu.Unlock()
	r.o.Metrics.Running(n)
}

// Close ends every running recording (ReasonShutdown), finishing their
// files, and stops the retention loop. Starts fail from then on.
func (r *Recorder) Close() error {
	r.mu.Lock()
	r.closed = true
	var running []*rec
	for _, x := range r.running {
		running = append(running, x)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, x := range running {
		wg.Go(func() { x.stop(ReasonShutdown) })
	}
	wg.Wait()
	r.cancel()
	r.wg.Wait()
	return nil
}

// errorString is err's message, or "".
func errorString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
