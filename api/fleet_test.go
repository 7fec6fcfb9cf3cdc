package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/media"
)

// fakeFleet routes every device to owner (whatever avoid is, unless
// afterAvoid is set) and sessions by their tag.
type fakeFleet struct {
	name       string
	owner      string
	afterAvoid *string // the owner once one was avoided
	tags       map[string]string
	peers      []string

	mu        sync.Mutex
	forwarded []bool
	avoided   []string
}

func (f *fakeFleet) Owner(_ context.Context, _ string, forwarded bool, avoid string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forwarded = append(f.forwarded, forwarded)
	if avoid != "" {
		f.avoided = append(f.avoided, avoid)
		if f.afterAvoid != nil {
			return *f.afterAvoid, nil
		}
	}
	return f.owner, nil
}

func (f *fakeFleet) SessionOwner(id string) (string, bool) {
	tag, _, ok := strings.Cut(id, "_")
	if !ok {
		return "", true
	}
	u, ok := f.tags[tag]
	return u, ok
}

func (f *fakeFleet) Peers() []string { return f.peers }
func (f *fakeFleet) Name() string    { return f.name }

// taggedSessions is a Sessions whose sessions carry a tag, as a fleet
// member's do.
type taggedSessions struct {
	recordingSessions
	tag string
}

func (s *taggedSessions) Create(ctx context.Context, c Caller, device, user, offer string) (string, string, error) {
	if _, _, err := s.recordingSessions.Create(ctx, c, device, user, offer); err != nil {
		return "", "", err
	}
	return s.tag + "_1", "v=0 answer", nil
}
func (s *taggedSessions) List() []SessionView {
	return []SessionView{{ID: s.tag + "_1", DeviceID: "phone-1", CreatedAt: time.Unix(1, 0)}}
}
func (s *taggedSessions) Get(id string) (SessionView, error) {
	if id != s.tag+"_1" {
		return SessionView{}, errUnknown
	}
	return SessionView{ID: id}, nil
}
func (s *taggedSessions) Delete(id string) error {
	_, err := s.Get(id)
	return err
}
func (s *taggedSessions) AddCandidate(id, c string) error   { return s.Delete(id) }
func (s *taggedSessions) AddSDPFragment(id, f string) error { return s.Delete(id) }

