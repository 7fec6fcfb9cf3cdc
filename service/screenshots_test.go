package service

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
)

// TestRunServesScreenshots: the whole service answers a screenshot of a
// device that does not run (a one-off capture) with the device's PNG,
// and /metrics counts it.
func TestRunServesScreenshots(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	srv := adbtest.Start(t)
	sim := simtest.Device(t, srv, devicesim.Options{Width: 120, Height: 160, Static: true})
	env := map[string]string{"ADB_SERVER": srv.Addr(), "AUTH_DISABLED": "true", "LOG_LEVEL": "error", "ICE_UDP_MUX_PORT": "0"}
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
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Listener: ln, Version: "test"})
	}()
	get := func(path string) (*http.Response, []byte, error) {
		resp, err := http.Get(base + path)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}
	var resp *http.Response
	var body []byte
	testutil.EventuallyErr(t, "a screenshot", testutil.Generous, func() (bool, error) {
		var err error
		resp, body, err = get("/api/media/devices/" + url.PathEscape(sim.Addr()) + "/screenshot")
		return err == nil && resp.StatusCode == 200, err
	})
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil || img.Bounds().Dx() != 120 || img.Bounds().Dy() != 160 || resp.Header.Get("X-Screenshot-Source") != "capture" {
		t.Fatalf("screenshot %v, %v, %v", img.Bounds(), err, resp.Header)
	}
	if resp, body, err := get("/api/media/devices/127.0.0.1:1/screenshot"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("a device adb does not list: %v %s", err, body)
	}
	_, metrics, err := get("/metrics")
	if err != nil || !strings.Contains(string(metrics), `media_service_screenshots_total{result="taken",source="capture"} 1`) {
		t.Fatalf("metrics: %v\n%s", err, metrics)
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
}

// TestRunningCacheShares: lookups of one device at once share one; the
// answer is remembered for runningTTL, a failure not at all.
func TestRunningCacheShares(t *testing.T) {
	var c runningCache
	var calls atomic.Int32
	release := make(chan struct{})
	lookup := func() (string, error) {
		calls.Add(1)
		<-release
		return "http://10.0.0.2:30006", nil
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if url, err := c.get("dev1", lookup); err != nil || url != "http://10.0.0.2:30006" {
				t.Errorf("got %q, %v", url, err)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("50 lookups at once made %d", n)
	}
	c.get("dev1", lookup)
	if n := calls.Load(); n != 1 {
		t.Fatal("the answer was not remembered")
	}
	c.mu.Lock()
	c.m["dev1"].at = time.Now().Add(-runningTTL)
	c.mu.Unlock()
	c.get("dev1", lookup)
	if n := calls.Load(); n != 2 {
		t.Fatal("a stale answer was used")
	}
	fail := func() (string, error) { calls.Add(1); return "", errors.New("API server down") }
	if _, err := c.get("dev2", fail); err == nil {
		t.Fatal("no error")
	}
	c.get("dev2", fail)
	if n := calls.Load(); n != 4 {
		t.Fatalf("a failure was remembered (%d lookups)", n)
	}
}
