package api

import (
	"encoding/json"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeICEServers gives a STUN server and a TURN server whose credentials
// name the user, as the service's derived ones do, and records the users
// asked for.
type fakeICEServers struct {
	mu    sync.Mutex
	users []string
}

func (f *fakeICEServers) get(user string) []ICEServer {
	f.mu.Lock()
	f.users = append(f.users, user)
	f.mu.Unlock()
	return []ICEServer{
		{URLs: []string{"stun:stun.example.net:3478"}},
		{URLs: []string{"turn:turn.example.net:3478?transport=udp", "turns:turn.example.net:5349?transport=tcp"},
			Username: "1700000000:" + user, Credential: `c+/a="b\c`},
	}
}

// TestICEServersRoute: the RTCIceServer list, as JSON a browser takes
// as is, with the caller's credentials; never cached; authenticated.
func TestICEServersRoute(t *testing.T) {
	f := &fakeICEServers{}
	s := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{ICEServers: f.get})
	w := hit(t, s, "GET", "/api/media/ice-servers", "192.0.2.1:4000", bearer(aliceSecret), nil)
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("GET: %d, Cache-Control %q: %s", w.Code, w.Header().Get("Cache-Control"), w.Body)
	}
	want := `{"iceServers":[{"urls":["stun:stun.example.net:3478"]},` +
		`{"urls":["turn:turn.example.net:3478?transport=udp","turns:turn.example.net:5349?transport=tcp"],` +
		`"username":"1700000000:alice","credential":"c+/a=\"b\\c"}]}`
	if got := strings.TrimSpace(w.Body.String()); got != want {
		t.Fatalf("body\n%s\nwant\n%s", got, want)
	}
	if w := hit(t, s, "GET", "/api/media/ice-servers", "192.0.2.1:4000", nil, nil); w.Code != 401 {
		t.Errorf("without a token: %d", w.Code)
	}
	if !slices.Equal(f.users, []string{"alice"}) {
		t.Errorf("credentials asked for %v, want alice's only", f.users)
	}

	// Without authentication the credentials are "anonymous"'s.
	open := New(Options{AuthDisabled: true, Log: slog.New(slog.DiscardHandler)}, Deps{ICEServers: f.get})
	if w := hit(t, open, "GET", "/api/media/ice-servers", "192.0.2.1:4000", nil, nil); w.Code != 200 || !strings.Contains(w.Body.String(), `"1700000000:anonymous"`) {
		t.Errorf("AUTH_DISABLED: %d %s", w.Code, w.Body)
	}

	// None configured: an empty list, never null.
	none := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{ICEServers: func(string) []ICEServer { return nil }})
	if w := hit(t, none, "GET", "/api/media/ice-servers", "192.0.2.1:4000", bearer(aliceSecret), nil); w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"iceServers":[]}` {
		t.Errorf("none configured: %d %s", w.Code, w.Body)
	}
	// No component: 503.
	if w := hit(t, New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{}), "GET", "/api/media/ice-servers", "192.0.2.1:4000", bearer(aliceSecret), nil); w.Code != 503 {
		t.Errorf("no ICEServers: %d", w.Code)
	}
}

// linkParam matches one target attribute of a Link value: name="quoted".
var linkParam = regexp.MustCompile(`;\s*([a-z-]+)="((?:[^"\\]|\\.)*)"`)

// parseLink reads one Link value: its target and attributes, unquoted.
func parseLink(t *testing.T, v string) (string, map[string]string) {
	t.Helper()
	m := regexp.MustCompile(`^<([^>]*)>(.*)$`).FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("Link %q: no <target>", v)
	}
	attrs := map[string]string{}
	rest := m[2]
	for _, p := range linkParam.FindAllStringSubmatch(rest, -1) {
		attrs[p[1]] = regexp.MustCompile(`\\(.)`).ReplaceAllString(p[2], "$1")
	}
	if left := linkParam.ReplaceAllString(rest, ""); strings.TrimSpace(left) != "" {
		t.Fatalf("Link %q: %q is not name=\"value\"", v, left)
	}
	return m[1], attrs
}

// TestWHEPLinkHeaders: a WHEP answer names the ICE servers in Link headers
// (RFC 9725, section 4.6): one per URL, rel="ice-server", TURN with the
// caller's username and credential (quoted, escaped) and
// credential-type="password"; CORS lets a browser read them.
func TestWHEPLinkHeaders(t *testing.T) {
	f := &fakeICEServers{}
	deps := Deps{Sessions: &contractSessions{}, ErrorStatus: contractStatus, ICEServers: f.get}
	s := New(Options{Tokens: testTokens, CORSOrigins: []string{"https://app.example"}, Log: slog.New(slog.DiscardHandler)}, deps)
	w := hit(t, s, "POST", "/whep/127.0.0.1:5555", "192.0.2.1:4000",
		with(bearer(aliceSecret), "Content-Type", "application/sdp", "Origin", "https://app.example"), strings.NewReader(browserOffer(t)))
	if w.Code != 201 {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	links := w.Header().Values("Link")
	if len(links) != 3 {
		t.Fatalf("Link headers %q, want 3", links)
	}
	type link struct {
		target string
		attrs  map[string]string
	}
	var got []link
	for _, l := range links {
		target, attrs := parseLink(t, l)
		got = append(got, link{target, attrs})
	}
	if got[0].target != "stun:stun.example.net:3478" || len(got[0].attrs) != 1 || got[0].attrs["rel"] != "ice-server" {
		t.Errorf("STUN link %q", links[0])
	}
	for i, want := range []string{"turn:turn.example.net:3478?transport=udp", "turns:turn.example.net:5349?transport=tcp"} {
		l := got[i+1]
		if l.target != want || l.attrs["rel"] != "ice-server" || l.attrs["username"] != "1700000000:alice" ||
			l.attrs["credential"] != `c+/a="b\c` || l.attrs["credential-type"] != "password" || len(l.attrs) != 4 {
			t.Errorf("TURN link %q: %+v", links[i+1], l)
		}
	}
	if exposed := w.Header().Get("Access-Control-Expose-Headers"); !strings.Contains(exposed, "Link") {
		t.Errorf("Access-Control-Expose-Headers %q lacks Link", exposed)
	}

	// Without ICE servers, no Link header.
	bare := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{Sessions: &contractSessions{}, ErrorStatus: contractStatus})
	w = hit(t, bare, "POST", "/whep/127.0.0.1:5555", "192.0.2.1:4000", with(bearer(aliceSecret), "Content-Type", "application/sdp"), strings.NewReader(browserOffer(t)))
	if w.Code != 201 || len(w.Header().Values("Link")) != 0 {
		t.Errorf("without ICE servers: %d, Link %q", w.Code, w.Header().Values("Link"))
	}
}

func TestQuoteLinkParam(t *testing.T) {
	for in, want := range map[string]string{
		"plain":             "plain",
		`a"b\c`:             `a\"b\\c`,
		"line\r\nbreak\x7f": "linebreak",
	} {
		if got := quoteLinkParam(in); got != want {
			t.Errorf("quoteLinkParam(%q) = %q, want %q", in, got, want)
		}
	}
	// The JSON of the route and the Link attributes carry the same
	// credential.
	b, _ := json.Marshal(ICEServer{URLs: []string{"turn:x"}, Username: "u", Credential: `"`})
	if string(b) != `{"urls":["turn:x"],"username":"u","credential":"\""}` {
		t.Errorf("JSON %s", b)
	}
}
