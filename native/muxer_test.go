//go:build cgo

package native

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
)

// probeInfo is what ffprobe says of a file.
type probeInfo struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		NbFrames  string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

func (p probeInfo) duration(t testing.TB) time.Duration {
	t.Helper()
	f, err := strconv.ParseFloat(p.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", p.Format.Duration, err)
	}
	return time.Duration(f * float64(time.Second))
}

// ffprobe runs Debian's ffprobe on path (counting its frames); it skips
// the test when the program is missing, and fails it under CI=true.
func ffprobe(t testing.TB, path string) probeInfo {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		testutil.SkipOrFail(t, "the ffprobe program is not installed (Debian package ffmpeg)")
	}
	out, err := exec.Command(bin, "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probeInfo
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output: %v: %s", err, out)
	}
	return p
}

// decodeClean decodes path with the ffmpeg program and fails the test on
// any error it reports.
func decodeClean(t testing.TB, path string) {
	t.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		testutil.SkipOrFail(t, "the ffmpeg program is not installed (Debian package ffmpeg)")
	}
	out, err := exec.Command(bin, "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg -i %s -f null -: %v: %s", filepath.Base(path), err, out)
	}
}

// parameterSets returns the SPS and PPS of an Annex-B access unit, each
// after a four-byte start code.
func parameterSets(au []byte) []byte {
	var out []byte
	for _, nal := range splitNALs(au) {
		if t := nal[0] & 0x1f; t == 7 || t == 8 {
			out = append(out, 0, 0, 0, 1)
			out = append(out, nal...)
		}
	}
	return out
}

func splitNALs(au []byte) [][]byte {
	var nals [][]byte
	for _, part := range bytes.Split(au, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00")
		if len(part) > 0 {
			nals = append(nals, part)
		}
	}
	return nals
}

// encodeClip encodes n frames at 30 fps with the named encoder.
func encodeClip(t *testing.T, codec string, w, h, n int) []encoded {
	t.Helper()
	e, pool := newTestEncoder(t, Options{Codec: codec, Width: w, Height: h, FrameRate: 30, KeyFrameInterval: 30, BitRate: 500_000})
	units := encodeN(t, e, pool, newTestPattern(w, h, false), 0, n)
	units = append(units, flushAll(t, e)...)
	if len(units) != n || !units[0].key {
		t.Fatalf("%d packets (want %d), first key %v", len(units), n, units[0].key)
	}
	return units
}

