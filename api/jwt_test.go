package api

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/media"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Secrets of the signed tokens below (HS256: at least 32 bytes).
const (
	hsSecret    = "hs256-secret-one-0123456789abcdef0123"
	hsSecretTwo = "hs256-secret-two-0123456789abcdef0123"
	devA        = "emulator-5554"
	devB        = "10.0.0.7:5555"
)

// Key pairs for RS256 and EdDSA, made once: RSA keys are slow to make.
var testKeys = sync.OnceValue(func() (k struct {
	rsa1, rsa2 *rsa.PrivateKey
	ed1, ed2   ed25519.PrivateKey
}) {
	var err error
	for _, p := range []**rsa.PrivateKey{&k.rsa1, &k.rsa2} {
		if *p, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	}
	for _, p := range []*ed25519.PrivateKey{&k.ed1, &k.ed2} {
		if _, *p, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	}
	return k
})

// mint signs claims with key, naming kid when not empty.
func mint(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claimsAt are the claims of a token of sub for devices, valid from now
// for ttl; control grants input.
func claimsAt(now time.Time, sub string, devices []string, control bool, ttl time.Duration) jwt.MapClaims {
	c := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	if devices != nil {
		c["devices"] = devices
	}
	if control {
		c["control"] = true
	}
	return c
}

// jwtSessions is a Sessions that records what it was asked, and lists
// the sessions it made as the service would.
type jwtSessions struct {
	mu      sync.Mutex
	created []created
}

type created struct {
	caller       Caller
	device, user string
}

func (s *jwtSessions) Create(ctx context.Context, c Caller, device, user, offer string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if CallerFrom(ctx).Token != c.Token {
		panic("the context carries another caller")
	}
	s.created = append(s.created, created{c, device, user})
	return fmt.Sprintf("s%d", len(s.created)), "v=0 answer", nil
}

func (s *jwtSessions) List() []SessionView {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SessionView
	for i, c := range s.created {
		out = append(out, SessionView{ID: fmt.Sprintf("s%d", i+1), DeviceID: c.device, UserID: c.user, Token: c.caller.Token,
			TokenKind: c.caller.Kind, ViewOnly: c.caller.ViewOnly})
	}
	return out
}
func (s *jwtSessions) Get(id string) (SessionView, error) {
	for _, v := range s.List() {
		if v.ID == id {
			return v, nil
		}
	}
	return SessionView{}, errUnknown
}
func (s *jwtSessions) Delete(id string) error               { _, err := s.Get(id); return err }
func (s *jwtSessions) AddCandidate(id, c string) error      { return s.Delete(id) }
func (s *jwtSessions) AddSDPFragment(id, frag string) error { return s.Delete(id) }

func (s *jwtSessions) last() created {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.created[len(s.created)-1]
}

func (s *jwtSessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.created)
}

// jwtRig is a server with the static test tokens and signed tokens
// verified by v, over two devices, A and B.
type jwtRig struct {
	s    *Server
	v    *Verifier
	rec  *jwtSessions
	logs *testutil.SyncBuffer
	// now is the verifier's clock.
	now atomic.Pointer[time.Time]
}

