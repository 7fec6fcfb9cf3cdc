package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/native"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "serve" {
		if _, ok := os.LookupEnv("DRAIN_TIMEOUT"); !ok {
			// SIGTERM drains; a test's cleanup SIGTERM stops at once
			// unless the test sets DRAIN_TIMEOUT itself.
			os.Setenv("DRAIN_TIMEOUT", "0s")
		}
		os.Args = []string{os.Args[0], "serve"}
		main() // a child process that is the service; exits
	}
	goleak.VerifyTestMain(m)
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestVersionCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errb, env(nil)); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	s := out.String()
	if !strings.HasPrefix(s, "media-service ") {
		t.Fatalf("version output %q", s)
	}
	if native.Available {
		if !strings.Contains(s, "FFmpeg 7.1.") || !strings.Contains(s, "libx264") {
			t.Fatalf("version output %q does not show FFmpeg 7.1.x and libx264", s)
		}
	} else if !strings.Contains(s, "not linked") {
		t.Fatalf("version output %q does not say FFmpeg is absent", s)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"version", "extra"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb, env(nil)); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if !strings.Contains(errb.String(), "usage:") {
			t.Errorf("%v: stderr %q lacks usage", args, errb.String())
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"help"}, &out, &out, env(nil)); code != 0 || !strings.Contains(out.String(), "serve") {
		t.Fatalf("help: exit %d, %q", code, out.String())
	}
}

func TestServeConfigError(t *testing.T) {
	var errb bytes.Buffer
	code := run(context.Background(), nil, &errb, &errb, env(map[string]string{"CAPTURE_MODE": "nope"}))
	if code != 1 || !strings.Contains(errb.String(), "CAPTURE_MODE") {
		t.Fatalf("exit %d, stderr %q; want 1 naming CAPTURE_MODE", code, errb.String())
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestServeAnswersHealthAndStops(t *testing.T) {
	adbs := adbtest.Start(t)
	sim, err := devicesim.New(devicesim.Options{Addr: "127.0.0.1:0", Static: true})
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	defer sim.Close()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, &logs, &logs, env(map[string]string{"PORT": strconv.Itoa(port), "ADB_SERVER": adbs.Addr(), "ADB_DEVICES": sim.Addr(), "AUTH_DISABLED": "true"}))
	}()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/health"
	var resp *http.Response
	for deadline := time.Now().Add(testutil.Generous); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err = http.Get(url); err == nil {
			break
		}
	}
	if err != nil {
		cancel()
		<-done
		t.Fatalf("GET /health: %v (logs: %s)", err, logs.String())
	}
	var h struct{ Status string }
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if h.Status != "ok" {
		t.Fatalf("health status %q", h.Status)
	}
	// ADB_DEVICES: the service connects the device and lists it.
	devicesURL := "http://127.0.0.1:" + strconv.Itoa(port) + "/api/media/devices"
	var listed bool
	for deadline := time.Now().Add(adbtest.Generous); !listed && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(devicesURL)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Devices []struct{ Serial, State, Model string }
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		for _, d := range body.Devices {
			listed = listed || d.Serial == sim.Addr() && d.State == "device" && d.Model == "DeviceSim"
		}
	}
	http.DefaultClient.CloseIdleConnections()
	if !listed {
		t.Fatalf("the service never listed %s as a device (logs: %s)", sim.Addr(), logs.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, logs.String())
		}
	case <-time.After(testutil.Generous):
		t.Fatal("serve did not stop after its context ended")
	}
	if !strings.Contains(logs.String(), "authentication is disabled") {
		t.Fatalf("no warning that authentication is disabled: %s", logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"listening"`) {
		t.Fatalf("logs lack the listening line: %s", logs.String())
	}
}
