package service

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/recording"
)

// TestRunRecords: the whole service records a pass-through device
// through the API: start, list with its growing segment, stop, download
// a file that ffprobe reads, the byte counter; a recording still running
// when the service stops is finished (reason shutdown); a deleted one
// leaves nothing on disk.
func TestRunRecords(t *testing.T) {
	testutil.Deadline(t, 3*time.Minute)
	srv := adbtest.Start(t)
	sim := simtest.Device(t, srv, devicesim.Options{Width: 240, Height: 320, FPS: 15})
	dir := t.TempDir()
	env := map[string]string{"ADB_SERVER": srv.Addr(), "AUTH_DISABLED": "true", "LOG_LEVEL": "error", "ICE_UDP_MUX_PORT": "0",
		"VIDEO_ENCODER_TYPE": "passthrough", "RECORDINGS_DIR": dir}
	cfg, err := config.Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Listener: ln, Version: "test"})
	}()
	do := func(method, path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	dev := "/api/media/devices/" + url.PathEscape(sim.Addr()) + "/recording"
	testutil.EventuallyErr(t, "the service answers", 30*time.Second, func() (bool, error) {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil, nil
	})
	resp, body := do("POST", dev)
	var rec api.RecordingView
	if resp.StatusCode != 201 || json.Unmarshal(body, &rec) != nil || rec.State != "recording" || rec.DeviceID != sim.Addr() {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	if resp, body := do("POST", dev); resp.StatusCode != 409 {
		t.Fatalf("second start: %d %s", resp.StatusCode, body)
	}
	testutil.Eventually(t, "2 s recorded", 30*time.Second, func() bool {
		_, body := do("GET", "/api/media/recordings/"+rec.ID)
		var v api.RecordingView
		return json.Unmarshal(body, &v) == nil && len(v.Segments) == 1 && v.Segments[0].Open && v.DurationMs > 2000
	})
	resp, body = do("DELETE", dev)
	if resp.StatusCode != 200 || json.Unmarshal(body, &rec) != nil || rec.State != "finished" || rec.Reason != "stopped" || rec.Segments[0].Open {
		t.Fatalf("stop: %d %s", resp.StatusCode, body)
	}
	resp, body = do("GET", "/api/media/recordings/"+rec.ID+"/segments/1")
	if resp.StatusCode != 200 || int64(len(body)) != rec.Segments[0].Bytes || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("download: %d, %d bytes (listed %d), %v", resp.StatusCode, len(body), rec.Segments[0].Bytes, resp.Header)
	}
	file := filepath.Join(t.TempDir(), "segment.mp4")
	os.WriteFile(file, body, 0o644)
	if bin, err := exec.LookPath("ffprobe"); err != nil {
		testutil.SkipOrFail(t, "the ffprobe program is not installed (Debian package ffmpeg)")
	} else if out, err := exec.Command(bin, "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", file).CombinedOutput(); err != nil ||
		strings.TrimSpace(string(out)) != "h264,240,320" {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	_, metrics := do("GET", "/metrics")
	if !strings.Contains(string(metrics), "media_service_recordings_running 0") ||
		!regexp.MustCompile(`media_service_recording_bytes_written_total\{device="`+regexp.QuoteMeta(sim.Addr())+`"\} [1-9]`).Match(metrics) ||
		!strings.Contains(string(metrics), `media_service_recording_failures_total{reason="disk_full"} 0`) {
		t.Fatalf("metrics:\n%s", grepLines(string(metrics), "recording"))
	}
	if resp, _ := do("DELETE", "/api/media/recordings/"+rec.ID); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, rec.ID)); !os.IsNotExist(err) {
		t.Fatalf("the recording's files are still there: %v", err)
	}

	// One running as the service stops: finished, reason shutdown.
	resp, body = do("POST", dev)
	if resp.StatusCode != 201 || json.Unmarshal(body, &rec) != nil {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	raw, err := os.ReadFile(filepath.Join(dir, rec.ID, "recording.json"))
	var info recording.Info
	if err != nil || json.Unmarshal(raw, &info) != nil || info.State != recording.StateFinished || info.Reason != recording.ReasonShutdown {
		t.Fatalf("after shutdown: %v %s", err, raw)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, strings.TrimRight(l, "\n"))
		}
	}
	return strings.Join(out, "\n")
}
