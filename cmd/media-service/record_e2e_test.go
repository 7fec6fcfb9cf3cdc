package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
)

// TestViewerRecordsInChromium: the viewer page's Record button starts a
// recording of the device it shows, and pressed again stops it; the
// segment it wrote is an H.264 MP4 that ffprobe reads.
func TestViewerRecordsInChromium(t *testing.T) {
	testutil.Deadline(t, 3*time.Minute)
	dir := t.TempDir()
	base, sim, _ := startService(t, map[string]string{"RECORDINGS_DIR": dir, "VIDEO_ENCODER_TYPE": "passthrough"})
	p := openViewer(t, base, sim, 360, 640)
	click := func() {
		t.Helper()
		p.eval(`document.getElementById("record").click(), true`, nil)
	}
	click()
	p.waitJS("the recording to start", `viewer.recording && viewer.recording.state === "recording"`)
	var label string
	p.eval(`document.getElementById("record").textContent`, &label)
	if label != "Stop recording" {
		t.Fatalf("the button says %q while recording", label)
	}
	time.Sleep(2 * time.Second)
	click()
	p.waitJS("the recording to stop", `viewer.recording && viewer.recording.state !== "recording" && viewer.recording.segments.length > 0`)
	var rec struct {
		ID, State string
		Segments  []struct {
			Name  string
			Bytes int64
		}
	}
	p.eval(`viewer.recording`, &rec)
	if rec.State != "finished" || len(rec.Segments) == 0 || rec.Segments[0].Bytes == 0 {
		t.Fatalf("recording %+v", rec)
	}
	var links string
	p.eval(`document.getElementById("recstate").textContent`, &links)
	if !strings.Contains(links, "segment 1") {
		t.Fatalf("the page lists %q, want a link to segment 1", links)
	}
	var files []string
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(path, ".mp4") {
			files = append(files, path)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatalf("no MP4 under %s", dir)
	}
	probe, err := exec.LookPath("ffprobe")
	if err != nil {
		testutil.SkipOrFail(t, "the ffprobe program is not installed (Debian package ffmpeg)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, probe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name", "-of", "csv=p=0", files[0]).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "h264" {
		t.Fatalf("ffprobe %s: %v %q", files[0], err, out)
	}
}
