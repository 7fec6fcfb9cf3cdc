package recording

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	native.SetLogger(slog.New(slog.DiscardHandler)) // devicesim's encoders
	goleak.VerifyTestMain(m)
}

// TestSegments: segments start at keyframes, every Segment of stream
// time, and at a new size (a rotation: a new SPS); a restart of the
// encoder with the same SPS and PPS goes on in the same segment. Each
// file plays in ffprobe, with its size and duration, and the listing
// and the byte counter agree with the files.
func TestSegments(t *testing.T) {
	const dev = "dev1"
	src := &fakeSource{}
	r, m := newTestRecorder(t, Options{Source: src, Segment: time.Second, Instance: "test-0", IDPrefix: "abcd_"})
	// 2 s portrait, keyframes every 0.5 s; then 0.5 s landscape
	// (rotated); then 0.5 s landscape again from a new encoder (a
	// screenrecord restart, same parameters).
	a := clip(t, native.CodecX264, 240, 320, 60, 15, 0)
	b := clip(t, native.CodecX264, 320, 240, 15, 15, 2*time.Second)
	c := clip(t, native.CodecX264, 320, 240, 15, 15, 2500*time.Millisecond)

	info, err := r.Start(context.Background(), dev, "token:alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.ID, "abcd_") || info.State != StateRecording || info.Instance != "test-0" || info.StartedBy != "token:alice" {
		t.Fatalf("started: %+v", info)
	}
	if _, err := r.Start(context.Background(), dev, ""); !errors.Is(err, ErrRunning) {
		t.Fatalf("second start: %v, want ErrRunning", err)
	}
	f := src.feed(t, dev)
	f.write(a)
	f.write(b)
	f.write(c)
	if running, _, _ := m.get(); running != 1 {
		t.Fatalf("running gauge %d", running)
	}
	got, err := r.Stop(dev)
	if err != nil {
		t.Fatal(err)
	}
	if !f.closed.Load() {
		t.Fatal("the feed was not closed: the recording still holds the device")
	}
	if got.State != StateFinished || got.Reason != ReasonStopped || got.EndedAt.IsZero() || got.Codec != "h264" {
		t.Fatalf("stopped: %+v", got)
	}
	// 0-1 s, 1-2 s portrait; 2-3 s landscape, the restart included.
	want := []struct {
		w, h int
		d    time.Duration
	}{{240, 320, time.Second}, {240, 320, time.Second}, {320, 240, time.Second}}
	if len(got.Segments) != len(want) {
		t.Fatalf("%d segments, want %d: %+v", len(got.Segments), len(want), got.Segments)
	}
	var total int64
	for i, s := range got.Segments {
		path, seg, err := r.SegmentFile(got.ID, s.Index)
		if err != nil || seg.Name != s.Name {
			t.Fatal(err)
		}
		p := ffprobe(t, path)
		st, _ := os.Stat(path)
		if s.Bytes != st.Size() || s.Open {
			t.Errorf("segment %d: listed %d bytes (open %v), file %d", s.Index, s.Bytes, s.Open, st.Size())
		}
		total += s.Bytes
		if p.Streams[0].CodecName != "h264" || p.Streams[0].Width != want[i].w || p.Streams[0].Height != want[i].h {
			t.Errorf("segment %d: %+v, want %dx%d", s.Index, p.Streams[0], want[i].w, want[i].h)
		}
		if d := p.duration(); d < want[i].d-100*time.Millisecond || d > want[i].d+100*time.Millisecond {
			t.Errorf("segment %d: ffprobe duration %s, want %s", s.Index, d, want[i].d)
		}
		if d := s.Duration; d < want[i].d-100*time.Millisecond || d > want[i].d+100*time.Millisecond {
			t.Errorf("segment %d: listed duration %s, want %s", s.Index, d, want[i].d)
		}
		if s.Width != want[i].w || s.Height != want[i].h {
			t.Errorf("segment %d: listed %dx%d", s.Index, s.Width, s.Height)
		}
		decodeClean(t, path)
	}
	if running, bytes, fails := m.get(); running != 0 || bytes[dev] != total || len(fails) != 0 {
		t.Fatalf("metrics: running %d, bytes %v (files %d), failures %v", running, bytes, total, fails)
	}
	// The description on disk is the listing's.
	var onDisk Info
	b2, err := os.ReadFile(filepath.Join(r.Dir(), got.ID, metaFile))
	if err != nil || json.Unmarshal(b2, &onDisk) != nil || onDisk.State != StateFinished || len(onDisk.Segments) != 3 {
		t.Fatalf("recording.json: %v %s", err, b2)
	}
	if l := r.List(); len(l) != 1 || l[0].ID != got.ID {
		t.Fatalf("list: %+v", l)
	}
	if _, err := r.Stop(dev); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stop without a recording: %v", err)
	}
	if _, _, err := r.SegmentFile(got.ID, 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("segment 9: %v", err)
	}
}