// muxClip writes units to a new muxer at path, flushing every flushEvery
// packets, and calls mid after half of them.
func muxClip(t *testing.T, o MuxerOptions, units []encoded, flushEvery int, mid func()) *Muxer {
	t.Helper()
	m, err := NewMuxer(o)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range units {
		if err := m.WritePacket(u.data, u.pts, u.pts, u.dur, u.key); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if flushEvery > 0 && (i+1)%flushEvery == 0 {
			if err := m.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if i == len(units)/2 && mid != nil {
			mid()
		}
	}
	return m
}

// TestMuxerH264FragmentedMP4 writes 3 s of libx264 into a fragmented MP4
// and has ffprobe and ffmpeg read it: one H.264 stream of the size, about
// 3 s, every frame, no decode error. A copy taken mid-way after a Flush,
// what a SIGKILL would leave on disk, plays up to that point.
func TestMuxerH264FragmentedMP4(t *testing.T) {
	const w, h, n = 320, 240, 90
	units := encodeClip(t, CodecX264, w, h, n)
	dir := t.TempDir()
	path := filepath.Join(dir, "clip.mp4")
	cut := filepath.Join(dir, "cut.mp4")
	m := muxClip(t, MuxerOptions{Path: path, Codec: MediaCodecH264, Width: w, Height: h, ParameterSets: parameterSets(units[0].data)}, units, 15, func() {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cut, b, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if m.Size() <= 0 || m.Packets() != n {
		t.Fatalf("size %d, packets %d", m.Size(), m.Packets())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := m.WritePacket(units[0].data, 0, 0, 0, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	st, _ := os.Stat(path)
	if st.Size() < m.Size() {
		t.Fatalf("file %d bytes, muxer says %d", st.Size(), m.Size())
	}

	p := ffprobe(t, path)
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "h264" || p.Streams[0].Width != w || p.Streams[0].Height != h {
		t.Fatalf("streams: %+v", p.Streams)
	}
	if !strings.Contains(p.Format.FormatName, "mp4") {
		t.Fatalf("format %q", p.Format.FormatName)
	}
	if d := p.duration(t); d < 2900*time.Millisecond || d > 3100*time.Millisecond {
		t.Fatalf("duration %s, want about 3s", d)
	}
	if p.Streams[0].NbFrames != strconv.Itoa(n) {
		t.Fatalf("%s frames, want %d", p.Streams[0].NbFrames, n)
	}
	decodeClean(t, path)

	// The copy taken after packet 45 and the flush after packet 45: the
	// first 45 frames (1.5 s).
	pc := ffprobe(t, cut)
	if len(pc.Streams) != 1 || pc.Streams[0].CodecName != "h264" || pc.Streams[0].NbFrames != "45" {
		t.Fatalf("cut file: %+v", pc.Streams)
	}
	decodeClean(t, cut)
}

// TestMuxerVP8WebM writes 2 s of libvpx into WebM.
func TestMuxerVP8WebM(t *testing.T) {
	const w, h, n = 320, 240, 60
	units := encodeClip(t, CodecVP8, w, h, n)
	path := filepath.Join(t.TempDir(), "clip.webm")
	m := muxClip(t, MuxerOptions{Path: path, Codec: MediaCodecVP8, Width: w, Height: h}, units, 20, nil)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	p := ffprobe(t, path)
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "vp8" || p.Streams[0].Width != w || p.Streams[0].NbFrames != strconv.Itoa(n) {
		t.Fatalf("streams: %+v", p.Streams)
	}
	if !strings.Contains(p.Format.FormatName, "webm") {
		t.Fatalf("format %q", p.Format.FormatName)
	}
	if d := p.duration(t); d < 1900*time.Millisecond || d > 2100*time.Millisecond {
		t.Fatalf("duration %s, want about 2s", d)
	}
	decodeClean(t, path)
}

// TestMuxerErrors: bad options, a directory that is not there, a full
// disk (/dev/full: every write fails with ENOSPC), each a clear error
// that errors.Is matches.
func TestMuxerErrors(t *testing.T) {
	units := encodeClip(t, CodecX264, 160, 120, 30)
	ps := parameterSets(units[0].data)
	for _, o := range []MuxerOptions{
		{Codec: MediaCodecH264, Width: 160, Height: 120, ParameterSets: ps},
		{Path: "x.mp4", Codec: "av1", Width: 160, Height: 120},
		{Path: "x.mp4", Codec: MediaCodecH264, Width: 0, Height: 120, ParameterSets: ps},
		{Path: "x.mp4", Codec: MediaCodecH264, Width: 160, Height: 120},
	} {
		if _, err := NewMuxer(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("NewMuxer(%+v) = %v, want ErrInvalidOptions", o, err)
		}
	}
	_, err := NewMuxer(MuxerOptions{Path: filepath.Join(t.TempDir(), "missing", "x.mp4"), Codec: MediaCodecH264, Width: 160, Height: 120, ParameterSets: ps})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("NewMuxer in a missing directory: %v", err)
	}

	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	m, err := NewMuxer(MuxerOptions{Path: "/dev/full", Codec: MediaCodecH264, Width: 160, Height: 120, ParameterSets: ps})
	if err == nil {
		for _, u := range units {
			if err = m.WritePacket(u.data, u.pts, u.pts, u.dur, u.key); err != nil {
				break
			}
		}
		if err == nil {
			err = m.Flush()
		}
		if err2 := m.Close(); !errors.Is(err2, syscall.ENOSPC) {
			t.Errorf("Close after ENOSPC: %v", err2)
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing to /dev/full: %v, want ENOSPC", err)
	}
}
