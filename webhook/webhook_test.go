package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// secretA and secretB are two endpoints' secrets (24-byte keys).
const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_c2Vjb25kLXNlY3JldC1rZXktMDEyMzQ1Njc4OQ=="
)

// verify checks a request as a receiver would, independently of Sign:
// the three headers, the timestamp within 5 minutes, and one v1
// signature that is the HMAC-SHA256 of "id.timestamp.body" under the
// secret's key (compared in constant time).
func verify(secret string, h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing headers: id %q timestamp %q signature %q", id, ts, sigs)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q is not Unix seconds", ts)
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("webhook-timestamp %s is %v away", ts, d)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if ok && v == "v1" && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no valid v1 signature in %q", sigs)
}

// delivery is one request a receiver took.
type delivery struct {
	id, ts string
	body   []byte
	status int
	err    error // the signature's check
}

// receiver is an endpoint's server; answer decides each status.
type receiver struct {
	*httptest.Server
	secret string
	answer func(n int) int // n: requests so far, this one included

	mu   sync.Mutex
	got  []delivery
	seen chan struct{}
}

func newReceiver(t *testing.T, secret string, answer func(int) int) *receiver {
	t.Helper()
	r := &receiver{secret: secret, answer: answer, seen: make(chan struct{}, 1)}
	if r.answer == nil {
		r.answer = func(int) int { return http.StatusNoContent }
	}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		d := delivery{id: req.Header.Get("webhook-id"), ts: req.Header.Get("webhook-timestamp"), body: body,
			err: verify(r.secret, req.Header, body)}
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			d.err = fmt.Errorf("%s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
		}
		d.status = r.answer(len(r.got) + 1)
		r.got = append(r.got, d)
		r.mu.Unlock()
		select {
		case r.seen <- struct{}{}:
		default:
		}
		w.WriteHeader(d.status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// accepted returns the IDs answered with a 2xx, in order.
func (r *receiver) accepted() []string {
	var ids []string
	for _, d := range r.deliveries() {
		if d.status/100 == 2 {
			ids = append(ids, d.id)
		}
	}
	return ids
}

// counts is a Metrics that counts.
type counts struct {
	mu         sync.Mutex
	declared   map[string]bool
	queued     map[string]int
	dropped    map[string]int
	deliveries map[string]int // "endpoint result"
}

func newCounts() *counts {
	return &counts{declared: map[string]bool{}, queued: map[string]int{}, dropped: map[string]int{}, deliveries: map[string]int{}}
}

func (c *counts) Endpoint(name string) { c.mu.Lock(); c.declared[name] = true; c.mu.Unlock() }
func (c *counts) Queued(name string, n int) {
	c.mu.Lock()
	c.queued[name] = n
	c.mu.Unlock()
}
func (c *counts) Dropped(name string, n int) { c.mu.Lock(); c.dropped[name] += n; c.mu.Unlock() }
func (c *counts) Delivery(name, result string) {
	c.mu.Lock()
	c.deliveries[name+" "+result]++
	c.mu.Unlock()
}
func (c *counts) get(m *map[string]int, k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return (*m)[k]
}

// fast are options for tests: short back-offs.
func fast(m Metrics) Options {
	return Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, CloseTimeout: 2 * time.Second,
		Metrics: m, Log: slog.New(slog.DiscardHandler)}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

// TestSignReferenceVector reproduces the Standard Webhooks reference
// implementations' published example: what a receiver's library checks.
func TestSignReferenceVector(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestChecks(t *testing.T) {
	for _, s := range []string{secretA, secretB, "whsec_" + base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))} {
		if _, err := ParseSecret(s); err != nil {
			t.Errorf("ParseSecret(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := ParseSecret(s); err == nil {
			t.Errorf("ParseSecret(%q) accepted", s)
		}
	}
	for _, p := range []string{"*", "session.*", "device.connected", "draining", "control.changed"} {
		if err := CheckPattern(p); err != nil {
			t.Errorf("CheckPattern(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "[", "sesion.*", "session.start"} {
		if err := CheckPattern(p); err == nil {
			t.Errorf("CheckPattern(%q) accepted", p)
		}
	}
	ok := Endpoint{Name: "audit", URL: "https://a.example/hook", Secret: secretA}
	if err := ok.Check(); err != nil {
		t.Error(err)
	}
	for _, e := range []Endpoint{
		{Name: "", URL: ok.URL, Secret: secretA},
		{Name: "a b", URL: ok.URL, Secret: secretA},
		{Name: "a", URL: "ftp://a.example/", Secret: secretA},
		{Name: "a", URL: "/relative", Secret: secretA},
		{Name: "a", URL: ok.URL, Secret: "secret"},
		{Name: "a", URL: ok.URL, Secret: secretA, Events: []string{"nothing.*"}},
	} {
		if err := e.Check(); err == nil {
			t.Errorf("%+v accepted", e)
		}
	}
	d := New(fast(nil))
	defer d.Close()
	if err := d.SetEndpoints([]Endpoint{ok, ok}); err == nil {
		t.Error("two endpoints of one name accepted")
	}
	if got := d.Endpoints(); len(got) != 0 {
		t.Errorf("an invalid list changed the endpoints: %v", got)
	}
}

// TestDeliverySignedAndFiltered: each endpoint gets the events its filter
// takes, as {"type","timestamp","data"}, signed with its own secret, the
// same webhook-id for one event at both.
func TestDeliverySignedAndFiltered(t *testing.T) {
	a := newReceiver(t, secretA, nil)
	b := newReceiver(t, secretB, nil)
	m := newCounts()
	d := New(fast(m))
	defer d.Close()
	if err := d.SetEndpoints([]Endpoint{
		{Name: "a", URL: a.URL, Secret: secretA, Events: []string{"session.*"}},
		{Name: "b", URL: b.URL, Secret: secretB},
	}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	started := d.Emit(TypeSessionStarted, Session{SessionID: "s1", DeviceID: "dev1", UserID: "u"})
	connected := d.Emit(TypeDeviceConnected, Device{DeviceID: "dev1", Serial: "dev1", Source: "adb"})
	ended := d.Emit(TypeSessionEnded, SessionEnded{Session: Session{SessionID: "s1"}, Reason: "deleted", BytesSent: 42})
	if d.Emit(TypeDraining, Draining{}) == "" {
		t.Fatal("no ID for an event that b takes")
	}
	eventually(t, "a gets 2 events and b 4", func() bool { return len(a.accepted()) == 2 && len(b.accepted()) == 4 })
	if got := a.accepted(); !slices.Equal(got, []string{started, ended}) {
		t.Errorf("a got %v, want session.started %s and session.ended %s", got, started, ended)
	}
	if got := b.accepted(); got[0] != started || got[1] != connected || got[2] != ended {
		t.Errorf("b got %v, want the events in order", got)
	}
	for _, r := range []*receiver{a, b} {
		for _, dl := range r.deliveries() {
			if dl.err != nil {
				t.Errorf("%s: %v", dl.id, dl.err)
			}
			if !strings.HasPrefix(dl.id, "msg_") || strings.Contains(dl.id, ".") {
				t.Errorf("webhook-id %q", dl.id)
			}
			var p struct {
				Type      string          `json:"type"`
				Timestamp string          `json:"timestamp"`
				Data      json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(dl.body, &p); err != nil {
				t.Fatal(err)
			}
			at, err := time.Parse(time.RFC3339Nano, p.Timestamp)
			if err != nil || at.Before(before.Add(-time.Second)) || !strings.HasSuffix(p.Timestamp, "Z") {
				t.Errorf("timestamp %q: %v", p.Timestamp, err)
			}
			if dl.id == ended {
				var e SessionEnded
				if err := json.Unmarshal(p.Data, &e); err != nil || p.Type != TypeSessionEnded || e.Reason != "deleted" || e.BytesSent != 42 || e.SessionID != "s1" {
					t.Errorf("session.ended: type %s data %s", p.Type, p.Data)
				}
			}
		}
	}
	// The sender counts a delivery once the receiver's answer is back,
	// which may be just after the receiver recorded it.
	eventually(t, "b's 4 deliveries counted", func() bool { return m.get(&m.deliveries, "b "+ResultDelivered) == 4 })
	if !m.declared["a"] || !m.declared["b"] {
		t.Error("the endpoints' series were not declared")
	}
}

// TestRetriesUntilDelivered: a receiver that answers 500 (and once a
// 302, which is not followed) for its first 1.5 seconds, then 204, gets
// every event: each ID accepted exactly once, in the order emitted, every
// attempt signed, the ID the same on each attempt.
func TestRetriesUntilDelivered(t *testing.T) {
	start := time.Now()
	r := newReceiver(t, secretA, func(n int) int {
		switch {
		case n == 2:
			return http.StatusFound
		case time.Since(start) < 1500*time.Millisecond:
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	m := newCounts()
	d := New(fast(m))
	defer d.Close()
	if err := d.SetEndpoints([]Endpoint{{Name: "r", URL: r.URL, Secret: secretA}}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 40 {
		ids = append(ids, d.Emit(TypeControlChanged, ControlChanged{DeviceID: "dev", SessionID: strconv.Itoa(i)}))
		time.Sleep(50 * time.Millisecond)
	}
	eventually(t, "every event accepted", func() bool { return len(r.accepted()) >= len(ids) })
	time.Sleep(100 * time.Millisecond) // nothing more comes
	if got := r.accepted(); !slices.Equal(got, ids) {
		t.Fatalf("accepted %d events %v,\nwant each of the %d once, in order %v", len(got), got, len(ids), ids)
	}
	bodies := map[string]string{}
	failed := 0
	for _, dl := range r.deliveries() {
		if dl.err != nil {
			t.Errorf("attempt of %s: %v", dl.id, dl.err)
		}
		if b, ok := bodies[dl.id]; ok && b != string(dl.body) {
			t.Errorf("%s: the body changed between attempts", dl.id)
		}
		bodies[dl.id] = string(dl.body)
		if dl.status/100 != 2 {
			failed++
		}
	}
	if failed < 2 {
		t.Fatalf("%d failed attempts: the receiver's failures were not exercised", failed)
	}
	if got := m.get(&m.deliveries, "r "+ResultRetried); got != failed {
		t.Errorf("retried %d, want the %d failed attempts", got, failed)
	}
	eventually(t, "every delivery counted", func() bool { return m.get(&m.deliveries, "r "+ResultDelivered) == len(ids) })
	if m.get(&m.dropped, "r") != 0 || m.get(&m.deliveries, "r "+ResultFailed) != 0 {
		t.Errorf("counters %v, dropped %v", m.deliveries, m.dropped)
	}
	t.Logf("%d events, %d attempts", len(ids), len(r.deliveries()))
}

// TestHangingReceiver: with a receiver that never answers, Emit never
// blocks: the queue keeps its newest events and drops the oldest, counted;
// Close is bounded, and drops what is left, so that every event is
// accounted for.
func TestHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	m := newCounts()
	o := fast(m)
	o.QueueSize, o.CloseTimeout = 8, 300*time.Millisecond
	d := New(o)
	if err := d.SetEndpoints([]Endpoint{{Name: "dead", URL: srv.URL, Secret: secretA, Timeout: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	d.Emit(TypeDraining, Draining{})
	<-arrived // the first event is in flight, and stays
	const n = 1000
	for i := range n {
		d.Emit(TypeSessionStarted, Session{SessionID: strconv.Itoa(i)})
	}
	if got, want := m.get(&m.dropped, "dead"), n-8; got != want {
		t.Errorf("dropped %d, want %d (the queue keeps 8)", got, want)
	}
	if got := m.get(&m.queued, "dead"); got != 8 {
		t.Errorf("queued %d, want 8", got)
	}
	start := time.Now()
	d.Close()
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Close took %v with CloseTimeout 300ms", took)
	}
	if got := m.get(&m.dropped, "dead"); got != n+1 {
		t.Errorf("dropped %d after Close, want all %d events: none was delivered", got, n+1)
	}
	if d.Emit(TypeDraining, Draining{}) != "" {
		t.Error("Emit after Close queued an event")
	}
}

// TestCloseDelivers: Close sends what is queued when the receiver
// answers.
func TestCloseDelivers(t *testing.T) {
	r := newReceiver(t, secretA, nil)
	m := newCounts()
	d := New(fast(m))
	if err := d.SetEndpoints([]Endpoint{{Name: "r", URL: r.URL, Secret: secretA}}); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		d.Emit(TypeDeviceDisconnected, Device{DeviceID: "d", Reason: "shutdown"})
	}
	d.Close()
	if got := len(r.accepted()); got != 20 {
		t.Errorf("%d delivered by Close, want 20", got)
	}
}

// TestGiveUpAndGone: an event is given up after MaxAttempts and the next
// one goes; a 410 disables the endpoint until its URL changes.
func TestGiveUpAndGone(t *testing.T) {
	fail := newReceiver(t, secretA, func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	gone := newReceiver(t, secretA, func(int) int { return http.StatusGone })
	m := newCounts()
	o := fast(m)
	o.MaxAttempts = 3
	d := New(o)
	defer d.Close()
	if err := d.SetEndpoints([]Endpoint{{Name: "f", URL: fail.URL, Secret: secretA}, {Name: "g", URL: gone.URL, Secret: secretA}}); err != nil {
		t.Fatal(err)
	}
	first := d.Emit(TypeDraining, Draining{})
	second := d.Emit(TypeDraining, Draining{})
	eventually(t, "the second event delivered", func() bool { return slices.Contains(fail.accepted(), second) })
	if slices.Contains(fail.accepted(), first) || m.get(&m.deliveries, "f "+ResultFailed) != 1 {
		t.Errorf("the first event: accepted %v, failed %d; want it given up after 3 attempts", fail.accepted(), m.get(&m.deliveries, "f "+ResultFailed))
	}
	eventually(t, "g disabled", func() bool { return m.get(&m.deliveries, "g "+ResultFailed) == 1 })
	d.Emit(TypeDraining, Draining{})
	if got := len(gone.deliveries()); got != 1 {
		t.Errorf("%d requests to an endpoint that answered 410, want 1", got)
	}
	if m.get(&m.dropped, "g") < 1 {
		t.Error("an event for a disabled endpoint was not counted as dropped")
	}
	ok := newReceiver(t, secretA, nil)
	if err := d.SetEndpoints([]Endpoint{{Name: "f", URL: fail.URL, Secret: secretA}, {Name: "g", URL: ok.URL, Secret: secretA}}); err != nil {
		t.Fatal(err)
	}
	id := d.Emit(TypeDraining, Draining{})
	eventually(t, "g enabled again by its new URL", func() bool { return slices.Contains(ok.accepted(), id) })
}

// TestSetEndpointsLive: a new secret signs the events from then on, a
// new filter applies at once, and a removed endpoint stops.
func TestSetEndpointsLive(t *testing.T) {
	r := newReceiver(t, secretA, nil)
	other := newReceiver(t, secretA, nil)
	d := New(fast(nil))
	defer d.Close()
	set := func(eps ...Endpoint) {
		t.Helper()
		if err := d.SetEndpoints(eps); err != nil {
			t.Fatal(err)
		}
	}
	set(Endpoint{Name: "r", URL: r.URL, Secret: secretA}, Endpoint{Name: "o", URL: other.URL, Secret: secretA})
	id := d.Emit(TypeDraining, Draining{})
	eventually(t, "delivered", func() bool { return len(r.accepted()) == 1 && len(other.accepted()) == 1 })

	r.mu.Lock()
	r.secret = secretB
	r.mu.Unlock()
	set(Endpoint{Name: "r", URL: r.URL, Secret: secretB, Events: []string{"device.*"}})
	if d.Emit(TypeDraining, Draining{}) != "" {
		t.Error("an event that no endpoint's filter takes was queued")
	}
	id2 := d.Emit(TypeDeviceConnected, Device{})
	eventually(t, "delivered with the new secret", func() bool { return len(r.accepted()) == 2 })
	for _, dl := range r.deliveries() {
		if dl.err != nil {
			t.Errorf("%s: %v", dl.id, dl.err)
		}
	}
	if got := r.accepted(); got[0] != id || got[1] != id2 {
		t.Errorf("accepted %v", got)
	}
	if got := d.Endpoints(); !slices.Equal(got, []string{"r"}) {
		t.Errorf("endpoints %v after removing o", got)
	}
	if n := len(other.deliveries()); n != 1 {
		t.Errorf("the removed endpoint got %d requests, want 1", n)
	}
}

func TestRetryAfter(t *testing.T) {
	if got := retryAfter("3"); got != 3*time.Second {
		t.Errorf("3: %v", got)
	}
	if got := retryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); got < 59*time.Minute {
		t.Errorf("date: %v", got)
	}
	if retryAfter("") != 0 || retryAfter("soon") != 0 {
		t.Error("garbage parsed")
	}
}
