package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
)

// e2eHookSecret signs the test's webhooks (a 24-byte key).
const e2eHookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hookEvent is one webhook a receiver took.
type hookEvent struct {
	ID, Type, Timestamp string
	Data                map[string]any
}

// hookReceiver is a webhook endpoint that checks each request as a
// receiver of Standard Webhooks would, on its own: the signature is
// HMAC-SHA256 over "id.timestamp.body" under the secret's key, compared
// in constant time, and the timestamp within 5 minutes.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	events []hookEvent
	bad    []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(e2eHookSecret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id, ts := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp")
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "." + string(body)))
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		sec, _ := strconv.ParseInt(ts, 10, 64)
		var p struct {
			Type      string         `json:"type"`
			Timestamp string         `json:"timestamp"`
			Data      map[string]any `json:"data"`
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case id == "" || !hmac.Equal([]byte(req.Header.Get("webhook-signature")), []byte(want)):
			r.bad = append(r.bad, "bad signature on "+string(body))
		case time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute:
			r.bad = append(r.bad, "stale timestamp "+ts)
		case json.Unmarshal(body, &p) != nil:
			r.bad = append(r.bad, "not JSON: "+string(body))
		default:
			r.events = append(r.events, hookEvent{ID: id, Type: p.Type, Timestamp: p.Timestamp, Data: p.Data})
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(r.Close)
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, b := range r.bad {
			t.Errorf("webhook receiver: %s", b)
		}
	})
	return r
}

