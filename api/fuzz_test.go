package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudphone/media-service/media"
)

// FuzzCreateSessionBody sends arbitrary bodies to POST /api/media/sessions:
// the answer is always a 2xx or a 4xx with an error body, never a crash
// or a 5xx, and only well-formed requests reach the session manager.
func FuzzCreateSessionBody(f *testing.F) {
	for _, seed := range []string{
		`{"deviceId":"127.0.0.1:5555","userId":"u","offer":"v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"}`,
		`{"deviceId":"a;b","offer":"v=0 m=video"}`, `{`, `[]`, `null`, `{"deviceId":1}`, `{"offer":"\u0000"}`,
		`{"deviceId":"x","userId":"` + strings.Repeat("u", 200) + `","offer":"v=0 m=video"}`,
	} {
		f.Add([]byte(seed))
	}
	rec := &recordingSessions{}
	s := New(Options{AuthDisabled: true, RateLimit: 1_000_000, Log: slog.New(slog.DiscardHandler)}, Deps{Sessions: rec})
	f.Fuzz(func(t *testing.T, body []byte) {
		before := rec.creates
		req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/api/media/sessions", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		switch {
		case w.Code == http.StatusCreated:
			var r CreateSessionRequest
			if json.Unmarshal(body, &r) != nil || media.CheckDeviceID(r.DeviceID) != nil || validOffer(r.Offer) != nil {
				t.Fatalf("accepted %q", body)
			}
		case w.Code >= 400 && w.Code < 500:
			var e ErrorResponse
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" || e.Message == "" {
				t.Fatalf("%d without an error body: %q", w.Code, w.Body.String())
			}
			if rec.creates != before {
				t.Fatalf("rejected request %q reached the session manager", body)
			}
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}
