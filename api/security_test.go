package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/rtc"
)

// Secrets of the tokens below; none may reach a log.
const (
	aliceSecret  = "alice-secret-0123456789"
	plainSecret  = "plain-secret-0123456789"
	viewerSecret = "viewer-secret-0123456789"
	emuSecret    = "emu-secret-0123456789"
)

var testTokens = []Token{
	{Name: "alice", Secret: aliceSecret},
	{Secret: plainSecret}, // a plain secret: named token2 by its position
	{Name: "viewer", Secret: viewerSecret, ViewOnly: true},
	{Name: "emu", Secret: emuSecret, Devices: []string{"emulator-*"}},
}

// hit sends a request straight to the handler, from the TCP peer remote.
func hit(t *testing.T, s *Server, method, target, remote string, header map[string]string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), method, target, body)
	req.RemoteAddr = remote
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	return w
}

func bearer(secret string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + secret}
}

func with(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// stopClock stops the server's rate limit clocks, so that no bucket
// refills during a test.
func stopClock(s *Server) {
	at := time.Now()
	s.addrLimit.now = func() time.Time { return at }
	s.tokenLimit.now = func() time.Time { return at }
}

func errorBody(t *testing.T, w *httptest.ResponseRecorder) ErrorResponse {
	t.Helper()
	var e ErrorResponse
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" || e.Message == "" {
		t.Fatalf("%d without an error body: %q", w.Code, w.Body.String())
	}
	return e
}

