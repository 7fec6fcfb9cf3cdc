package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestUpdate: tokens, CORS origins and the rate limit change for the
// requests that arrive after Update, on the running server.
func TestUpdate(t *testing.T) {
	const newToken = "0123456789abcdef-new"
	s := New(Options{Log: slog.New(slog.DiscardHandler), Info: Info{Version: "test"},
		Tokens: []Token{{Name: "old", Secret: testToken}}, RateLimit: 1000},
		Deps{Devices: func(context.Context) ([]DeviceView, error) { return []DeviceView{}, nil }})
	base := serve(t, s)
	status := func(token string) int {
		return do(t, "GET", base+"/api/media/devices", token, "", "", nil, nil).StatusCode
	}
	preflight := func(origin string) string {
		resp := do(t, "OPTIONS", base+"/api/media/sessions", "", "", "", map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST"}, nil)
		return resp.Header.Get("Access-Control-Allow-Origin")
	}
	if status(testToken) != http.StatusOK || status(newToken) != http.StatusUnauthorized {
		t.Fatal("before Update: the old token must pass, the new one not")
	}
	if got := preflight("https://ops.example"); got != "" {
		t.Fatalf("CORS before Update: %q", got)
	}

	s.Update(Live{Tokens: []Token{{Name: "new", Secret: newToken}}, CORSOrigins: []string{"https://ops.example"}, RateLimit: 1})
	if status(testToken) != http.StatusUnauthorized {
		t.Fatal("after Update: the removed token still passes")
	}
	if got := preflight("https://ops.example"); got != "https://ops.example" {
		t.Fatalf("CORS after Update: %q", got)
	}
	if got := preflight("https://evil.example"); got != "" {
		t.Fatalf("a foreign origin after Update: %q", got)
	}
	// RATE_LIMIT 1: a burst of 2, then 429 naming the new rate.
	codes := map[int]int{}
	for range 6 {
		codes[status(newToken)]++
	}
	if codes[http.StatusOK] == 0 || codes[http.StatusTooManyRequests] == 0 {
		t.Fatalf("six quick requests at RATE_LIMIT=1: %v", codes)
	}
	var e ErrorResponse
	do(t, "GET", base+"/api/media/devices", newToken, "", "", nil, &e)
	if want := "RATE_LIMIT=1 "; e.Error != "rate_limited" || !strings.Contains(e.Message, want) {
		t.Fatalf("429 body %+v, want %q in it", e, want)
	}
}