// TestSegmentAsksForKeyFrame: a segment that is due to end asks the
// device for a keyframe (a long GOP, as screenrecord's), and ends at it.
func TestSegmentAsksForKeyFrame(t *testing.T) {
	src := &fakeSource{}
	r, _ := newTestRecorder(t, Options{Source: src, Segment: 500 * time.Millisecond})
	units := clip(t, native.CodecX264, 160, 120, 45, 1000, 0)
	more := clip(t, native.CodecX264, 160, 120, 15, 1000, 1500*time.Millisecond)
	if _, err := r.Start(context.Background(), "dev", ""); err != nil {
		t.Fatal(err)
	}
	f := src.feed(t, "dev")
	f.write(units)
	if n := f.keyReqs.Load(); n != 1 {
		t.Fatalf("%d keyframe requests, want 1", n)
	}
	f.write(more) // the keyframe asked for
	info, _ := r.Stop("dev")
	if len(info.Segments) != 2 || info.Segments[0].Duration < 1400*time.Millisecond {
		t.Fatalf("segments %+v", info.Segments)
	}
}

// TestDiskFull: a segment that cannot be written (ENOSPC: /dev/full in
// its place) fails that recording: state failed with the error, the
// failure counted and reported once, the device left; the segments
// before it play.
func TestDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	src := &fakeSource{}
	failed := make(chan Info, 2)
	r, m := newTestRecorder(t, Options{Source: src, Segment: time.Second, OnFailed: func(i Info) { failed <- i }})
	units := clip(t, native.CodecX264, 160, 120, 90, 15, 0)
	info, err := r.Start(context.Background(), "dev", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/full", filepath.Join(r.Dir(), info.ID, "segment-0002.mp4")); err != nil {
		t.Fatal(err)
	}
	f := src.feed(t, "dev")
	f.write(units)
	var got Info
	select {
	case got = <-failed:
	case <-time.After(10 * time.Second):
		t.Fatal("no failure reported")
	}
	if got.State != StateFailed || got.Reason != ReasonDiskFull || !strings.Contains(got.Error, "no space left on device") {
		t.Fatalf("failed: %+v", got)
	}
	testutil.Eventually(t, "the device left", 5*time.Second, f.closed.Load)
	if f.errs.Load() == 0 {
		t.Fatal("the writer took units after the failure")
	}
	if _, _, fails := m.get(); fails[ReasonDiskFull] != 1 {
		t.Fatalf("failures %v", fails)
	}
	if _, ok := r.Running("dev"); ok {
		t.Fatal("still running")
	}
	path, _, err := r.SegmentFile(got.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	decodeClean(t, path)
	select {
	case i := <-failed:
		t.Fatalf("reported twice: %+v", i)
	default:
	}
	// The device may be recorded again.
	if _, err := r.Start(context.Background(), "dev", ""); err != nil {
		t.Fatal(err)
	}
}