// wait waits for an event of the type whose data's key is value.
func (r *hookReceiver) wait(t *testing.T, typ, key, value string) hookEvent {
	t.Helper()
	var found hookEvent
	testutil.Eventually(t, fmt.Sprintf("a %s webhook with %s %s", typ, key, value), 60*time.Second, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range r.events {
			if e.Type == typ && e.Data[key] == value {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// distinct checks that no event came twice (the service had no reason to
// retry: every answer was 200).
func (r *hookReceiver) distinct(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, e := range r.events {
		if seen[e.ID] {
			t.Errorf("event %s (%s) delivered twice", e.ID, e.Type)
		}
		seen[e.ID] = true
	}
}

// checkSession checks session.started and session.ended of one session.
func checkSession(t *testing.T, started, ended hookEvent, reasons ...string) {
	t.Helper()
	if started.Data["startedAt"] != ended.Data["startedAt"] || started.Data["startedAt"] != started.Timestamp {
		t.Errorf("startedAt %v / %v, started's timestamp %s", started.Data["startedAt"], ended.Data["startedAt"], started.Timestamp)
	}
	for _, k := range []string{"bytesSent", "packetsSent", "framesSent", "durationMs"} {
		if n, _ := ended.Data[k].(float64); n <= 0 {
			t.Errorf("session.ended %s = %v", k, ended.Data[k])
		}
	}
	if reason, _ := ended.Data["reason"].(string); !strings.Contains(" "+strings.Join(reasons, " ")+" ", " "+reason+" ") {
		t.Errorf("session.ended reason %q, want one of %v", reason, reasons)
	}
	if ended.Data["userId"] == "" || ended.Data["deviceId"] != started.Data["deviceId"] || ended.Data["token"] != "token1" {
		t.Errorf("session.ended data %v", ended.Data)
	}
}

// TestWebhooksOfASession: a real session against devicesim, with a
// receiver the test runs: device.connected for the simulated device,
// session.started once its media flows, control.changed, and
// session.ended with its counters and reason, all signed as Standard
// Webhooks says, each once; the series count them.
func TestWebhooksOfASession(t *testing.T) {
	r := newHookReceiver(t)
	base, sim, _ := startService(t, map[string]string{"WEBHOOK_URL": r.URL, "WEBHOOK_SECRET": e2eHookSecret})
	r.wait(t, "device.connected", "deviceId", sim.Addr())

	c, offer := newClient(t)
	res := createSession(t, base, sim.Addr(), "tester", offer)
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	c.play(t, res.answer, 30)
	started := r.wait(t, "session.started", "sessionId", res.id)
	select {
	case <-c.opened:
	case <-time.After(30 * time.Second):
		t.Fatal("the input channel did not open")
	}
	if err := c.input.SendText(`{"type":"control"}`); err != nil {
		t.Fatal(err)
	}
	ctl := r.wait(t, "control.changed", "sessionId", res.id)
	if ctl.Data["previousSessionId"] != "" || ctl.Data["reason"] != "take" || ctl.Data["deviceId"] != sim.Addr() {
		t.Errorf("control.changed %v", ctl.Data)
	}
	if code, _, body := call(t, "DELETE", base+"/api/media/sessions/"+res.id, "", ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	ended := r.wait(t, "session.ended", "sessionId", res.id)
	checkSession(t, started, ended, "deleted")
	released := r.wait(t, "control.changed", "previousSessionId", res.id)
	if released.Data["sessionId"] != "" || released.Data["reason"] != "session-ended" {
		t.Errorf("control released %v", released.Data)
	}
	r.distinct(t)
	_, _, metrics := call(t, "GET", base+"/metrics", "", "")
	if !regexp.MustCompile(`media_service_webhook_deliveries_total\{endpoint="default",result="delivered"\} [1-9]`).MatchString(metrics) ||
		!strings.Contains(metrics, `media_service_webhook_events_dropped_total{endpoint="default"} 0`) {
		t.Errorf("webhook series:\n%s", grepLines(metrics, "webhook"))
	}
}

func grepLines(text, word string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, word) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}

// TestWebhooksInChromium: the viewer page in headless Chromium makes a
// session whose session.started and session.ended arrive, the page's
// own stop (DELETE) ending it.
func TestWebhooksInChromium(t *testing.T) {
	r := newHookReceiver(t)
	base, sim, _ := startService(t, map[string]string{"WEBHOOK_URL": r.URL, "WEBHOOK_SECRET": e2eHookSecret, "WEBHOOK_EVENTS": "session.*"})
	p := openViewer(t, base, sim, 360, 640)
	var id string
	p.eval(`viewer.session`, &id)
	started := r.wait(t, "session.started", "sessionId", id)
	p.eval(`stop().then(() => true)`, nil)
	ended := r.wait(t, "session.ended", "sessionId", id)
	checkSession(t, started, ended, "deleted", "client", "ice-failed")
	r.mu.Lock()
	for _, e := range r.events {
		if !strings.HasPrefix(e.Type, "session.") {
			t.Errorf("WEBHOOK_EVENTS=session.* let %s through", e.Type)
		}
	}
	r.mu.Unlock()
}

// TestDeadWebhookLeavesMediaAlone: an endpoint that never answers holds
// neither the media nor the sessions' lifecycle nor another endpoint:
// frames keep arriving at the viewer while its events wait in its queue
// (the series say so), another endpoint gets every event, and the service
// still stops (the queue's bound at shutdown).
func TestDeadWebhookLeavesMediaAlone(t *testing.T) {
	release := make(chan struct{})
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(dead.Close)
	t.Cleanup(func() { close(release) }) // before dead.Close, after the service stopped
	live := newHookReceiver(t)
	base, sim, _ := startService(t, map[string]string{"WEBHOOK_URL": dead.URL, "WEBHOOK_SECRET": e2eHookSecret, "WEBHOOK_TIMEOUT": "5m",
		"WEBHOOKS": "live=" + live.URL + "|" + e2eHookSecret})
	live.wait(t, "device.connected", "deviceId", sim.Addr())

	c, offer := newClient(t)
	res := createSession(t, base, sim.Addr(), "watcher", offer)
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	c.play(t, res.answer, 10)
	live.wait(t, "session.started", "sessionId", res.id)
	// Sessions come and go: their lifecycle is not held by the dead
	// endpoint.
	for i := range 3 {
		v, offer := newClient(t)
		r := createSession(t, base, sim.Addr(), fmt.Sprintf("visitor-%d", i), offer)
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		v.play(t, r.answer, 5)
		live.wait(t, "session.started", "sessionId", r.id)
		if code, _, body := call(t, "DELETE", base+"/api/media/sessions/"+r.id, "", ""); code != http.StatusNoContent {
			t.Fatalf("delete: %d %s", code, body)
		}
		live.wait(t, "session.ended", "sessionId", r.id)
	}
	// The frames keep coming, window after window.
	prev := c.Frames()
	for i := range 4 {
		time.Sleep(time.Second)
		cur := c.Frames()
		if cur <= prev {
			t.Fatalf("frames stopped: %d at window %d, %d before", cur, i+1, prev)
		}
		prev = cur
	}
	_, _, metrics := call(t, "GET", base+"/metrics", "", "")
	queued := regexp.MustCompile(`media_service_webhook_queued_events\{endpoint="default"\} (\d+)`).FindStringSubmatch(metrics)
	if queued == nil || queued[1] == "0" || !strings.Contains(metrics, `media_service_webhook_deliveries_total{endpoint="default",result="delivered"} 0`) {
		t.Errorf("the dead endpoint's series (want events queued, none delivered):\n%s", grepLines(metrics, "webhook"))
	}
	if !regexp.MustCompile(`media_service_webhook_deliveries_total\{endpoint="live",result="delivered"\} [1-9]`).MatchString(metrics) {
		t.Errorf("the live endpoint's series:\n%s", grepLines(metrics, "webhook"))
	}
	t.Logf("frames at the viewer: %d; %s", prev, grepLines(metrics, `endpoint="default"`))
}