func newJWTRig(t *testing.T, o JWTOptions) *jwtRig {
	t.Helper()
	r := &jwtRig{rec: &jwtSessions{}, logs: &testutil.SyncBuffer{}}
	start := time.Now()
	r.now.Store(&start)
	if o.Now == nil {
		o.Now = func() time.Time { return *r.now.Load() }
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o.Log = log
	v, err := NewVerifier(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	r.v = v
	devices := func(context.Context) ([]DeviceView, error) {
		return []DeviceView{{Serial: devA, State: "device"}, {Serial: devB, State: "device"}}, nil
	}
	stats := func() StatsResponse {
		return StatsResponse{Devices: []DeviceStatsView{{Serial: devA}, {Serial: devB}}, Sessions: []SessionView{{ID: "x", DeviceID: devB}}}
	}
	r.s = New(Options{Tokens: testTokens, JWT: v, RateLimit: 10_000, Log: log}, Deps{Sessions: r.rec, Devices: devices, Stats: stats})
	return r
}

// advance moves the verifier's clock.
func (r *jwtRig) advance(d time.Duration) {
	n := r.now.Load().Add(d)
	r.now.Store(&n)
}

func (r *jwtRig) clock() time.Time { return *r.now.Load() }

// call sends a request with the bearer token tok from a client address.
func (r *jwtRig) call(t *testing.T, method, target, tok, contentType, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	h := map[string]string{}
	if tok != "" {
		h["Authorization"] = "Bearer " + tok
	}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	return hit(t, r.s, method, target, "192.0.2.10:40000", with(h, header...), strings.NewReader(body))
}

// createBody is a POST /api/media/sessions body; user "" leaves userId
// out.
func createBody(t *testing.T, device, user string) string {
	t.Helper()
	m := map[string]string{"deviceId": device, "offer": testOffer(t)}
	if user != "" {
		m["userId"] = user
	}
	b, _ := json.Marshal(m)
	return string(b)
}

var testOffer = func() func(t *testing.T) string {
	var once sync.Once
	var offer string
	return func(t *testing.T) string {
		once.Do(func() { offer = browserOffer(t) })
		return offer
	}
}()

// refused checks a 401 with the usual error body, whose message is one
// line naming want.
func refused(t *testing.T, w *httptest.ResponseRecorder, want string) {
	t.Helper()
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d (%s), want 401 saying %q", w.Code, w.Body.String(), want)
	}
	e := errorBody(t, w)
	if e.Error != "unauthorized" || !strings.Contains(e.Message, want) || strings.ContainsAny(e.Message, "\r\n") {
		t.Fatalf("401 body %+v, want one line with %q", e, want)
	}
	if w.Header().Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
}

// TestSignedTokenRights: a token minted with the shared secret for device
// A, view only, valid 60 s: A may be listed and opened (the session is
// the token's subject's, view only), B is refused, another userId is
// refused, and once the token has expired (past the leeway) it is 401.
func TestSignedTokenRights(t *testing.T) {
	r := newJWTRig(t, JWTOptions{HS256Secrets: []string{hsSecret}, Leeway: 5 * time.Second})
	exp := r.clock().Add(60 * time.Second)
	tok := mint(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claimsAt(r.clock(), "alice", []string{devA}, false, 60*time.Second))

	// The lists show A only.
	w := r.call(t, "GET", "/api/media/devices", tok, "", "")
	var devs DevicesResponse
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &devs) != nil || len(devs.Devices) != 1 || devs.Devices[0].Serial != devA {
		t.Fatalf("devices: %d %s", w.Code, w.Body.String())
	}
	var st StatsResponse
	if w := r.call(t, "GET", "/api/media/stats", tok, "", ""); w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &st) != nil ||
		len(st.Devices) != 1 || len(st.Sessions) != 0 {
		t.Fatalf("stats: %d %s", w.Code, w.Body.String())
	}

	// POST for A: the user is the token's subject, the session view only.
	if w := r.call(t, "POST", "/api/media/sessions", tok, "application/json", createBody(t, devA, "")); w.Code != http.StatusCreated {
		t.Fatalf("create for A: %d %s", w.Code, w.Body.String())
	}
	got := r.rec.last()
	c := got.caller
	if got.user != "alice" || got.device != devA || c.Kind != KindJWT || c.Subject != "alice" || c.Token != "jwt:alice" ||
		c.Principal() != "jwt:alice" || !c.ViewOnly || !c.Expires.Equal(exp.Truncate(time.Second)) || c.MaxSessions != 0 || c.MaxSessionDuration != 0 ||
		len(c.Devices) != 1 || c.Checked.IsZero() {
		t.Fatalf("created %+v", got)
	}
	// Naming the subject is the same; naming another user is 403.
	if w := r.call(t, "POST", "/api/media/sessions", tok, "application/json", createBody(t, devA, "alice")); w.Code != http.StatusCreated {
		t.Fatalf("create as alice: %d %s", w.Code, w.Body.String())
	}
	n := r.rec.count()
	w = r.call(t, "POST", "/api/media/sessions", tok, "application/json", createBody(t, devA, "bob"))
	if e := errorBody(t, w); w.Code != http.StatusForbidden || !strings.Contains(e.Message, `userId "bob" is not the signed token's subject "alice"`) {
		t.Fatalf("another userId: %d %+v", w.Code, e)
	}
	// B is not the token's.
	w = r.call(t, "POST", "/api/media/sessions", tok, "application/json", createBody(t, devB, ""))
	if e := errorBody(t, w); w.Code != http.StatusForbidden || !strings.Contains(e.Message, devB) {
		t.Fatalf("create for B: %d %+v", w.Code, e)
	}
	// WHEP: X-User-Id follows the same rule.
	if w := r.call(t, "POST", "/whep/"+devA, tok, "application/sdp", testOffer(t)); w.Code != http.StatusCreated || r.rec.last().user != "alice" {
		t.Fatalf("WHEP for A: %d %s, user %q", w.Code, w.Body.String(), r.rec.last().user)
	}
	if w := r.call(t, "POST", "/whep/"+devA, tok, "application/sdp", testOffer(t), "X-User-Id", "alice"); w.Code != http.StatusCreated {
		t.Fatalf("WHEP as alice: %d", w.Code)
	}
	w = r.call(t, "POST", "/whep/"+devA, tok, "application/sdp", testOffer(t), "X-User-Id", "mallory")
	if e := errorBody(t, w); w.Code != http.StatusForbidden || !strings.Contains(e.Message, "X-User-Id") {
		t.Fatalf("WHEP as mallory: %d %+v", w.Code, e)
	}
	if w := r.call(t, "POST", "/whep/"+devB, tok, "application/sdp", testOffer(t)); w.Code != http.StatusForbidden {
		t.Fatalf("WHEP for B: %d", w.Code)
	}
	if r.rec.count() != n+2 {
		t.Fatalf("%d sessions made, want %d: a refused request reached the session manager", r.rec.count(), n+2)
	}
	for _, cr := range r.rec.created {
		if !cr.caller.ViewOnly || cr.user != "alice" {
			t.Fatalf("session %+v: want view only, of alice", cr)
		}
	}

	// The session list: the subject's own, with their kind.
	var list SessionsResponse
	if w := r.call(t, "GET", "/api/media/sessions", tok, "", ""); w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &list) != nil || len(list.Sessions) != n+2 {
		t.Fatalf("list: %d %s", w.Code, w.Body.String())
	}
	for _, s := range list.Sessions {
		if s.TokenKind != KindJWT || s.Token != "jwt:alice" || !s.ViewOnly {
			t.Fatalf("listed %+v", s)
		}
	}
	if !strings.Contains(r.logs.String(), "token_kind=jwt") {
		t.Errorf("the session created lines do not name the token's kind:\n%s", r.logs.String())
	}
	// A static token sees none of them.
	if w := r.call(t, "GET", "/api/media/sessions", aliceSecret, "", ""); !strings.Contains(w.Body.String(), `"sessions":[]`) {
		t.Fatalf("a static token sees the signed token's sessions: %s", w.Body.String())
	}

	// Within the leeway after exp it still passes; past it, 401.
	r.advance(63 * time.Second)
	if w := r.call(t, "GET", "/api/media/devices", tok, "", ""); w.Code != 200 {
		t.Fatalf("within the leeway: %d %s", w.Code, w.Body.String())
	}
	r.advance(5 * time.Second)
	refused(t, r.call(t, "GET", "/api/media/devices", tok, "", ""), "signed token: expired")
	refused(t, r.call(t, "POST", "/api/media/sessions", tok, "application/json", createBody(t, devA, "")), "expired")

	// control, max_sessions and max_session_seconds reach the caller.
	claims := claimsAt(r.clock(), "ops@example.com", []string{"emulator-*"}, true, time.Hour)
	claims["max_sessions"], claims["max_session_seconds"] = 2, 600
	tok = mint(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claims)
	if w := r.call(t, "POST", "/api/media/sessions", tok, "application/json", createBody(t, devA, "")); w.Code != http.StatusCreated {
		t.Fatalf("create with control: %d %s", w.Code, w.Body.String())
	}
	if c := r.rec.last().caller; c.ViewOnly || c.MaxSessions != 2 || c.MaxSessionDuration != 10*time.Minute || c.Subject != "ops@example.com" || r.rec.last().user != "ops@example.com" {
		t.Fatalf("caller %+v", c)
	}
}