func TestNamedTokensAndRights(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	rec := &recordingSessions{}
	s := New(Options{Tokens: testTokens, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, Deps{
		Sessions: rec,
		Devices: func(context.Context) ([]DeviceView, error) {
			return []DeviceView{{Serial: "127.0.0.1:5555", State: "device"}, {Serial: "emulator-5554", State: "device"}}, nil
		},
	})
	offer := browserOffer(t)
	create := func(secret, device string) *httptest.ResponseRecorder {
		b, _ := json.Marshal(CreateSessionRequest{DeviceID: device, UserID: "u", Offer: offer})
		return hit(t, s, "POST", "/api/media/sessions", "192.0.2.1:4000",
			with(bearer(secret), "Content-Type", "application/json"), strings.NewReader(string(b)))
	}
	for _, tc := range []struct {
		secret, device string
		want           Caller
	}{
		{aliceSecret, "127.0.0.1:5555", Caller{Token: "alice"}},
		{plainSecret, "127.0.0.1:5555", Caller{Token: "token2"}},
		{viewerSecret, "127.0.0.1:5555", Caller{Token: "viewer", ViewOnly: true}},
		{emuSecret, "emulator-5554", Caller{Token: "emu", Devices: []string{"emulator-*"}}},
	} {
		before := rec.creates
		if w := create(tc.secret, tc.device); w.Code != http.StatusCreated {
			t.Fatalf("%s: %d %s", tc.want.Token, w.Code, w.Body)
		}
		got := rec.callers[before]
		if got.Token != tc.want.Token || got.ViewOnly != tc.want.ViewOnly || strings.Join(got.Devices, ",") != strings.Join(tc.want.Devices, ",") ||
			got.Addr != netip.MustParseAddr("192.0.2.1") {
			t.Errorf("Create got %+v, want %+v from 192.0.2.1", got, tc.want)
		}
	}

	// A device the token may not open: 403 naming both, before Create.
	before := rec.creates
	w := create(emuSecret, "127.0.0.1:5555")
	if e := errorBody(t, w); w.Code != http.StatusForbidden || !strings.Contains(e.Message, `"emu"`) || !strings.Contains(e.Message, `"127.0.0.1:5555"`) {
		t.Fatalf("another device: %d %+v", w.Code, e)
	}
	w = hit(t, s, "POST", "/whep/127.0.0.1:5555", "192.0.2.1:4000", with(bearer(emuSecret), "Content-Type", "application/sdp"), strings.NewReader(offer))
	if e := errorBody(t, w); w.Code != http.StatusForbidden || !strings.Contains(e.Message, "emu") {
		t.Fatalf("WHEP, another device: %d %+v", w.Code, e)
	}
	if rec.creates != before {
		t.Fatal("a forbidden device reached the session manager")
	}
	// The restricted token lists only its devices.
	var d DevicesResponse
	w = hit(t, s, "GET", "/api/media/devices", "192.0.2.1:4000", bearer(emuSecret), nil)
	if json.Unmarshal(w.Body.Bytes(), &d) != nil || len(d.Devices) != 1 || d.Devices[0].Serial != "emulator-5554" {
		t.Fatalf("devices for emu: %d %s", w.Code, w.Body)
	}

	// Logs name the tokens, never their secrets.
	out := logs.String()
	for _, name := range []string{"token=alice", "token=token2", "token=viewer", "token=emu"} {
		if !strings.Contains(out, name) {
			t.Errorf("the logs do not name %s:\n%s", name, out)
		}
	}
	for _, tok := range testTokens {
		if strings.Contains(out, tok.Secret) {
			t.Errorf("a secret is in the logs: %s", tok.Secret)
		}
	}
}

func TestTokensSeeOnlyTheirSessions(t *testing.T) {
	rec := &recordingSessions{}
	s := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{Sessions: rec, ErrorStatus: func(error) int { return 404 }})
	offer := browserOffer(t)
	b, _ := json.Marshal(CreateSessionRequest{DeviceID: "127.0.0.1:5555", Offer: offer})
	if w := hit(t, s, "POST", "/api/media/sessions", "192.0.2.1:4000", with(bearer(aliceSecret), "Content-Type", "application/json"), strings.NewReader(string(b))); w.Code != 201 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var list SessionsResponse
	w := hit(t, s, "GET", "/api/media/sessions", "192.0.2.1:4000", bearer(plainSecret), nil)
	if json.Unmarshal(w.Body.Bytes(), &list) != nil || list.Sessions == nil || len(list.Sessions) != 0 {
		t.Fatalf("another token's list: %d %s", w.Code, w.Body)
	}
	for _, r := range []struct{ method, path, ct, body string }{
		{"GET", "/api/media/sessions/sess1", "", ""},
		{"DELETE", "/api/media/sessions/sess1", "", ""},
		{"POST", "/api/media/sessions/sess1/candidates", "application/json", `{"candidate":""}`},
		{"PATCH", "/whep/127.0.0.1:5555/sess1", "application/trickle-ice-sdpfrag", "a=end-of-candidates\r\n"},
		{"DELETE", "/whep/127.0.0.1:5555/sess1", "", ""},
	} {
		if w := hit(t, s, r.method, r.path, "192.0.2.1:4000", with(bearer(plainSecret), "Content-Type", r.ct), strings.NewReader(r.body)); w.Code != 404 {
			t.Errorf("another token's %s %s: %d", r.method, r.path, w.Code)
		}
	}
	w = hit(t, s, "GET", "/api/media/sessions", "192.0.2.1:4000", bearer(aliceSecret), nil)
	if json.Unmarshal(w.Body.Bytes(), &list) != nil || len(list.Sessions) != 1 {
		t.Fatalf("the owner's list: %d %s", w.Code, w.Body)
	}
	if w := hit(t, s, "DELETE", "/api/media/sessions/sess1", "192.0.2.1:4000", bearer(aliceSecret), nil); w.Code != 204 {
		t.Fatalf("the owner's delete: %d", w.Code)
	}
}

