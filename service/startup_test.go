package service

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/native"
)

// TestStartupLogsProbesOnce: at start-up, each encoder's probe result is
// logged once, at info level, one line says which encoder each codec uses, and nothing FFmpeg logs while probing (on a
// host without a GPU: "Cannot load libcuda.so.1", "No VA display found")
// reaches the log as a warning or an error.
func TestStartupLogsProbesOnce(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	svc := runService(t, adbtest.Start(t).Addr(), nil, nil)
	verdict := `msg="encoders chosen"`
	if !native.Available {
		verdict = `msg="no H.264 encoder works` // built without cgo: pass-through only
	}
	testutil.Eventually(t, "the probe's verdict", testutil.Generous, func() bool {
		return strings.Contains(svc.logs.String(), verdict)
	})
	logs := svc.logs.String()
	// One line says which encoder each codec uses, the decoder, and why.
	if n := strings.Count(logs, verdict); n != 1 {
		t.Errorf("%d verdict lines, want 1", n)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `msg="encoders chosen"`) &&
			(!strings.Contains(line, "h264=libx264") || !strings.Contains(line, "vp8=libvpx") || !strings.Contains(line, "h264_decoder=software") || !strings.Contains(line, "why=")) {
			t.Errorf("choice line: %s", line)
		}
	}
	for _, enc := range slices.Concat(native.H264Candidates, []string{native.CodecVP8}) {
		if n := strings.Count(logs, `msg="encoder probe" encoder=`+enc+" "); n != 1 {
			t.Errorf("%s: %d probe results logged, want 1", enc, n)
		}
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "component=ffmpeg") {
			t.Errorf("at start-up: %s", line)
		}
	}
}