// TestSignedTokenWithoutDevicesOpensNothing: a signed token without the
// devices claim, or with an empty one, lists and opens no device (a
// static token without devices opens all).
func TestSignedTokenWithoutDevicesOpensNothing(t *testing.T) {
	r := newJWTRig(t, JWTOptions{HS256Secrets: []string{hsSecret}})
	for _, devices := range [][]string{nil, {}} {
		tok := mint(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claimsAt(r.clock(), "alice", devices, true, time.Minute))
		if w := r.call(t, "GET", "/api/media/devices", tok, "", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"devices":[]`) {
			t.Fatalf("devices %v: %d %s", devices, w.Code, w.Body.String())
		}
		if w := r.call(t, "GET", "/api/media/stats", tok, "", ""); w.Code != 200 || strings.Contains(w.Body.String(), devA) || strings.Contains(w.Body.String(), devB) {
			t.Fatalf("stats %v: %d %s", devices, w.Code, w.Body.String())
		}
		for _, d := range []string{devA, devB} {
			if w := r.call(t, "POST", "/api/media/sessions", tok, "application/json", createBody(t, d, "")); w.Code != http.StatusForbidden {
				t.Fatalf("devices %v, open %s: %d", devices, d, w.Code)
			}
			if w := r.call(t, "POST", "/whep/"+d, tok, "application/sdp", testOffer(t)); w.Code != http.StatusForbidden {
				t.Fatalf("devices %v, WHEP %s: %d", devices, d, w.Code)
			}
		}
	}
	if (Caller{Kind: KindJWT}).MayOpen(devA) || !(Caller{Kind: KindStatic}).MayOpen(devA) || !(Caller{}).MayOpen(devA) {
		t.Fatal("MayOpen: a signed token without devices opens none; a static one without devices, or none, opens all")
	}
	if r.rec.count() != 0 {
		t.Fatal("a refused request reached the session manager")
	}
}

// TestStaticTokensUnchanged: with signed tokens configured, the static
// tokens keep their names and rights; a bearer that is not shaped as a
// JWT is compared with them only.
func TestStaticTokensUnchanged(t *testing.T) {
	r := newJWTRig(t, JWTOptions{HS256Secrets: []string{hsSecret}})
	if w := r.call(t, "POST", "/api/media/sessions", aliceSecret, "application/json", createBody(t, devB, "bob")); w.Code != http.StatusCreated {
		t.Fatalf("static alice: %d %s", w.Code, w.Body.String())
	}
	if c := r.rec.last(); c.caller.Kind != KindStatic || c.caller.Token != "alice" || c.user != "bob" || c.caller.ViewOnly || c.caller.Principal() != "token:alice" {
		t.Fatalf("static caller %+v", c)
	}
	if w := r.call(t, "POST", "/api/media/sessions", aliceSecret, "application/json", createBody(t, devB, "")); w.Code != http.StatusCreated || r.rec.last().user != "anonymous" {
		t.Fatalf("static, no userId: %d, user %q", w.Code, r.rec.last().user)
	}
	if w := r.call(t, "POST", "/api/media/sessions", emuSecret, "application/json", createBody(t, devB, "")); w.Code != http.StatusForbidden {
		t.Fatalf("emu token on B: %d", w.Code)
	}
	if w := r.call(t, "GET", "/api/media/devices", plainSecret, "", ""); w.Code != 200 || !strings.Contains(w.Body.String(), devB) {
		t.Fatalf("plain token: %d %s", w.Code, w.Body.String())
	}
	if w := r.call(t, "POST", "/api/media/sessions", viewerSecret, "application/json", createBody(t, devA, "")); w.Code != 201 || !r.rec.last().caller.ViewOnly {
		t.Fatalf("viewer token: %d", w.Code)
	}
	// Not JWTs: the static path, its usual message.
	for _, tok := range []string{"a.b.c", "not-a-token-0123456789", "x.y", base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".e30.x"} {
		w := r.call(t, "GET", "/api/media/devices", tok, "", "")
		if e := errorBody(t, w); w.Code != 401 || e.Message != "a valid bearer token is required" {
			t.Fatalf("%q: %d %+v", tok, w.Code, e)
		}
	}
	// Without a verifier, a JWT is just an unknown static token.
	s := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{Devices: func(context.Context) ([]DeviceView, error) { return nil, nil }})
	tok := mint(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claimsAt(time.Now(), "alice", []string{devA}, true, time.Minute))
	w := hit(t, s, "GET", "/api/media/devices", "192.0.2.1:1", bearer(tok), nil)
	if e := errorBody(t, w); w.Code != 401 || e.Message != "a valid bearer token is required" {
		t.Fatalf("a JWT without signed tokens configured: %d %+v", w.Code, e)
	}
	// Operator endpoints take static tokens only.
	if w := r.call(t, "GET", "/metrics", tok, "", ""); w.Code != http.StatusForbidden {
		t.Fatalf("/metrics with a signed token: %d", w.Code)
	}
}

// TestSignedTokenRefused: every bad token is 401 with one line saying
// why, reaches no session, and the refusals are logged at most once a
// second.
func TestSignedTokenRefused(t *testing.T) {
	k := testKeys()
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &k.rsa1.PublicKey)})
	keysFile := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(keysFile, pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	r := newJWTRig(t, JWTOptions{HS256Secrets: []string{hsSecret}, KeysFile: keysFile, Audience: "media", Issuer: "https://idp.example"})
	now := r.clock()
	good := func() jwt.MapClaims {
		c := claimsAt(now, "alice", []string{devA}, true, time.Minute)
		c["aud"], c["iss"] = []string{"other", "media"}, "https://idp.example"
		return c
	}
	edit := func(f func(jwt.MapClaims)) jwt.MapClaims { c := good(); f(c); return c }
	hs := func(c jwt.MapClaims) string { return mint(t, jwt.SigningMethodHS256, []byte(hsSecret), "", c) }
	// The baseline passes, with either key.
	for _, tok := range []string{hs(good()), mint(t, jwt.SigningMethodRS256, k.rsa1, "", good())} {
		if w := r.call(t, "GET", "/api/media/devices", tok, "", ""); w.Code != 200 {
			t.Fatalf("the good token: %d %s", w.Code, w.Body.String())
		}
	}
	none := mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", good())
	parts := strings.Split(hs(good()), ".")
	for _, tc := range []struct{ name, tok, want string }{
		{"alg none", none, `algorithm "none" is not accepted`},
		{"alg none, a signature added", none + parts[2], `algorithm "none"`},
		{"wrong secret", mint(t, jwt.SigningMethodHS256, []byte(hsSecretTwo), "", good()), "bad signature"},
		{"wrong key pair", mint(t, jwt.SigningMethodRS256, k.rsa2, "", good()), "bad signature"},
		{"HS256 keyed with the public key", mint(t, jwt.SigningMethodHS256, pubPEM, "", good()), "bad signature"},
		{"EdDSA without such a key", mint(t, jwt.SigningMethodEdDSA, k.ed1, "", good()), "no EdDSA key is configured"},
		{"HS384", mint(t, jwt.SigningMethodHS384, []byte(hsSecret), "", good()), `algorithm "HS384" is not accepted`},
		{"tampered claims", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"root","exp":9999999999,"devices":["*"],"control":true}`)) + "." + parts[2], "bad signature"},
		{"expired", hs(edit(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), "expired"},
		{"not yet valid", hs(edit(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), "not valid yet (nbf)"},
		{"issued in the future", hs(edit(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() })), "issued in the future"},
		{"no exp", hs(edit(func(c jwt.MapClaims) { delete(c, "exp") })), "exp is missing"},
		{"wrong audience", hs(edit(func(c jwt.MapClaims) { c["aud"] = "other" })), "aud does not name this service"},
		{"no audience", hs(edit(func(c jwt.MapClaims) { delete(c, "aud") })), "aud is missing (required)"},
		{"wrong issuer", hs(edit(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), "iss is not the accepted issuer"},
		{"no sub", hs(edit(func(c jwt.MapClaims) { delete(c, "sub") })), "sub (the user) is missing"},
		{"bad sub", hs(edit(func(c jwt.MapClaims) { c["sub"] = "$(id)" })), "sub:"},
		{"devices not a list", hs(edit(func(c jwt.MapClaims) { c["devices"] = devA })), "malformed"},
		{"bad device pattern", hs(edit(func(c jwt.MapClaims) { c["devices"] = []string{"["} })), "devices:"},
		{"control not a boolean", hs(edit(func(c jwt.MapClaims) { c["control"] = "yes" })), "malformed"},
		{"negative max_sessions", hs(edit(func(c jwt.MapClaims) { c["max_sessions"] = -1 })), "max_sessions"},
		{"unknown kid", mint(t, jwt.SigningMethodRS256, k.rsa2, "nope", good()), "bad signature"},
		{"garbage payload", parts[0] + ".!!!." + parts[2], "malformed"},
		{"too long", parts[0] + "." + strings.Repeat("A", maxJWTBytes) + "." + parts[2], "longer than"},
	} {
		w := r.call(t, "GET", "/api/media/devices", tc.tok, "", "")
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", tc.name, w.Code, w.Body.String())
			continue
		}
		if e := errorBody(t, w); !strings.HasPrefix(e.Message, "signed token: ") || !strings.Contains(e.Message, tc.want) || strings.ContainsAny(e.Message, "\r\n") {
			t.Errorf("%s: message %q, want one line with %q", tc.name, e.Message, tc.want)
		}
		if w := r.call(t, "POST", "/api/media/sessions", tc.tok, "application/json", createBody(t, devA, "")); w.Code != 401 {
			t.Errorf("%s: create %d", tc.name, w.Code)
		}
	}
	if r.rec.count() != 0 {
		t.Fatal("a bad token reached the session manager")
	}
	// A burst of refusals: one line (within a second), the rest counted.
	if n := strings.Count(r.logs.String(), "signed token refused"); n < 1 || n > 3 {
		t.Errorf("%d lines for the refusals, want about one a second:\n%s", n, r.logs.String())
	}
	// HS256 when no secret is configured: refused before any check.
	r2 := newJWTRig(t, JWTOptions{KeysFile: keysFile})
	refused(t, r2.call(t, "GET", "/api/media/devices", hs(good()), "", ""), `algorithm "HS256" is not accepted (accepted: RS256, EdDSA)`)
	refused(t, r2.call(t, "GET", "/api/media/devices", mint(t, jwt.SigningMethodHS256, pubPEM, "", good()), "", ""), `"HS256" is not accepted`)
	if w := r2.call(t, "GET", "/api/media/devices", mint(t, jwt.SigningMethodRS256, k.rsa1, "", good()), "", ""); w.Code != 200 {
		t.Fatalf("RS256 with the file's key: %d %s", w.Code, w.Body.String())
	}
}

