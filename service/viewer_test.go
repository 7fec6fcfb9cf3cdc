package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/internal/adbtest"
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

// restartADB stops the adb server (kill-server), waits down, and starts a
// new one on its port and HOME, as an operator's `adb kill-server; adb
// start-server` does, and returns when the new one listens. The new
// server is stopped when the test ends.
func restartADB(tb testing.TB, srv *adbtest.Server, down time.Duration) time.Time {
	tb.Helper()
	srv.Run(tb, "kill-server")
	testutil.Eventually(tb, "the old adb server gone", testutil.Generous, func() bool {
		c, err := net.DialTimeout("tcp", srv.Addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	time.Sleep(down)
	bin, err := exec.LookPath("adb")
	if err != nil {
		tb.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() { // as adbtest.Start does
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || strings.HasPrefix(k, "ANDROID_") || strings.HasPrefix(k, "ADB_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+srv.Home)
	var out bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command(bin, "-P", strconv.Itoa(srv.Port), "nodaemon", "server")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lockedWriter{&mu, &out}, lockedWriter{&mu, &out}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Command(ctx, "kill-server").Run()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if tb.Failed() {
			mu.Lock()
			tb.Logf("restarted adb server's log:\n%s", out.String())
			mu.Unlock()
		}
	})
	for deadline := time.Now().Add(testutil.Generous); ; time.Sleep(5 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
			c.Close()
			return time.Now()
		}
		select {
		case <-exited:
			tb.Fatalf("the restarted adb server exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatal("the restarted adb server does not listen")
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
