package service

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/testutil"
)

// TestRunReloads: Run applies what Options.Load returns on each receive
// from Options.Reload (tokens and the log level here), and a Load that
// fails changes nothing and shows on /metrics.
func TestRunReloads(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	srv := adbtest.Start(t)
	const first, second = "first-token-0123456789", "second-token-0123456789"
	env := map[string]string{"ADB_SERVER": srv.Addr(), "AUTH_DISABLED": "false", "API_TOKENS": "a=" + first, "LOG_LEVEL": "warn", "ICE_UDP_MUX_PORT": "0"}
	var mu sync.Mutex
	var loadErr error
	load := func() (config.Config, error) {
		mu.Lock()
		defer mu.Unlock()
		if loadErr != nil {
			return config.Config{}, loadErr
		}
		return config.Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	}
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	reload := make(chan struct{})
	r := runServiceWith(t, srv.Addr(), env, func(o *Options) {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
		o.LogLevel, o.Reload, o.Load = level, reload, load
	})
	status := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", r.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	testutil.Eventually(t, "the first token accepted", testutil.Generous, func() bool {
		code, _ := status("/api/media/encoders", first)
		return code == http.StatusOK
	})

	mu.Lock()
	env["API_TOKENS"], env["LOG_LEVEL"] = "b="+second, "debug"
	mu.Unlock()
	reload <- struct{}{}
	testutil.Eventually(t, "the second token accepted", testutil.Generous, func() bool {
		code, _ := status("/api/media/encoders", second)
		return code == http.StatusOK
	})
	if code, _ := status("/api/media/encoders", first); code != http.StatusUnauthorized {
		t.Fatalf("the removed token: %d", code)
	}
	if level.Level() != slog.LevelDebug {
		t.Fatalf("log level %v after the reload, want debug", level.Level())
	}

	mu.Lock()
	loadErr = errors.New("config: .env: broken")
	mu.Unlock()
	reload <- struct{}{}
	testutil.Eventually(t, "the failed reload on /metrics", testutil.Generous, func() bool {
		_, body := status("/metrics", second)
		return strings.Contains(body, "media_service_config_last_reload_successful 0") &&
			strings.Contains(body, `media_service_config_reloads_total{result="failed"} 1`)
	})
	if code, _ := status("/api/media/encoders", second); code != http.StatusOK || level.Level() != slog.LevelDebug {
		t.Fatalf("a failed reload changed something: token %d, level %v", code, level.Level())
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRevocations: a token revoked after a caller was let in with it
// ends that caller's session; one re-added and checked after the
// revocation does not; no token, no revocation.
func TestRevocations(t *testing.T) {
	var v revocations
	t0 := time.Now()
	if v.since("a", t0) {
		t.Fatal("nothing revoked yet")
	}
	v.revoke([]string{"a", "b"}, t0.Add(time.Second))
	if !v.since("a", t0) || !v.since("b", t0.Add(time.Second)) {
		t.Fatal("a caller checked before the revocation passes")
	}
	if v.since("a", t0.Add(2*time.Second)) || v.since("c", t0) || v.since("", t0) {
		t.Fatal("a caller checked after the revocation, another token, or none, is refused")
	}
	if got := errorStatus(errRevoked); got != http.StatusUnauthorized {
		t.Fatalf("errRevoked answers %d, want 401", got)
	}
	if got := errorStatus(ErrDraining); got != http.StatusServiceUnavailable {
		t.Fatalf("ErrDraining answers %d, want 503", got)
	}
	old := []config.Token{{Name: "a", Secret: "s1"}, {Name: "b", Secret: "s2"}, {Name: "c", Secret: "s3", Devices: []string{"x*"}}}
	next := []config.Token{{Name: "a", Secret: "s1"}, {Name: "b", Secret: "s9"}, {Name: "c", Secret: "s3"}, {Name: "d", Secret: "s4"}}
	if got := goneTokens(old, next); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("gone %v, want b (new secret) and c (new rights)", got)
	}
}