func mustPKIX(t testing.TB, pub any) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignedTokenSecretRotation: with two secrets, tokens signed with
// either pass, and one signed with a third does not.
func TestSignedTokenSecretRotation(t *testing.T) {
	r := newJWTRig(t, JWTOptions{HS256Secrets: []string{hsSecretTwo, hsSecret}})
	for _, secret := range []string{hsSecret, hsSecretTwo} {
		tok := mint(t, jwt.SigningMethodHS256, []byte(secret), "", claimsAt(r.clock(), "alice", []string{devA}, false, time.Minute))
		if w := r.call(t, "GET", "/api/media/devices", tok, "", ""); w.Code != 200 {
			t.Fatalf("secret %q: %d %s", secret[:17], w.Code, w.Body.String())
		}
	}
	tok := mint(t, jwt.SigningMethodHS256, []byte("hs256-secret-three-0123456789abcdef"), "", claimsAt(r.clock(), "alice", []string{devA}, false, time.Minute))
	refused(t, r.call(t, "GET", "/api/media/devices", tok, "", ""), "bad signature")
	if _, err := NewVerifier(t.Context(), JWTOptions{HS256Secrets: []string{"short"}}); err == nil || !strings.Contains(err.Error(), "JWT_HS256_SECRETS") {
		t.Fatalf("a short secret: %v", err)
	}
}

