package service

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/piontest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
)

// TestMaxDevices: with MAX_DEVICES=1 a second device is refused (503
// naming the setting) while the first runs, and starts once the first
// has stopped.
func TestMaxDevices(t *testing.T) {
	testutil.Deadline(t, 3*time.Minute)
	srv := adbtest.Start(t)
	a := simtest.Device(t, srv, devicesim.Options{Width: 120, Height: 160})
	b := simtest.Device(t, srv, devicesim.Options{Width: 120, Height: 160})
	base := runService(t, srv.Addr(), map[string]string{"LOG_LEVEL": "error", "MAX_DEVICES": "1", "VIDEO_RUNGS": "1"}, nil).base
	open := func(device string) (int, string, string) {
		v, offer := piontest.New(t, piontest.Options{})
		body, _ := json.Marshal(api.CreateSessionRequest{DeviceID: device, Offer: offer})
		resp, err := http.Post(base+"/api/media/sessions", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var created api.CreateSessionResponse
		if resp.StatusCode == http.StatusCreated {
			if err := json.Unmarshal(data, &created); err != nil {
				t.Fatal(err)
			}
			v.Answer(t, created.Answer)
		}
		return resp.StatusCode, created.SessionID, string(data)
	}
	testutil.EventuallyErr(t, "the service answers", testutil.Generous, func() (bool, error) {
		resp, err := http.Get(base + "/ready")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	status, id, body := open(a.Addr())
	if status != http.StatusCreated {
		t.Fatalf("first device: %d %s", status, body)
	}
	status, _, body = open(b.Addr())
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "MAX_DEVICES=1") {
		t.Fatalf("second device while the first runs: %d %s, want 503 naming MAX_DEVICES", status, body)
	}
	req, _ := http.NewRequest("DELETE", base+"/api/media/sessions/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The first device stops after its linger (5 s); then the second may
	// start.
	testutil.EventuallyErr(t, "the second device starts once the first stopped", testutil.Generous, func() (bool, error) {
		status, _, _ := open(b.Addr())
		return status == http.StatusCreated, nil
	})
}

// TestAutoWorkers: WORKER_COUNT=auto is the CPUs, at least 8 with a
// hardware encoder, within 1..256.
func TestAutoWorkers(t *testing.T) {
	for _, c := range []struct {
		cpus int
		hw   bool
		want int
	}{{2, false, 2}, {2, true, 8}, {16, true, 16}, {0, false, 1}, {512, false, 256}} {
		if got := AutoWorkers(c.cpus, c.hw); got != c.want {
			t.Errorf("AutoWorkers(%d, %v) = %d, want %d", c.cpus, c.hw, got, c.want)
		}
	}
}
