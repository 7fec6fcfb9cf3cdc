package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testToken = "0123456789abcdef0123"

// startServer serves on a free loopback port and stops when the test ends.
func startServer(t *testing.T, o Options, deps Deps) string {
	t.Helper()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Tokens == nil && !o.AuthDisabled {
		o.Tokens = []Token{{Name: "test", Secret: testToken}}
	}
	o.Info = Info{Version: "test", FFmpeg: "7.1.5"}
	return serve(t, New(o, deps))
}

// serve serves s on a free loopback port until the test ends.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
		http.DefaultClient.CloseIdleConnections()
	})
	return "http://" + ln.Addr().String()
}

// do sends a request and decodes a JSON answer into out (when not nil).
func do(t *testing.T, method, url, token, contentType, body string, header map[string]string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, url, resp.StatusCode, data, err)
		}
	}
	return resp
}

func TestHealthAndViewerArePublic(t *testing.T) {
	base := startServer(t, Options{}, Deps{})
	var h HealthResponse
	if resp := do(t, "GET", base+"/health", "", "", "", nil, &h); resp.StatusCode != 200 || h.Status != "ok" || h.Version != "test" {
		t.Fatalf("health %d %+v", resp.StatusCode, h)
	}
	resp := do(t, "GET", base+"/", "", "", "", nil, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("viewer page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestAuth(t *testing.T) {
	base := startServer(t, Options{}, Deps{Devices: func(context.Context) ([]DeviceView, error) { return []DeviceView{}, nil }})
	var e ErrorResponse
	for _, tok := range []string{"", "wrong-token-wrong-token", testToken + "x"} {
		if resp := do(t, "GET", base+"/api/media/devices", tok, "", "", nil, &e); resp.StatusCode != 401 || e.Error != "unauthorized" || e.Message == "" {
			t.Fatalf("token %q: %d %+v", tok, resp.StatusCode, e)
		}
	}
	if resp := do(t, "GET", base+"/api/media/devices", testToken, "", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("valid token: %d", resp.StatusCode)
	}
	// No tokens and auth not disabled: nothing gets in.
	closed := startServer(t, Options{Tokens: []Token{}}, Deps{Devices: func(context.Context) ([]DeviceView, error) { return nil, nil }})
	if resp := do(t, "GET", closed+"/api/media/devices", testToken, "", "", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("no tokens configured: %d", resp.StatusCode)
	}
	open := startServer(t, Options{AuthDisabled: true}, Deps{Devices: func(context.Context) ([]DeviceView, error) { return []DeviceView{}, nil }})
	if resp := do(t, "GET", open+"/api/media/devices", "", "", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("auth disabled: %d", resp.StatusCode)
	}
}

func TestOperatorEndpoints(t *testing.T) {
	base := startServer(t, Options{}, Deps{})
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1",
		"/debug/pprof/allocs", "/debug/pprof/block", "/debug/pprof/mutex", "/debug/pprof/threadcreate", "/debug/pprof/symbol"} {
		if resp := do(t, "GET", base+path, "", "", "", nil, nil); resp.StatusCode != 200 {
			t.Errorf("%s from loopback: %d", path, resp.StatusCode)
		}
	}
	// A request relayed by a local proxy is not a local client.
	fwd := map[string]string{"X-Forwarded-For": "203.0.113.9"}
	var e ErrorResponse
	if resp := do(t, "GET", base+"/metrics", "", "", "", fwd, &e); resp.StatusCode != 403 || e.Error != "forbidden" {
		t.Fatalf("forwarded without token: %d %+v", resp.StatusCode, e)
	}
	if resp := do(t, "GET", base+"/debug/pprof/heap", testToken, "", "", fwd, nil); resp.StatusCode != 200 {
		t.Fatalf("forwarded with token: %d", resp.StatusCode)
	}
}

func TestRateLimit(t *testing.T) {
	base := startServer(t, Options{RateLimit: 2}, Deps{Devices: func(context.Context) ([]DeviceView, error) { return []DeviceView{}, nil }})
	limited := 0
	for range 20 {
		if resp := do(t, "GET", base+"/api/media/devices", testToken, "", "", nil, nil); resp.StatusCode == 429 {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("20 requests in a burst at 2/s were all admitted")
	}
}

func TestCORS(t *testing.T) {
	base := startServer(t, Options{CORSOrigins: []string{"https://ops.example"}}, Deps{})
	resp := do(t, "OPTIONS", base+"/api/media/sessions", "", "", "", map[string]string{
		"Origin": "https://ops.example", "Access-Control-Request-Method": "POST"}, nil)
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://ops.example" {
		t.Fatalf("allowed origin: %v", resp.Header)
	}
	resp = do(t, "OPTIONS", base+"/api/media/sessions", "", "", "", map[string]string{
		"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, nil)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin allowed: %v", resp.Header)
	}
}

func TestDevicesEncodersStats(t *testing.T) {
	base := startServer(t, Options{}, Deps{
		Devices: func(context.Context) ([]DeviceView, error) {
			return []DeviceView{{Serial: "127.0.0.1:5555", State: "device", CaptureMode: "screenrecord"}}, nil
		},
		Encoders: func(context.Context) []EncoderView { return []EncoderView{{Encoder: "libx264", Available: true}} },
		Stats:    func() StatsResponse { return StatsResponse{Sessions: []SessionView{}} },
	})
	var d DevicesResponse
	if resp := do(t, "GET", base+"/api/media/devices", testToken, "", "", nil, &d); resp.StatusCode != 200 || d.Devices[0].Serial != "127.0.0.1:5555" {
		t.Fatalf("devices %d %+v", resp.StatusCode, d)
	}
	var enc EncodersResponse
	if resp := do(t, "GET", base+"/api/media/encoders", testToken, "", "", nil, &enc); resp.StatusCode != 200 || enc.Encoders[0].Encoder != "libx264" || !enc.Encoders[0].Available {
		t.Fatalf("encoders %d %+v", resp.StatusCode, enc)
	}
	var st StatsResponse
	if resp := do(t, "GET", base+"/api/media/stats", testToken, "", "", nil, &st); resp.StatusCode != 200 || st.Sessions == nil {
		t.Fatalf("stats %d %+v", resp.StatusCode, st)
	}
	failing := startServer(t, Options{}, Deps{Devices: func(context.Context) ([]DeviceView, error) { return nil, errors.New("connection refused") }})
	var e ErrorResponse
	if resp := do(t, "GET", failing+"/api/media/devices", testToken, "", "", nil, &e); resp.StatusCode != 502 || !strings.Contains(e.Message, "connection refused") {
		t.Fatalf("adb down: %d %+v", resp.StatusCode, e)
	}
	none := startServer(t, Options{}, Deps{})
	for _, p := range []string{"/api/media/devices", "/api/media/encoders", "/api/media/stats", "/api/media/sessions"} {
		if resp := do(t, "GET", none+p, testToken, "", "", nil, &e); resp.StatusCode != 503 {
			t.Errorf("%s unconfigured: %d", p, resp.StatusCode)
		}
	}
}

// recordingSessions is a Sessions that records calls, to show that
// validation happens before anything reaches the session manager.
type recordingSessions struct {
	mu      sync.Mutex
	creates int
	callers []Caller
	fail    error
}

var errUnknown = errors.New("unknown device")

func (r *recordingSessions) Create(ctx context.Context, c Caller, device, user, offer string) (string, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if CallerFrom(ctx).Token != c.Token {
		panic("the context carries another caller")
	}
	r.creates++
	r.callers = append(r.callers, c)
	if r.fail != nil {
		return "", "", r.fail
	}
	return "sess1", "v=0 answer", nil
}
func (r *recordingSessions) List() []SessionView { return []SessionView{{ID: "sess1"}} }
func (r *recordingSessions) Get(id string) (SessionView, error) {
	if id != "sess1" {
		return SessionView{}, errUnknown
	}
	return SessionView{ID: id}, nil
}
func (r *recordingSessions) Delete(id string) error {
	if id != "sess1" {
		return errUnknown
	}
	return nil
}
func (r *recordingSessions) AddCandidate(id, c string) error   { return r.Delete(id) }
func (r *recordingSessions) AddSDPFragment(id, f string) error { return r.Delete(id) }

func TestSessionValidation(t *testing.T) {
	rec := &recordingSessions{}
	status := func(err error) int {
		if errors.Is(err, errUnknown) {
			return 404
		}
		return 500
	}
	base := startServer(t, Options{}, Deps{Sessions: rec, ErrorStatus: status})
	offer := browserOffer(t)
	body := func(device, user, offer string) string {
		b, _ := json.Marshal(CreateSessionRequest{DeviceID: device, UserID: user, Offer: offer})
		return string(b)
	}
	for _, tc := range []struct {
		name, ct, body string
		want           int
	}{
		{"not json", "application/json", "{", 400},
		{"wrong type", "text/plain", body("d", "u", offer), 415},
		{"hostile device", "application/json", body("a;reboot", "u", offer), 400},
		{"empty device", "application/json", body("", "u", offer), 400},
		{"hostile user", "application/json", body("dev", "$(id)", offer), 400},
		{"empty offer", "application/json", body("dev", "u", ""), 400},
		{"not sdp", "application/json", body("dev", "u", "hello"), 400},
		{"no video", "application/json", body("dev", "u", "v=0\r\nm=audio 9 RTP/AVP 0\r\n"), 400},
		{"binary offer", "application/json", body("dev", "u", "v=0\x00\x01 m=video"), 400},
		{"oversized", "application/json", body("dev", "u", "v=0 m=video "+strings.Repeat("a", maxBodyBytes)), 413},
	} {
		var e ErrorResponse
		resp := do(t, "POST", base+"/api/media/sessions", testToken, tc.ct, tc.body, nil, &e)
		if resp.StatusCode != tc.want || e.Error == "" || e.Message == "" {
			t.Errorf("%s: %d %+v, want %d with an error body", tc.name, resp.StatusCode, e, tc.want)
		}
	}
	if rec.creates != 0 {
		t.Fatalf("%d invalid requests reached the session manager", rec.creates)
	}
	var created CreateSessionResponse
	if resp := do(t, "POST", base+"/api/media/sessions", testToken, "application/json", body("127.0.0.1:5555", "alice", offer), nil, &created); resp.StatusCode != 201 || created.SessionID != "sess1" {
		t.Fatalf("create: %d %+v", resp.StatusCode, created)
	}
	rec.fail = errUnknown
	var e ErrorResponse
	if resp := do(t, "POST", base+"/api/media/sessions", testToken, "application/json", body("nope", "alice", offer), nil, &e); resp.StatusCode != 404 || e.Error != "not_found" {
		t.Fatalf("unknown device: %d %+v", resp.StatusCode, e)
	}
	if resp := do(t, "GET", base+"/api/media/sessions/sess1", testToken, "", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("get: %d", resp.StatusCode)
	}
	for _, id := range []string{"nope", "..%2f..", "a;b"} {
		if resp := do(t, "DELETE", base+"/api/media/sessions/"+id, testToken, "", "", nil, nil); resp.StatusCode != 404 {
			t.Errorf("delete %q: %d", id, resp.StatusCode)
		}
	}
	if resp := do(t, "POST", base+"/api/media/sessions/sess1/candidates", testToken, "application/json", `{"candidate":"a\r\nb"}`, nil, nil); resp.StatusCode != 400 {
		t.Fatalf("multi-line candidate: %d", resp.StatusCode)
	}
	if resp := do(t, "DELETE", base+"/api/media/sessions/sess1", testToken, "", "", nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
}

func TestWHEPValidation(t *testing.T) {
	rec := &recordingSessions{}
	base := startServer(t, Options{}, Deps{Sessions: rec})
	offer := browserOffer(t)
	if resp := do(t, "POST", base+"/whep/dev1", testToken, "application/json", offer, nil, nil); resp.StatusCode != 415 {
		t.Fatalf("json body: %d", resp.StatusCode)
	}
	if resp := do(t, "POST", base+"/whep/dev;1", testToken, "application/sdp", offer, nil, nil); resp.StatusCode != 400 {
		t.Fatalf("hostile device: %d", resp.StatusCode)
	}
	if resp := do(t, "POST", base+"/whep/dev1", testToken, "application/sdp", "garbage", nil, nil); resp.StatusCode != 400 {
		t.Fatalf("garbage: %d", resp.StatusCode)
	}
	if rec.creates != 0 {
		t.Fatal("invalid WHEP requests reached the session manager")
	}
	resp := do(t, "POST", base+"/whep/dev1", testToken, "application/sdp", offer, nil, nil)
	if resp.StatusCode != 201 || resp.Header.Get("Location") != "/whep/dev1/sess1" || resp.Header.Get("Content-Type") != "application/sdp" {
		t.Fatalf("create: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := do(t, "PATCH", base+"/whep/dev1/sess1", testToken, "application/trickle-ice-sdpfrag",
		"a=ice-ufrag:x\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n", nil, nil); resp.StatusCode != 204 {
		t.Fatalf("patch: %d", resp.StatusCode)
	}
	if resp := do(t, "DELETE", base+"/whep/dev1/sess1", testToken, "", "", nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	base := startServer(t, Options{}, Deps{})
	var e ErrorResponse
	if resp := do(t, "GET", base+"/nope", "", "", "", nil, &e); resp.StatusCode != 404 || e.Error != "not_found" {
		t.Errorf("unknown route: %d %+v", resp.StatusCode, e)
	}
	if resp := do(t, "POST", base+"/health", "", "", "{}", nil, &e); (resp.StatusCode != 405 && resp.StatusCode != 404) || e.Error == "" {
		t.Errorf("wrong method: %d %+v", resp.StatusCode, e)
	}
}

func TestServeReturnsWhenListenerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	s := New(Options{Log: slog.New(slog.DiscardHandler)}, Deps{})
	if err := s.Serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), "api: serve") {
		t.Fatalf("Serve on a closed listener = %v", err)
	}
}

// browserOffer returns a real offer to receive video, made by a Pion peer
// as a browser would make it.
func browserOffer(t *testing.T) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}
