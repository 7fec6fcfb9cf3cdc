package recording

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// counter is a viewer's writer that counts its frames.
type counter struct{ n atomic.Int64 }

func (c *counter) WriteSample(fanout.Sample) error { c.n.Add(1); return nil }

// simRig is a pass-through registry over one simulated device.
type simRig struct {
	reg *device.Registry
	sim *devicesim.Device
	id  string
}

func newSimRig(t *testing.T) *simRig {
	t.Helper()
	if !native.Available {
		t.Skip("built without cgo")
	}
	srv := adbtest.Start(t)
	sim := simtest.Device(t, srv, devicesim.Options{Width: 240, Height: 320, FPS: 15})
	client, err := adb.NewClient(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	reg := device.NewRegistry(device.Config{ADB: client, Mode: media.CaptureScreenrecord, Kind: media.KindPassthrough,
		Linger: -1, Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { reg.Close() })
	return &simRig{reg: reg, sim: sim, id: sim.Addr()}
}

func (r *simRig) viewer(t *testing.T, name string) (*device.Viewer, *counter) {
	t.Helper()
	v, err := r.reg.Join(context.Background(), device.JoinRequest{DeviceID: r.id, ViewerID: name, Codecs: []media.Codec{media.H264}})
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{}
	if err := v.Start(c); err != nil {
		t.Fatal(err)
	}
	return v, c
}

// recordSeconds is the length of TestRecordDeviceSim's recording:
// RECORDING_TEST_SECONDS, 8 by default (the acceptance is 30).
func recordSeconds(t *testing.T) time.Duration {
	s := os.Getenv("RECORDING_TEST_SECONDS")
	if s == "" {
		return 8 * time.Second
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 4 {
		t.Fatalf("RECORDING_TEST_SECONDS=%q (want a number of seconds, at least 4)", s)
	}
	return time.Duration(n) * time.Second
}

// TestRecordDeviceSim records a pass-through device (screenrecord's own
// H.264) with no viewer at first; a viewer comes, forces a screenrecord
// restart (a keyframe request), the device rotates, the viewer leaves and
// another comes and goes with one more restart. The recording plays in
// ffprobe with about the time recorded, without a decode error, split
// into a portrait and a landscape segment at the rotation.
func TestRecordDeviceSim(t *testing.T) {
	total := recordSeconds(t)
	testutil.Deadline(t, total+3*time.Minute)
	rig := newSimRig(t)
	r, m := newTestRecorder(t, Options{Source: FromRegistry(rig.reg), FlushInterval: 500 * time.Millisecond})

	started := time.Now()
	info, err := r.Start(context.Background(), rig.id, "")
	if err != nil {
		t.Fatal(err)
	}
	if !rig.reg.Has(rig.id) {
		t.Fatal("the recording does not hold the device")
	}
	at := func(f float64) { time.Sleep(time.Until(started.Add(time.Duration(f * float64(total))))) }

	at(0.25)
	a, ca := rig.viewer(t, "a")
	restarts := rig.sim.Commands()
	a.RequestKeyFrame() // restarts screenrecord
	at(0.5)
	if err := rig.sim.SetRotation(1); err != nil {
		t.Fatal(err)
	}
	at(0.75)
	seen := ca.n.Load()
	a.Close()
	b, _ := rig.viewer(t, "b")
	b.RequestKeyFrame()
	time.Sleep(200 * time.Millisecond)
	b.Close()
	at(1)
	if seen < 10 {
		t.Fatalf("viewer a got %d frames", seen)
	}
	got, err := r.Stop(rig.id)
	if err != nil {
		t.Fatal(err)
	}
	recorded := time.Since(started)
	if n := countScreenrecords(rig.sim.Commands()) - countScreenrecords(restarts); n < 2 {
		t.Errorf("%d screenrecord starts during the recording, want the restarts forced", n)
	}
	if got.State != StateFinished || got.ID != info.ID {
		t.Fatalf("%+v", got)
	}
	t.Logf("recorded %s: %d segments", recorded.Round(time.Millisecond), len(got.Segments))

	var sum time.Duration
	var bytes int64
	for _, s := range got.Segments {
		path := filepath.Join(r.Dir(), got.ID, s.Name)
		p := ffprobe(t, path)
		decodeClean(t, path)
		t.Logf("segment %d: %dx%d, %s (listed %s), %d bytes, %s frames", s.Index, p.Streams[0].Width, p.Streams[0].Height,
			p.duration(), s.Duration, s.Bytes, p.Streams[0].Frames)
		if p.Streams[0].CodecName != "h264" || p.Streams[0].Width != s.Width || p.Streams[0].Height != s.Height {
			t.Errorf("segment %d: %+v, listed %dx%d", s.Index, p.Streams[0], s.Width, s.Height)
		}
		if d := p.duration() - s.Duration; d < -300*time.Millisecond || d > 300*time.Millisecond {
			t.Errorf("segment %d: ffprobe says %s, listed %s", s.Index, p.duration(), s.Duration)
		}
		sum += p.duration()
		bytes += s.Bytes
	}
	// The first keyframe comes a moment after the start, and the last
	// frame's duration is a guess: generous bounds.
	if sum < recorded*3/4-time.Second || sum > recorded+time.Second {
		t.Errorf("the segments hold %s of video, recorded for %s", sum, recorded)
	}
	first, last := got.Segments[0], got.Segments[len(got.Segments)-1]
	if len(got.Segments) < 2 || first.Width != 240 || first.Height != 320 || last.Width != 320 || last.Height != 240 {
		t.Errorf("segments %+v: want portrait 240x320 first, landscape 320x240 last (a new segment at the rotation)", got.Segments)
	}
	for i := 1; i < len(got.Segments); i++ {
		if p, s := got.Segments[i-1], got.Segments[i]; p.Width == s.Width && p.Height == s.Height {
			t.Errorf("segments %d and %d have the same size %dx%d: a screenrecord restart with the same SPS must not split", p.Index, s.Index, s.Width, s.Height)
		}
	}
	if _, b, _ := m.get(); b[rig.id] != bytes {
		t.Errorf("bytes counted %d, files %d", b[rig.id], bytes)
	}
	testutil.Eventually(t, "the device stops once the recording left it", 30*time.Second, func() bool { return !rig.reg.Has(rig.id) })
}

func countScreenrecords(cmds [][]string) int {
	n := 0
	for _, c := range cmds {
		if len(c) > 0 && c[0] == "screenrecord" {
			n++
		}
	}
	return n
}

// TestWriteFailureKeepsViewers: a recording whose files cannot be
// written any more (a full disk, a directory that turned read-only)
// fails alone: its viewer's frames keep coming, the device keeps running.
func TestWriteFailureKeepsViewers(t *testing.T) {
	testutil.Deadline(t, 3*time.Minute)
	rig := newSimRig(t)
	failed := make(chan Info, 1)
	r, m := newTestRecorder(t, Options{Source: FromRegistry(rig.reg), Segment: time.Second, FlushInterval: 200 * time.Millisecond,
		OnFailed: func(i Info) { failed <- i }})
	v, c := rig.viewer(t, "viewer")
	defer v.Close()
	info, err := r.Start(context.Background(), rig.id, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(r.Dir(), info.ID)
	testutil.Eventually(t, "the first segment", 30*time.Second, func() bool { i, _ := r.Get(info.ID); return len(i.Segments) == 1 })
	if isRoot() {
		// Root writes through any mode: the next segment's file is
		// /dev/full, where every write fails with ENOSPC.
		if err := os.Symlink("/dev/full", filepath.Join(dir, "segment-0002.mp4")); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o755)
	}
	var got Info
	select {
	case got = <-failed:
	case <-time.After(60 * time.Second):
		t.Fatal("the recording did not fail")
	}
	want := ReasonPermission
	if isRoot() {
		want = ReasonDiskFull
	}
	if got.State != StateFailed || got.Reason != want || got.Error == "" {
		t.Fatalf("failed: %+v", got)
	}
	t.Logf("failed as it should: %s", got.Error)
	if _, _, f := m.get(); f[want] != 1 {
		t.Fatalf("failures %v", f)
	}
	before := c.n.Load()
	testutil.Eventually(t, "the viewer's frames keep coming", 20*time.Second, func() bool { return c.n.Load() > before+10 })
	if !rig.reg.Has(rig.id) {
		t.Fatal("the device stopped")
	}
	decodeClean(t, filepath.Join(dir, "segment-0001.mp4"))
}
