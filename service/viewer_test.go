package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/internal/piontest"
	"github.com/cloudphone/media-service/internal/testutil"
)

// running is a service that Run serves on a free port, for a test.
type running struct {
	base string
	logs *testutil.SyncBuffer
	stop func() error // ends Run's context and waits for it
	done chan error
}

// runService runs the service against the adb server at adbAddr with the
// environment vars (AUTH_DISABLED, LOG_LEVEL=info and ADB_SERVER are set,
// and ICE on a port range: the default mux port, 30006, may be taken), and
// stops it when the test ends. drain, if not nil, is Options.Drain.
func runService(tb testing.TB, adbAddr string, vars map[string]string, drain <-chan struct{}) *running {
	tb.Helper()
	return runServiceWith(tb, adbAddr, vars, func(o *Options) { o.Drain = drain })
}

// runServiceWith is runService with Options changed by edit.
func runServiceWith(tb testing.TB, adbAddr string, vars map[string]string, edit func(*Options)) *running {
	tb.Helper()
	env := map[string]string{"ADB_SERVER": adbAddr, "AUTH_DISABLED": "true", "LOG_LEVEL": "info", "ICE_UDP_MUX_PORT": "0"}
	for k, v := range vars {
		env[k] = v
	}
	cfg, err := config.Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &running{base: "http://" + ln.Addr().String(), logs: &testutil.SyncBuffer{}, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	o := Options{Config: cfg, Log: log, Listener: ln, Version: "test"}
	edit(&o)
	go func() { r.done <- Run(ctx, o) }()
	var once sync.Once
	var runErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-r.done:
			case <-time.After(testutil.Generous):
				runErr = fmt.Errorf("Run did not return %v after its context ended", testutil.Generous)
			}
			http.DefaultClient.CloseIdleConnections()
		})
		return runErr
	}
	tb.Cleanup(func() {
		if err := r.stop(); err != nil {
			tb.Error(err)
		}
		if tb.Failed() {
			tb.Logf("service logs:\n%s", r.logs.String())
		}
	})
	testutil.EventuallyErr(tb, "the service answers", testutil.Generous, func() (bool, error) {
		resp, err := http.Get(r.base + "/health")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return true, nil
	})
	return r
}

// call sends a request to the service and returns the status and body.
func (r *running) call(tb testing.TB, method, path, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// viewer is a Pion peer watching a device through a session, recording
// when each RTP packet arrived.
type viewer struct {
	*piontest.Viewer
	session string
}

// newPeer returns a viewer and its receive-only offer.
func newPeer(tb testing.TB) (*viewer, string) {
	tb.Helper()
	v, offer := piontest.New(tb, piontest.Options{Record: true})
	return &viewer{Viewer: v}, offer
}

// watch opens a session on device and waits for its first packets.
func watch(tb testing.TB, r *running, device string) *viewer {
	tb.Helper()
	v, offer := newPeer(tb)
	body, _ := json.Marshal(map[string]string{"deviceId": device, "userId": "tester", "offer": offer})
	code, resp := r.call(tb, "POST", "/api/media/sessions", string(body))
	if code != http.StatusCreated {
		tb.Fatalf("create a session: %d %s", code, resp)
	}
	var created struct{ SessionID, Answer string }
	if err := json.Unmarshal([]byte(resp), &created); err != nil {
		tb.Fatal(err)
	}
	v.session = created.SessionID
	v.Answer(tb, created.Answer)
	testutil.Eventually(tb, "the session's first packets", testutil.Generous, func() bool { return v.count() >= 10 })
	return v
}

func (v *viewer) count() int { return int(v.Packets()) }