func TestClientAddress(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "127.0.0.1", "::ffff:192.0.2.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTrustedProxies([]string{"not-a-cidr"}); err == nil {
		t.Fatal("a bad entry parsed")
	}
	s := New(Options{TrustedProxies: trusted, Log: slog.New(slog.DiscardHandler)}, Deps{})
	for _, tc := range []struct {
		name, remote, xff, realIP, want string
		local                           bool
	}{
		{"direct", "203.0.113.5:1000", "", "", "203.0.113.5", false},
		{"spoofed from an untrusted peer", "203.0.113.5:1000", "198.51.100.1", "198.51.100.2", "203.0.113.5", false},
		{"spoofed loopback from an untrusted peer", "203.0.113.5:1000", "127.0.0.1", "", "203.0.113.5", false},
		{"loopback", "127.0.0.1:1000", "", "", "127.0.0.1", true},
		{"loopback, IPv6", "[::1]:1000", "", "", "::1", true},
		{"untrusted local proxy", "[::1]:1000", "203.0.113.9", "", "::1", false},
		{"trusted proxy", "10.1.2.3:1000", "198.51.100.7", "", "198.51.100.7", false},
		{"trusted chain", "10.1.2.3:1000", "6.6.6.6, 198.51.100.7, 10.9.9.9", "", "198.51.100.7", false},
		{"client's own header", "10.1.2.3:1000", "127.0.0.1, 198.51.100.7", "", "198.51.100.7", false},
		{"trusted proxy for a local client", "127.0.0.1:1000", "127.0.0.1", "", "127.0.0.1", true},
		{"trusted proxy, no header", "127.0.0.1:1000", "", "", "127.0.0.1", true},
		{"trusted proxy, X-Real-IP", "10.1.2.3:1000", "", "198.51.100.8", "198.51.100.8", false},
		{"trusted proxy, port in hop", "10.1.2.3:1000", "[2001:db8::1]:443", "", "2001:db8::1", false},
		{"trusted proxy, garbage", "10.1.2.3:1000", "garbage", "", "10.1.2.3", false},
		{"mapped peer", "[::ffff:192.0.2.9]:1000", "198.51.100.7", "", "198.51.100.7", false},
	} {
		req := httptest.NewRequestWithContext(context.Background(), "GET", "/", nil)
		req.RemoteAddr = tc.remote
		if tc.xff != "" {
			req.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.realIP != "" {
			req.Header.Set("X-Real-IP", tc.realIP)
		}
		if got, _ := s.clientAddr(req); got.String() != tc.want {
			t.Errorf("%s: client %s, want %s", tc.name, got, tc.want)
		}
		if got := s.isLocal(req); got != tc.local {
			t.Errorf("%s: local %v, want %v", tc.name, got, tc.local)
		}
	}
	if k1, k2 := addrKey(netip.MustParseAddr("2001:db8::1")), addrKey(netip.MustParseAddr("2001:db8::ffff")); k1 != k2 {
		t.Errorf("one IPv6 /64, two keys: %s %s", k1, k2)
	}
}

func TestRateLimitIgnoresUntrustedForwarding(t *testing.T) {
	devs := Deps{Devices: func(context.Context) ([]DeviceView, error) { return []DeviceView{}, nil }}
	count := func(s *Server, remote string, header func(i int) map[string]string) (ok, limited int) {
		for i := range 40 {
			w := hit(t, s, "GET", "/api/media/devices", remote, header(i), nil)
			switch w.Code {
			case 200:
				ok++
			case 429:
				limited++
				if w.Header().Get("Retry-After") == "" || !strings.Contains(errorBody(t, w).Message, "RATE_LIMIT=2") {
					t.Fatalf("429 without Retry-After or naming the limit: %v %s", w.Header(), w.Body)
				}
			default:
				t.Fatalf("status %d", w.Code)
			}
		}
		return ok, limited
	}
	rotate := func(i int) map[string]string {
		return map[string]string{"X-Forwarded-For": netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String(), "X-Real-IP": "10.1.1.1"}
	}

	// AUTH_DISABLED: the address is the principal; rotating headers from
	// an untrusted peer change nothing.
	open := New(Options{AuthDisabled: true, RateLimit: 2, Log: slog.New(slog.DiscardHandler)}, devs)
	stopClock(open)
	if ok, limited := count(open, "198.51.100.7:5000", rotate); ok != 4 || limited != 36 {
		t.Fatalf("rotating X-Forwarded-For from an untrusted peer: %d admitted, %d limited; want the burst of 4", ok, limited)
	}
	// From a trusted proxy, the header tells the clients apart.
	proxied := New(Options{AuthDisabled: true, RateLimit: 2, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		Log: slog.New(slog.DiscardHandler)}, devs)
	stopClock(proxied)
	if ok, limited := count(proxied, "198.51.100.7:5000", rotate); ok != 40 || limited != 0 {
		t.Fatalf("40 clients behind a trusted proxy: %d admitted, %d limited", ok, limited)
	}
	if ok, _ := count(proxied, "198.51.100.7:5000", func(int) map[string]string { return map[string]string{"X-Forwarded-For": "192.0.2.44"} }); ok != 4 {
		t.Fatalf("one client behind a trusted proxy: %d admitted, want the burst of 4", ok)
	}

	// With tokens: an unauthenticated flood that spoofs loopback does not
	// lock out a loopback client, nor one with a valid token elsewhere.
	s := New(Options{Tokens: testTokens, RateLimit: 2, Log: slog.New(slog.DiscardHandler)}, devs)
	stopClock(s)
	for range 40 {
		hit(t, s, "GET", "/api/media/devices", "203.0.113.5:5000", with(bearer("wrong-secret-0123456789"), "X-Forwarded-For", "127.0.0.1"), nil)
	}
	if w := hit(t, s, "GET", "/api/media/devices", "203.0.113.5:5000", bearer("wrong-secret-0123456789"), nil); w.Code != 429 {
		t.Fatalf("the flooding address: %d", w.Code)
	}
	if w := hit(t, s, "GET", "/api/media/devices", "127.0.0.1:5000", bearer(aliceSecret), nil); w.Code != 200 {
		t.Fatalf("a loopback client after a flood spoofing loopback: %d %s", w.Code, w.Body)
	}
	if w := hit(t, s, "GET", "/metrics", "127.0.0.1:5000", nil, nil); w.Code != 200 {
		t.Fatalf("/metrics for a loopback client after the flood: %d", w.Code)
	}
	// A token has its own budget, whatever the address.
	ok, limited := count(s, "192.0.2.1:5000", func(i int) map[string]string { return bearer(plainSecret) })
	if ok != 4 || limited != 36 {
		t.Fatalf("one token: %d admitted, %d limited", ok, limited)
	}
}