// jwksServer serves a JWK Set that a test changes, and counts the
// fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	set     []byte
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	j := &jwksServer{}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(j.set)
	}))
	t.Cleanup(j.Close)
	return j
}

// serve makes the set the keys given by kid.
func (j *jwksServer) serve(t *testing.T, keys map[string]any) {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.set = jwksJSON(t, keys)
}

// jwksJSON is the JWK Set of the public keys given by kid.
func jwksJSON(t testing.TB, keys map[string]any) []byte {
	t.Helper()
	store := jwkset.NewMemoryStorage()
	for kid, pub := range keys {
		alg := jwkset.AlgRS256
		if _, ok := pub.(ed25519.PublicKey); ok {
			alg = jwkset.AlgEdDSA
		}
		jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.KeyWrite(context.Background(), jwk); err != nil {
			t.Fatal(err)
		}
	}
	data, err := store.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSignedTokenJWKS: RS256 and EdDSA tokens verify with a JWK Set
// served over HTTP; a key added to the set is found on its first token
// (an unknown kid refreshes the set), and a key rotated out of it stops
// working once the set is refreshed.
func TestSignedTokenJWKS(t *testing.T) {
	k := testKeys()
	j := newJWKSServer(t)
	j.serve(t, map[string]any{"rsa1": &k.rsa1.PublicKey, "ed1": k.ed1.Public()})
	r := newJWTRig(t, JWTOptions{JWKSURL: j.URL + "/jwks.json", JWKSRefresh: 100 * time.Millisecond})
	ok := func(m jwt.SigningMethod, key any, kid string) *httptest.ResponseRecorder {
		tok := mint(t, m, key, kid, claimsAt(r.clock(), "alice", []string{devA}, true, time.Hour))
		return r.call(t, "GET", "/api/media/devices", tok, "", "")
	}
	if w := ok(jwt.SigningMethodRS256, k.rsa1, "rsa1"); w.Code != 200 {
		t.Fatalf("RS256: %d %s", w.Code, w.Body.String())
	}
	if w := ok(jwt.SigningMethodEdDSA, k.ed1, "ed1"); w.Code != 200 {
		t.Fatalf("EdDSA: %d %s", w.Code, w.Body.String())
	}
	// A key of one kind under another's kid, or without a kid: refused.
	refused(t, ok(jwt.SigningMethodEdDSA, k.ed1, "rsa1"), "signed token:")
	refused(t, ok(jwt.SigningMethodRS256, k.rsa1, ""), "names no key (kid)")
	refused(t, ok(jwt.SigningMethodHS256, []byte(hsSecret), "rsa1"), `"HS256" is not accepted`)

	// Rotation: rsa2 replaces rsa1.
	j.serve(t, map[string]any{"rsa2": &k.rsa2.PublicKey, "ed1": k.ed1.Public()})
	testutil.Eventually(t, "rsa1 refused once the set is refreshed", testutil.Generous, func() bool {
		return ok(jwt.SigningMethodRS256, k.rsa1, "rsa1").Code == http.StatusUnauthorized
	})
	if w := ok(jwt.SigningMethodRS256, k.rsa2, "rsa2"); w.Code != 200 {
		t.Fatalf("rsa2 after the rotation: %d %s", w.Code, w.Body.String())
	}
	if w := ok(jwt.SigningMethodEdDSA, k.ed1, "ed1"); w.Code != 200 {
		t.Fatalf("ed1, kept: %d", w.Code)
	}
}

// TestSignedTokenUnknownKIDFlood: a flood of tokens naming unknown kids
// costs at most one fetch of the set per 10 s (here: the first fetch and
// one more), each answered 401 at once; a kid added to the set is found
// by the first token that names it when a fetch is allowed.
func TestSignedTokenUnknownKIDFlood(t *testing.T) {
	k := testKeys()
	j := newJWKSServer(t)
	j.serve(t, map[string]any{"rsa1": &k.rsa1.PublicKey})
	r := newJWTRig(t, JWTOptions{JWKSURL: j.URL, JWKSRefresh: time.Hour})
	if n := j.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches at start, want 1", n)
	}
	// The next key appears in the set: the first unknown kid fetches it.
	j.serve(t, map[string]any{"rsa1": &k.rsa1.PublicKey, "ed2": k.ed2.Public()})
	tok := mint(t, jwt.SigningMethodEdDSA, k.ed2, "ed2", claimsAt(r.clock(), "alice", []string{devA}, false, time.Hour))
	if w := r.call(t, "GET", "/api/media/devices", tok, "", ""); w.Code != 200 {
		t.Fatalf("a new kid: %d %s", w.Code, w.Body.String())
	}
	if n := j.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after a new kid, want 2", n)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			tok := mint(t, jwt.SigningMethodRS256, k.rsa1, fmt.Sprintf("flood-%d", i), claimsAt(r.clock(), "alice", []string{devA}, false, time.Hour))
			w := r.call(t, "GET", "/api/media/devices", tok, "", "")
			if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "names no known key") {
				t.Errorf("flood: %d %s", w.Code, w.Body.String())
			}
		})
	}
	wg.Wait()
	if n, took := j.fetches.Load(), time.Since(start); took < unknownKIDEvery && n != 2 {
		t.Fatalf("%d fetches after a flood of unknown kids in %v, want none more", n, took)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the flood took %v: refusals must not wait for the rate limit", took)
	}
}

