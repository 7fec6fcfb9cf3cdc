package service

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/webrtc/v4"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/piontest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
)

// TestSignedTokenSession runs the service with JWT_HS256_SECRETS: a token
// minted for the device, view only, opens a session for its subject; the
// session's input is refused on the data channel; the session lists and
// logs its token kind; another userId is refused.
func TestSignedTokenSession(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	const secret = "service-jwt-secret-0123456789abcdef"
	srv := adbtest.Start(t)
	sim := simtest.Device(t, srv, devicesim.Options{Width: 120, Height: 160, FPS: 10, Static: true})
	r := runService(t, srv.Addr(), map[string]string{"AUTH_DISABLED": "false", "JWT_HS256_SECRETS": secret}, nil)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "exp": time.Now().Add(time.Minute).Unix(), "devices": []string{sim.Addr()},
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, r.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}

	v, offer := piontest.New(t, piontest.Options{DataChannel: "input"})
	opened := make(chan struct{})
	replies := make(chan string, 64)
	v.Channel.OnOpen(func() { close(opened) })
	v.Channel.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case replies <- string(m.Data):
		default:
		}
	})
	if code, body := call("POST", "/api/media/sessions", mustJSON(t, map[string]string{"deviceId": sim.Addr(), "userId": "bob", "offer": offer})); code != http.StatusForbidden {
		t.Fatalf("another userId: %d %s", code, body)
	}
	code, body := call("POST", "/api/media/sessions", mustJSON(t, map[string]string{"deviceId": sim.Addr(), "offer": offer}))
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var created api.CreateSessionResponse
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	v.Answer(t, created.Answer)
	select {
	case <-opened:
	case <-time.After(testutil.Generous):
		t.Fatal("the input channel did not open")
	}
	if err := v.Channel.SendText(`{"type":"tap","x":0.5,"y":0.5}`); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(testutil.Generous)
	for refused := false; !refused; {
		select {
		case m := <-replies:
			refused = strings.Contains(m, `"type":"error"`) && strings.Contains(m, "view-only")
		case <-deadline:
			t.Fatal("the view-only session's input was not refused")
		}
	}

	code, body = call("GET", "/api/media/sessions", "")
	var list api.SessionsResponse
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Sessions) != 1 {
		t.Fatalf("list: %d %s", code, body)
	}
	if s := list.Sessions[0]; s.ID != created.SessionID || s.TokenKind != "jwt" || s.Token != "jwt:alice" || s.UserID != "alice" || !s.ViewOnly {
		t.Fatalf("listed %+v", s)
	}
	for _, want := range []string{`msg="rtc: session created"`, `msg="api: session created"`} {
		found := false
		for _, line := range strings.Split(r.logs.String(), "\n") {
			found = found || strings.Contains(line, want) && strings.Contains(line, "token_kind=jwt")
		}
		if !found {
			t.Errorf("no %s line with token_kind=jwt", want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSignedTokenReload: a reload that rotates JWT_HS256_SECRETS takes
// the new secret for the requests from then on, and refuses the old.
func TestSignedTokenReload(t *testing.T) {
	testutil.Deadline(t, time.Minute)
	const one, two = "reload-jwt-secret-one-0123456789abcdef", "reload-jwt-secret-two-0123456789abcdef"
	srv := adbtest.Start(t)
	env := map[string]string{"ADB_SERVER": srv.Addr(), "AUTH_DISABLED": "false", "JWT_HS256_SECRETS": one, "ICE_UDP_MUX_PORT": "0"}
	var mu sync.Mutex
	load := func() (config.Config, error) {
		mu.Lock()
		defer mu.Unlock()
		return config.Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	}
	reload := make(chan struct{})
	r := runServiceWith(t, srv.Addr(), env, func(o *Options) {
		o.Log = slog.New(slog.DiscardHandler)
		o.Reload, o.Load = reload, load
	})
	status := func(secret string) int {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Minute).Unix()}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", r.base+"/api/media/encoders", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status(one) != http.StatusOK || status(two) != http.StatusUnauthorized {
		t.Fatal("before the reload: the first secret must pass, the second not")
	}
	mu.Lock()
	env["JWT_HS256_SECRETS"] = two
	mu.Unlock()
	reload <- struct{}{}
	testutil.Eventually(t, "the second secret accepted", testutil.Generous, func() bool { return status(two) == http.StatusOK })
	if status(one) != http.StatusUnauthorized {
		t.Fatal("the rotated-out secret still passes")
	}
}