// countingReader counts reads of a request body.
type countingReader struct {
	r     io.Reader
	reads *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) { c.reads.Add(1); return c.r.Read(p) }

func TestUnauthenticatedFloodLimitedBeforeAuth(t *testing.T) {
	rec := &recordingSessions{}
	s := New(Options{Tokens: testTokens, RateLimit: 2, Log: slog.New(slog.DiscardHandler)}, Deps{Sessions: rec})
	stopClock(s)
	var reads atomic.Int64
	codes := map[int]int{}
	for range 50 {
		body := countingReader{strings.NewReader(`{"deviceId":"dev","offer":"v=0"}`), &reads}
		w := hit(t, s, "POST", "/api/media/sessions", "203.0.113.5:5000", with(bearer("wrong-secret-0123456789"), "Content-Type", "application/json"), body)
		codes[w.Code]++
	}
	if codes[401] != 4 || codes[429] != 46 {
		t.Fatalf("50 unauthenticated requests: %v; want the burst of 4 answered 401, the rest 429", codes)
	}
	if n := s.authChecks.Load(); n != 4 {
		t.Fatalf("%d token comparisons for 50 requests; want only the burst's 4", n)
	}
	if reads.Load() != 0 || rec.creates != 0 {
		t.Fatalf("rejected requests were read (%d reads) or reached the session manager (%d)", reads.Load(), rec.creates)
	}
	// Another address is not affected.
	offer := browserOffer(t)
	b, _ := json.Marshal(CreateSessionRequest{DeviceID: "dev", Offer: offer})
	if w := hit(t, s, "POST", "/api/media/sessions", "192.0.2.1:5000", with(bearer(aliceSecret), "Content-Type", "application/json"), strings.NewReader(string(b))); w.Code != 201 {
		t.Fatalf("another client: %d %s", w.Code, w.Body)
	}
}

