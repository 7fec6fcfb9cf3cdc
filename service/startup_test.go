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
// logged once, at info level, and nothing FFmpeg logs while probing (on a
// host without a GPU: "Cannot load libcuda.so.1", "No VA display found")
// reaches the log as a warning or an error.
func TestStartupLogsProbesOnce(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	svc := runService(t, adbtest.Start(t).Addr(), nil, nil)
	testutil.Eventually(t, "the probe's verdict", testutil.Generous, func() bool {
		return strings.Contains(svc.logs.String(), "H.264 encoder")
	})
	logs := svc.logs.String()
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