// TestSignedTokenKeysFile: the keys file as PEM (RSA and Ed25519, no
// kid) or as a JWK Set (by kid); private keys, short RSA keys and other
// contents are refused at start, naming JWT_KEYS_FILE; Current notices a
// changed file.
func TestSignedTokenKeysFile(t *testing.T) {
	k := testKeys()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pemFile := write("keys.pem", append(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &k.rsa1.PublicKey)}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, k.ed1.Public())})...))
	jwksFile := write("keys.json", jwksJSON(t, map[string]any{"r": &k.rsa2.PublicKey, "e": k.ed2.Public()}))
	for _, tc := range []struct {
		file string
		m    jwt.SigningMethod
		key  any
		kid  string
		ok   bool
	}{
		{pemFile, jwt.SigningMethodRS256, k.rsa1, "", true},
		{pemFile, jwt.SigningMethodEdDSA, k.ed1, "", true},
		{pemFile, jwt.SigningMethodRS256, k.rsa1, "some-kid", true}, // no JWK has it: the PEM keys
		{pemFile, jwt.SigningMethodRS256, k.rsa2, "", false},
		{jwksFile, jwt.SigningMethodRS256, k.rsa2, "r", true},
		{jwksFile, jwt.SigningMethodEdDSA, k.ed2, "e", true},
		{jwksFile, jwt.SigningMethodEdDSA, k.ed2, "", false},
		{jwksFile, jwt.SigningMethodRS256, k.rsa2, "e", false},
		{jwksFile, jwt.SigningMethodRS256, k.rsa1, "x", false},
	} {
		v, err := NewVerifier(t.Context(), JWTOptions{KeysFile: tc.file})
		if err != nil {
			t.Fatal(err)
		}
		tok := mint(t, tc.m, tc.key, tc.kid, claimsAt(time.Now(), "alice", nil, false, time.Minute))
		_, err = v.verify(t.Context(), tok)
		if (err == nil) != tc.ok {
			t.Errorf("%s %s kid %q: %v, want ok %v", filepath.Base(tc.file), tc.m.Alg(), tc.kid, err, tc.ok)
		}
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	privPKCS8, _ := x509.MarshalPKCS8PrivateKey(k.ed1)
	for name, data := range map[string][]byte{
		"private.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privPKCS8}),
		"small.pem":   pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &small.PublicKey)}),
		"empty.pem":   []byte("nothing here\n"),
		"nokid.json":  []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + base64.RawURLEncoding.EncodeToString(k.ed1.Public().(ed25519.PublicKey)) + `"}]}`),
		"oct.json":    []byte(`{"keys":[{"kty":"oct","kid":"s","k":"` + base64.RawURLEncoding.EncodeToString([]byte(hsSecret)) + `"}]}`),
	} {
		if _, err := NewVerifier(t.Context(), JWTOptions{KeysFile: write(name, data)}); err == nil || !strings.Contains(err.Error(), "JWT_KEYS_FILE") {
			t.Errorf("%s: %v, want an error naming JWT_KEYS_FILE", name, err)
		}
	}
	if _, err := NewVerifier(t.Context(), JWTOptions{KeysFile: filepath.Join(dir, "missing")}); err == nil || !strings.Contains(err.Error(), "JWT_KEYS_FILE") {
		t.Errorf("a missing file: %v", err)
	}

	// Current: the same options and file; not after the file changed or
	// another setting.
	o := JWTOptions{KeysFile: pemFile, Audience: "media"}
	v, err := NewVerifier(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Current(o) || v.Current(JWTOptions{KeysFile: pemFile}) {
		t.Fatal("Current: the same options are current, others not")
	}
	write("keys.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, k.ed2.Public())}))
	if v.Current(o) {
		t.Fatal("Current after the keys file changed")
	}
	var none *Verifier
	if !none.Current(JWTOptions{}) || none.Current(o) {
		t.Fatal("a nil Verifier is current only for options without a key")
	}
	if v, err := NewVerifier(t.Context(), JWTOptions{Audience: "x"}); v != nil || err != nil {
		t.Fatalf("options without a key: %v, %v", v, err)
	}
}

// TestUpdateSignedTokens: Live.JWT replaces the verifier for the requests
// from then on; nil turns signed tokens off.
func TestUpdateSignedTokens(t *testing.T) {
	r := newJWTRig(t, JWTOptions{HS256Secrets: []string{hsSecret}})
	next, err := NewVerifier(t.Context(), JWTOptions{HS256Secrets: []string{hsSecretTwo}})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	one := mint(t, jwt.SigningMethodHS256, []byte(hsSecret), "", claimsAt(time.Now(), "alice", []string{devA}, false, time.Minute))
	two := mint(t, jwt.SigningMethodHS256, []byte(hsSecretTwo), "", claimsAt(time.Now(), "alice", []string{devA}, false, time.Minute))
	r.s.Update(Live{Tokens: testTokens, JWT: next, RateLimit: 10_000})
	refused(t, r.call(t, "GET", "/api/media/devices", one, "", ""), "bad signature")
	if w := r.call(t, "GET", "/api/media/devices", two, "", ""); w.Code != 200 {
		t.Fatalf("the new secret: %d", w.Code)
	}
	r.s.Update(Live{Tokens: testTokens, RateLimit: 10_000})
	refused(t, r.call(t, "GET", "/api/media/devices", two, "", ""), "a valid bearer token is required")
}

// FuzzSignedToken feeds arbitrary bearer strings to the signed token
// check: it never panics; it accepts only a token whose HMAC is right,
// with a valid subject and an exp; every refusal is one line.
func FuzzSignedToken(f *testing.F) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sign := func(header, payload string) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
		m := hmac.New(sha256.New, []byte(hsSecret))
		m.Write([]byte(h))
		return h + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	exp := now.Add(time.Hour).Unix()
	for _, seed := range []string{
		sign(`{"alg":"HS256","typ":"JWT"}`, fmt.Sprintf(`{"sub":"alice","exp":%d,"devices":["emulator-*"],"control":true}`, exp)),
		sign(`{"alg":"HS256"}`, fmt.Sprintf(`{"sub":"alice","exp":%d,"max_sessions":2,"max_session_seconds":60}`, exp)),
		sign(`{"alg":"none"}`, fmt.Sprintf(`{"sub":"alice","exp":%d}`, exp)),
		sign(`{"alg":"HS256","kid":"x"}`, `{"sub":"alice"}`),
		sign(`{"alg":"RS256","kid":"k"}`, fmt.Sprintf(`{"sub":"alice","exp":%d}`, exp)),
		"eyJhbGciOiJIUzI1NiJ9.e30.", "a.b.c", "..", "", "static-token-0123456789",
	} {
		f.Add(seed)
	}
	v, err := NewVerifier(context.Background(), JWTOptions{HS256Secrets: []string{hsSecret}, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	defer v.Close()
	f.Fuzz(func(t *testing.T, raw string) {
		alg, shaped := isJWT(raw)
		c, err := v.verify(context.Background(), raw)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "signed token: ") || strings.ContainsAny(msg, "\r\n") || len(msg) > 400 {
				t.Fatalf("refusal %q is not one short line", msg)
			}
			return
		}
		parts := strings.Split(raw, ".")
		m := hmac.New(sha256.New, []byte(hsSecret))
		m.Write([]byte(parts[0] + "." + parts[1]))
		sig, derr := base64.RawURLEncoding.DecodeString(parts[2])
		if !shaped || alg != "HS256" || derr != nil || !hmac.Equal(sig, m.Sum(nil)) {
			t.Fatalf("accepted %q without a valid HS256 signature", raw)
		}
		if media.CheckUserID(c.Subject) != nil || c.ExpiresAt == nil || !c.ExpiresAt.After(now.Add(-time.Second)) {
			t.Fatalf("accepted claims %+v", c)
		}
		who := signedCaller(Caller{}, c)
		if who.Kind != KindJWT || who.Token != "jwt:"+c.Subject || who.ViewOnly == c.Control {
			t.Fatalf("caller %+v of claims %+v", who, c)
		}
	})
}