func TestUnknownPathsAndLoopbackOnly(t *testing.T) {
	s := New(Options{Tokens: testTokens, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Log: slog.New(slog.DiscardHandler)}, Deps{})
	remote := "203.0.113.9:4000"
	for _, p := range []string{"/nope", "/api/media/nope", "/api/media/sessions/x/y/z", "/whep", "/debug/nope", "/metricsx", "/.env"} {
		w := hit(t, s, "GET", p, remote, nil, nil)
		if e := errorBody(t, w); w.Code != 404 || e.Error != "not_found" {
			t.Errorf("GET %s off loopback: %d %+v", p, w.Code, e)
		}
		if w := hit(t, s, "GET", p, "127.0.0.1:4000", nil, nil); w.Code != 404 {
			t.Errorf("GET %s on loopback: %d", p, w.Code)
		}
	}
	for _, tc := range []struct {
		name, remote string
		header       map[string]string
		want         int
	}{
		{"off loopback", remote, nil, 403},
		{"loopback", "127.0.0.1:4000", nil, 200},
		{"loopback peer relaying", "127.0.0.1:4000", map[string]string{"X-Forwarded-For": "127.0.0.1"}, 403},
		{"spoofed loopback", remote, map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}, 403},
		{"trusted proxy, remote client", "10.0.0.2:4000", map[string]string{"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}, 403},
		{"token", remote, bearer(aliceSecret), 200},
		{"view-only token", remote, bearer(viewerSecret), 403},
		{"device-restricted token", remote, bearer(emuSecret), 403},
		{"wrong token", remote, bearer("wrong-secret-0123456789"), 403},
	} {
		for _, p := range []string{"/metrics", "/debug/pprof/heap"} {
			if w := hit(t, s, "GET", p, tc.remote, tc.header, nil); w.Code != tc.want {
				t.Errorf("%s %s: %d, want %d", tc.name, p, w.Code, tc.want)
			}
		}
	}
}

func TestReady(t *testing.T) {
	var draining atomic.Bool
	s := New(Options{Log: slog.New(slog.DiscardHandler), Ready: func() error {
		if draining.Load() {
			return errors.New("draining: not taking new sessions")
		}
		return nil
	}}, Deps{})
	var r ReadyResponse
	w := hit(t, s, "GET", "/ready", "203.0.113.9:4000", nil, nil)
	if json.Unmarshal(w.Body.Bytes(), &r) != nil || w.Code != 200 || !r.Ready {
		t.Fatalf("ready: %d %s", w.Code, w.Body)
	}
	draining.Store(true)
	w = hit(t, s, "GET", "/ready", "203.0.113.9:4000", nil, nil)
	r = ReadyResponse{}
	if json.Unmarshal(w.Body.Bytes(), &r) != nil || w.Code != 503 || r.Ready || r.Error != "unavailable" || !strings.Contains(r.Message, "draining") ||
		w.Header().Get("Retry-After") == "" {
		t.Fatalf("draining: %d %v %s", w.Code, w.Header(), w.Body)
	}
	always := New(Options{Log: slog.New(slog.DiscardHandler)}, Deps{})
	if w := hit(t, always, "GET", "/ready", "203.0.113.9:4000", nil, nil); w.Code != 200 {
		t.Fatalf("no Ready func: %d", w.Code)
	}
}

func TestEvery503CarriesRetryAfter(t *testing.T) {
	unavailable := rtc.ErrBadRequest // any error; ErrorStatus below maps it
	rec := &recordingSessions{fail: unavailable}
	s := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{Sessions: rec, ErrorStatus: func(error) int { return 503 }})
	b, _ := json.Marshal(CreateSessionRequest{DeviceID: "dev", Offer: browserOffer(t)})
	w := hit(t, s, "POST", "/api/media/sessions", "192.0.2.1:4000", with(bearer(aliceSecret), "Content-Type", "application/json"), strings.NewReader(string(b)))
	if e := errorBody(t, w); w.Code != 503 || e.Error != "unavailable" || w.Header().Get("Retry-After") != retryAfter {
		t.Fatalf("a session limit: %d %v %+v", w.Code, w.Header(), e)
	}
	none := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{})
	for _, p := range []string{"/api/media/devices", "/api/media/sessions"} {
		if w := hit(t, none, "GET", p, "192.0.2.1:4000", bearer(aliceSecret), nil); w.Code != 503 || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s unconfigured: %d %v", p, w.Code, w.Header())
		}
	}
}

func TestReferrerPolicy(t *testing.T) {
	s := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{})
	for _, p := range []string{"/", "/health", "/api/media/devices", "/nope"} {
		w := hit(t, s, "GET", p, "192.0.2.1:4000", nil, nil)
		if got := w.Header().Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s (%d): Referrer-Policy %q", p, w.Code, got)
		}
	}
	if !strings.Contains(string(viewerPage), `history.replaceState`) || !strings.Contains(string(viewerPage), `<meta name="referrer" content="no-referrer">`) {
		t.Error("the viewer page does not strip the token from the address bar, or lacks its referrer policy")
	}
}

func TestPprofProfileOutlivesTheWriteTimeout(t *testing.T) {
	s := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{})
	// A 2 s profile against a 1 s write timeout: the timeout is the
	// margin the profile's end and its writing get, which a loaded
	// machine needs.
	s.t.write = time.Second
	base := serve(t, s)
	resp := do(t, "GET", base+"/debug/pprof/profile?seconds=2", "", "", "", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("profile: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := do(t, "GET", base+"/health", "", "", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("health: %d", resp.StatusCode)
	}
}
