package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/native"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunServesTypedAPIAndStops runs the whole service on a free port
// against a simulated device: the API answers its typed bodies, the
// device is listed, and Run returns when its context ends, leaving no
// goroutine behind.
func TestRunServesTypedAPIAndStops(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	srv := adbtest.Start(t)
	sim := simtest.Device(t, srv, devicesim.Options{Width: 120, Height: 160, Static: true})
	// ICE on a port range: the default mux port (the HTTP port's number,
	// 30006) may be taken by whatever else runs on the machine.
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
	get := func(path string, out any) error {
		resp, err := http.Get(base + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(out)
	}
	testutil.EventuallyErr(t, "the device listed", testutil.Generous, func() (bool, error) {
		var d api.DevicesResponse
		if err := get("/api/media/devices", &d); err != nil {
			return false, err
		}
		return len(d.Devices) == 1 && d.Devices[0].Serial == sim.Addr() && d.Devices[0].State == "device", nil
	})
	var enc api.EncodersResponse
	if err := get("/api/media/encoders", &enc); err != nil {
		t.Fatal(err)
	}
	x264 := false
	for _, e := range enc.Encoders {
		x264 = x264 || e.Encoder == native.CodecX264 && e.Available == native.Available
	}
	if !x264 {
		t.Fatalf("encoders %+v: libx264 missing or wrong", enc)
	}
	var st api.StatsResponse
	if err := get("/api/media/stats", &st); err != nil || st.E2ELatency == nil {
		t.Fatalf("stats %+v, %v", st, err)
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
