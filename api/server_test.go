package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/capture"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer serves on a free loopback port and stops when the test ends.
func startServer(t *testing.T) string {
	t.Helper()
	return startServerWith(t, Deps{})
}

func startServerWith(t *testing.T, deps Deps) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Info{Version: "test", FFmpeg: "7.1.5"}, deps, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
		http.DefaultClient.CloseIdleConnections()
	})
	return "http://" + ln.Addr().String()
}

func TestHealth(t *testing.T) {
	base := startServer(t)
	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	var h HealthResponse
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if h.Status != "ok" || h.Version != "test" || h.FFmpeg != "7.1.5" || h.UptimeSeconds < 0 {
		t.Fatalf("health %+v", h)
	}
}

func TestMetrics(t *testing.T) {
	base := startServer(t)
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{"go_goroutines ", "process_resident_memory_bytes "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode
}

func TestDevices(t *testing.T) {
	want := []capture.DeviceInfo{{Serial: "127.0.0.1:5555", State: "device", Model: "DeviceSim"}}
	base := startServerWith(t, Deps{Devices: func(context.Context) ([]capture.DeviceInfo, error) { return want, nil }})
	var got DevicesResponse
	if code := getJSON(t, base+"/api/media/devices", &got); code != http.StatusOK || len(got.Devices) != 1 || got.Devices[0] != want[0] {
		t.Fatalf("status %d, devices %+v", code, got)
	}

	failing := startServerWith(t, Deps{Devices: func(context.Context) ([]capture.DeviceInfo, error) { return nil, errors.New("connection refused") }})
	var e ErrorResponse
	if code := getJSON(t, failing+"/api/media/devices", &e); code != http.StatusBadGateway || !strings.Contains(e.Error, "connection refused") {
		t.Fatalf("status %d, error %q", code, e.Error)
	}

	none := startServer(t)
	if code := getJSON(t, none+"/api/media/devices", &e); code != http.StatusServiceUnavailable {
		t.Fatalf("unconfigured: status %d", code)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	base := startServer(t)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodPost, "/health", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}

func TestServeReturnsWhenListenerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Serve on a closed listener fails at once
	s := New(Info{}, Deps{}, slog.New(slog.DiscardHandler))
	if err := s.Serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), "api: serve") {
		t.Fatalf("Serve on a closed listener = %v, want an api: serve error", err)
	}
}