func notFound(err error) int {
	switch {
	case errors.Is(err, errUnknown):
		return http.StatusNotFound
	case errors.Is(err, media.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// TestFleetForwardsToTheOwner: a session made at one instance for a
// device another one owns is made there, with the client's address; its
// routes work at the first instance; the list spans both.
func TestFleetForwardsToTheOwner(t *testing.T) {
	secret := []byte("fleet secret")
	local := netip.MustParsePrefix("127.0.0.1/32")
	recB := &taggedSessions{tag: "bbbb"}
	fleetB := &fakeFleet{name: "b", tags: map[string]string{"bbbb": ""}}
	b := startServer(t, Options{FleetSecret: secret}, Deps{Sessions: recB, Fleet: fleetB, ErrorStatus: notFound})
	recA := &taggedSessions{tag: "aaaa"}
	fleetA := &fakeFleet{name: "a", owner: b, tags: map[string]string{"aaaa": "", "bbbb": b}, peers: []string{b}}
	a := startServer(t, Options{FleetSecret: secret, TrustedProxies: []netip.Prefix{local}}, Deps{Sessions: recA, Fleet: fleetA, ErrorStatus: notFound})

	body, _ := json.Marshal(CreateSessionRequest{DeviceID: "phone-1", Offer: browserOffer(t)})
	var created CreateSessionResponse
	resp := do(t, "POST", a+"/api/media/sessions", testToken, "application/json", string(body),
		map[string]string{"X-Forwarded-For": "203.0.113.7"}, &created)
	if resp.StatusCode != http.StatusCreated || created.SessionID != "bbbb_1" || created.Answer == "" {
		t.Fatalf("create at a: %d %+v", resp.StatusCode, created)
	}
	if got := resp.Header.Get(HeaderInstance); got != "b" {
		t.Errorf("%s = %q, want b (the owner answered)", HeaderInstance, got)
	}
	if recA.creates != 0 || recB.creates != 1 {
		t.Fatalf("creates: a %d, b %d; want 0, 1", recA.creates, recB.creates)
	}
	if got := recB.callers[0]; got.Addr.String() != "203.0.113.7" || got.Token != "test" {
		t.Errorf("the owner's caller = %+v, want the client 203.0.113.7 with token test", got)
	}
	if len(fleetB.forwarded) != 1 || !fleetB.forwarded[0] {
		t.Errorf("the owner's Owner calls: forwarded %v, want [true]", fleetB.forwarded)
	}

	// The session's routes, at the instance that did not make it.
	var got SessionView
	if resp := do(t, "GET", a+"/api/media/sessions/bbbb_1", testToken, "", "", nil, &got); resp.StatusCode != http.StatusOK || got.ID != "bbbb_1" {
		t.Errorf("GET at a: %d %+v", resp.StatusCode, got)
	}
	var list SessionsResponse
	if resp := do(t, "GET", a+"/api/media/sessions", testToken, "", "", nil, &list); resp.StatusCode != http.StatusOK ||
		len(list.Sessions) != 1 || list.Sessions[0].ID != "bbbb_1" {
		t.Errorf("list at a: %d %+v, want b's session", resp.StatusCode, list)
	}
	if resp := do(t, "POST", a+"/api/media/sessions/bbbb_1/candidates", testToken, "application/json", `{"candidate":""}`, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("candidates at a: %d", resp.StatusCode)
	}
	if resp := do(t, "DELETE", a+"/api/media/sessions/bbbb_1", testToken, "", "", nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE at a: %d", resp.StatusCode)
	}
	// Another token does not see it at the owner either.
	if resp := do(t, "GET", a+"/api/media/sessions/cccc_1", testToken, "", "", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a session of no instance: %d, want 404", resp.StatusCode)
	}
}

// TestFleetSignature: the owner takes the forwarding headers only from a
// request signed with the fleet's secret.
func TestFleetSignature(t *testing.T) {
	secret := []byte("fleet secret")
	s := New(Options{FleetSecret: secret}, Deps{})
	req, _ := http.NewRequest("POST", "http://x/api/media/sessions?a=1", nil)
	req.RemoteAddr = "10.0.0.9:4000"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set(headerHops, "1")
	if s.fleetSigned(req) || s.hops(req) != 0 {
		t.Fatal("an unsigned request passes for a forwarded one")
	}
	if a, _ := s.clientAddr(req); a.String() != "10.0.0.9" {
		t.Errorf("unsigned: client %s, want the peer", a)
	}
	sign(secret, req, time.Now())
	if !s.fleetSigned(req) || s.hops(req) != 1 {
		t.Fatal("a signed request is not taken as forwarded")
	}
	if a, _ := s.clientAddr(req); a.String() != "203.0.113.7" {
		t.Errorf("signed: client %s, want the forwarded one", a)
	}
	for name, change := range map[string]func(r *http.Request){
		"other client":  func(r *http.Request) { r.Header.Set("X-Forwarded-For", "198.51.100.1") },
		"other path":    func(r *http.Request) { r.URL.Path = "/api/media/sessions/x" },
		"more hops":     func(r *http.Request) { r.Header.Set(headerHops, "0") },
		"other secret":  func(r *http.Request) { sign([]byte("guess"), r, time.Now()) },
		"old":           func(r *http.Request) { sign(secret, r, time.Now().Add(-2*signatureSkew)) },
		"garbage":       func(r *http.Request) { r.Header.Set(headerSignature, "x.y") },
		"no time":       func(r *http.Request) { r.Header.Set(headerSignature, "deadbeef") },
		"other method":  func(r *http.Request) { r.Method = "DELETE" },
		"empty sig":     func(r *http.Request) { r.Header.Set(headerSignature, "") },
		"another query": func(r *http.Request) { r.URL.RawQuery = "a=2" },
	} {
		r := req.Clone(context.Background())
		change(r)
		if s.fleetSigned(r) {
			t.Errorf("%s: still taken as signed", name)
		}
	}
	// Without a secret nothing is signed.
	if New(Options{}, Deps{}).fleetSigned(req) {
		t.Error("an instance without FLEET_SECRET takes a signature")
	}
}

// TestFleetOwnerDoesNotAnswer: a forward that reaches nobody is not an
// answer: the fleet is asked again, avoiding that owner.
func TestFleetOwnerDoesNotAnswer(t *testing.T) {
	dead := "http://127.0.0.1:1" // nothing listens on port 1
	here := ""
	rec := &taggedSessions{tag: "aaaa"}
	f := &fakeFleet{name: "a", owner: dead, afterAvoid: &here, tags: map[string]string{"aaaa": ""}}
	a := startServer(t, Options{}, Deps{Sessions: rec, Fleet: f, ErrorStatus: notFound})
	body, _ := json.Marshal(CreateSessionRequest{DeviceID: "phone-1", Offer: browserOffer(t)})
	var created CreateSessionResponse
	resp := do(t, "POST", a+"/api/media/sessions", testToken, "application/json", string(body), nil, &created)
	if resp.StatusCode != http.StatusCreated || created.SessionID != "aaaa_1" {
		t.Fatalf("create: %d %+v", resp.StatusCode, created)
	}
	if len(f.avoided) != 1 || f.avoided[0] != dead {
		t.Errorf("avoided %v, want [%s]", f.avoided, dead)
	}
	// A client cannot pass for a forwarding instance to stop the forward.
	f.avoided, f.afterAvoid = nil, nil
	f.owner = dead
	resp = do(t, "POST", a+"/api/media/sessions", testToken, "application/json", string(body), map[string]string{headerHops: "9"}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || len(f.avoided) == 0 {
		t.Errorf("an owner that never answers: %d (avoided %v), want 503 after trying", resp.StatusCode, f.avoided)
	}
}