// TestUnwritableDirectory: a recordings directory that cannot be written
// fails the start with a clear error, counted and reported; the
// recording is listed, failed.
func TestUnwritableDirectory(t *testing.T) {
	if !native.Available {
		t.Skip("built without cgo")
	}
	base := t.TempDir()
	dir := filepath.Join(base, "recordings")
	if isRoot() {
		// Root writes through any mode: a file where the directory's
		// parent should be.
		if err := os.WriteFile(filepath.Join(base, "file"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(base, "file", "recordings")
	} else {
		if err := os.Mkdir(dir, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	src := &fakeSource{}
	failed := make(chan Info, 1)
	m := &fakeMetrics{}
	r, err := New(Options{Dir: dir, Source: src, Metrics: m, OnFailed: func(i Info) { failed <- i }, Log: slog.New(slog.DiscardHandler)})
	if isRoot() && (err == nil || !errors.Is(err, ErrStorage)) {
		t.Fatalf("New: %v", err)
	}
	defer r.Close()
	info, err := r.Start(context.Background(), "dev", "")
	if !errors.Is(err, ErrStorage) || !strings.Contains(err.Error(), "recording's directory") {
		t.Fatalf("start: %v", err)
	}
	if info.State != StateFailed || info.Reason != ReasonPermission || info.Error == "" {
		t.Fatalf("recording %+v", info)
	}
	if got := <-failed; got.ID != info.ID {
		t.Fatalf("reported %+v", got)
	}
	if _, _, fails := m.get(); fails[ReasonPermission] != 1 {
		t.Fatalf("failures %v", fails)
	}
	if l := r.List(); len(l) != 1 || l[0].State != StateFailed {
		t.Fatalf("list %+v", l)
	}
	if len(src.feeds) != 0 {
		t.Fatal("the device was joined")
	}
}

// TestLimitsAndEnds: MAX_RECORDINGS, RECORDING_MAX_DURATION, a device
// that stops running, a device that cannot be joined, a closed recorder.
func TestLimitsAndEnds(t *testing.T) {
	src := &fakeSource{}
	r, m := newTestRecorder(t, Options{Source: src, MaxRecordings: 1, MaxDuration: 300 * time.Millisecond})
	units := clip(t, native.CodecX264, 160, 120, 15, 15, 0)
	if _, err := r.Start(context.Background(), "a;b", ""); !errors.Is(err, media.ErrInvalidDeviceID) {
		t.Fatalf("bad ID: %v", err)
	}
	if _, err := r.Start(context.Background(), "dev1", ""); err != nil {
		t.Fatal(err)
	}
	src.feed(t, "dev1").write(units)
	if _, err := r.Start(context.Background(), "dev2", ""); !errors.Is(err, ErrLimit) || !errors.Is(err, media.ErrUnavailable) {
		t.Fatalf("over the limit: %v", err)
	}
	testutil.Eventually(t, "the maximum duration ends it", 10*time.Second, func() bool { _, ok := r.Running("dev1"); return !ok })
	l := r.List()
	if len(l) != 1 || l[0].State != StateFinished || l[0].Reason != ReasonMaxDuration || len(l[0].Segments) != 1 {
		t.Fatalf("after max duration: %+v", l)
	}

	// The device stops running here.
	if _, err := r.Start(context.Background(), "dev2", ""); err != nil {
		t.Fatal(err)
	}
	src.setGone("dev2")
	testutil.Eventually(t, "a gone device ends it", 10*time.Second, func() bool { _, ok := r.Running("dev2"); return !ok })
	if i, _ := r.Get(r.List()[1].ID); i.State != StateFailed || i.Reason != ReasonDeviceGone {
		t.Fatalf("gone: %+v", i)
	}
	if _, _, fails := m.get(); fails[ReasonDeviceGone] != 1 {
		t.Fatalf("failures %v", fails)
	}

	src.joinErr = media.ErrUnknownDevice
	if _, err := r.Start(context.Background(), "dev3", ""); !errors.Is(err, media.ErrUnknownDevice) {
		t.Fatalf("unknown device: %v", err)
	}
	src.joinErr = nil
	if n := len(r.List()); n != 2 {
		t.Fatalf("%d recordings listed after a failed join", n)
	}
	r.Close()
	if _, err := r.Start(context.Background(), "dev4", ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
}

// TestShutdownReloadRetention: Close finishes the running recording; a
// new recorder lists what the directory holds, a recording left
// recording (the process died) as failed, interrupted; RECORDINGS_MAX_AGE
// deletes what ended before it; Delete deletes.
func TestShutdownReloadRetention(t *testing.T) {
	dir := t.TempDir()
	src := &fakeSource{}
	r, _ := newTestRecorder(t, Options{Dir: dir, Source: src})
	units := clip(t, native.CodecX264, 160, 120, 30, 15, 0)
	a, err := r.Start(context.Background(), "dev1", "")
	if err != nil {
		t.Fatal(err)
	}
	src.feed(t, "dev1").write(units)
	b, err := r.Start(context.Background(), "dev2", "")
	if err != nil {
		t.Fatal(err)
	}
	src.feed(t, "dev2").write(units)
	r.Close()
	if i, _ := r.Get(a.ID); i.State != StateFinished || i.Reason != ReasonShutdown {
		t.Fatalf("after Close: %+v", i)
	}
	// b as a killed process leaves it: still recording.
	var bi Info
	raw, _ := os.ReadFile(filepath.Join(dir, b.ID, metaFile))
	json.Unmarshal(raw, &bi)
	bi.State, bi.Reason, bi.EndedAt = StateRecording, "", time.Time{}
	bi.Segments[0].Open, bi.Segments[0].Bytes = true, 10
	raw, _ = json.Marshal(bi)
	os.WriteFile(filepath.Join(dir, b.ID, metaFile), raw, 0o644)
	os.MkdirAll(filepath.Join(dir, "not-a-recording"), 0o755)

	r2, _ := newTestRecorder(t, Options{Dir: dir, Source: src, MaxAge: time.Hour})
	l := r2.List()
	if len(l) != 2 {
		t.Fatalf("found %+v", l)
	}
	got, _ := r2.Get(b.ID)
	st, _ := os.Stat(filepath.Join(dir, b.ID, got.Segments[0].Name))
	if got.State != StateFailed || got.Reason != ReasonInterrupted || got.Segments[0].Open || got.Segments[0].Bytes != st.Size() || got.EndedAt.IsZero() {
		t.Fatalf("interrupted: %+v", got)
	}
	r2.expire(time.Now().Add(30 * time.Minute))
	if len(r2.List()) != 2 {
		t.Fatal("deleted before RECORDINGS_MAX_AGE")
	}
	r2.expire(time.Now().Add(2 * time.Hour))
	if len(r2.List()) != 0 {
		t.Fatalf("kept after RECORDINGS_MAX_AGE: %+v", r2.List())
	}
	for _, id := range []string{a.ID, b.ID} {
		if _, err := os.Stat(filepath.Join(dir, id)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still on disk: %v", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "not-a-recording")); err != nil {
		t.Fatal("retention deleted what is not a recording")
	}

	c, err := r2.Start(context.Background(), "dev3", "")
	if err != nil {
		t.Fatal(err)
	}
	src.feed(t, "dev3").write(units)
	if err := r2.Delete(c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, c.ID)); !errors.Is(err, os.ErrNotExist) || len(r2.List()) != 0 {
		t.Fatalf("after Delete: %v %+v", err, r2.List())
	}
	if err := r2.Delete(c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
}

// TestVP8WebM: a device that sends VP8 only is recorded to WebM.
func TestVP8WebM(t *testing.T) {
	src := &fakeSource{}
	r, _ := newTestRecorder(t, Options{Source: src})
	units := clip(t, native.CodecVP8, 160, 120, 30, 15, 0)
	if _, err := r.Start(context.Background(), "dev", ""); err != nil {
		t.Fatal(err)
	}
	src.feed(t, "dev").write(units)
	info, _ := r.Stop("dev")
	if info.Codec != "vp8" || len(info.Segments) != 1 || !strings.HasSuffix(info.Segments[0].Name, ".webm") {
		t.Fatalf("%+v", info)
	}
	path, _, _ := r.SegmentFile(info.ID, 1)
	if p := ffprobe(t, path); p.Streams[0].CodecName != "vp8" || p.Streams[0].Frames != "30" {
		t.Fatalf("%+v", p)
	}
	decodeClean(t, path)
}
