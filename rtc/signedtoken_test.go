package rtc

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSignedTokenSessions: a signed token's caller ("jwt:" and its
// subject, up to 136 characters) is bounded by its own max_sessions
// (MaxTokenSessions, 429) before MAX_SESSIONS_PER_TOKEN, and its sessions
// show their token kind.
func TestSignedTokenSessions(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSessionsPerUser = 10
	cfg.MaxSessionsPerToken = 3
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	offer := offerOf(t, clientOptions{plid: s264.plid})
	sub := strings.Repeat("u", 128)
	req := CreateRequest{DeviceID: "dev1", UserID: sub, Token: "jwt:" + sub, TokenKind: "jwt", MaxTokenSessions: 2,
		Expires: time.Now().Add(time.Hour), MaxDuration: time.Hour, Offer: offer}
	for range 2 {
		s, _, err := r.m.Create(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if i := s.Info(); i.TokenKind != "jwt" || i.Token != "jwt:"+sub {
			t.Fatalf("info %+v", i)
		}
	}
	calls := r.p.calls.Load()
	_, _, err := r.m.Create(t.Context(), req)
	checkLimitError(t, err, LimitTokenMaxSessions, 2, http.StatusTooManyRequests)
	if r.p.calls.Load() != calls {
		t.Error("a refused session reached the provider")
	}
	// Without its own bound, MAX_SESSIONS_PER_TOKEN still holds.
	req.MaxTokenSessions = 0
	if _, _, err := r.m.Create(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	_, _, err = r.m.Create(t.Context(), req)
	checkLimitError(t, err, LimitSessionsPerToken, 3, http.StatusServiceUnavailable)
	// A static token's kind.
	s, _, err := r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: "u", Token: "ops", TokenKind: "static", Offer: offer})
	if err != nil || s.Info().TokenKind != "static" {
		t.Fatalf("static: %v", err)
	}
}
