package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/piontest"
	"github.com/cloudphone/media-service/internal/testutil"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// client is a real Pion peer that views a device.
type client struct {
	*piontest.Viewer
	input   *webrtc.DataChannel
	packets chan struct{}
	opened  chan struct{}
}

func newClient(t *testing.T) (*client, string) {
	t.Helper()
	c := &client{packets: make(chan struct{}, 1024), opened: make(chan struct{})}
	v, offer := piontest.New(t, piontest.Options{DataChannel: "input", OnPacket: func(*rtp.Packet) {
		select {
		case c.packets <- struct{}{}:
		default:
		}
	}})
	c.Viewer, c.input = v, v.Channel
	c.input.OnOpen(func() { close(c.opened) })
	return c, offer
}

// play applies the server's answer and waits for n RTP packets.
func (c *client) play(t *testing.T, answer string, n int) {
	t.Helper()
	c.Answer(t, answer)
	for i := 0; i < n; i++ {
		select {
		case <-c.packets:
		case <-time.After(30 * time.Second):
			t.Fatalf("received %d RTP packets, want %d", i, n)
		}
	}
}

// call sends a request with the test token and returns status, body.
func call(t testing.TB, method, url, ctype, body string) (int, http.Header, string) {
	t.Helper()
	return callAs(t, e2eToken, method, url, ctype, body)
}

// callAs is call with another token.
func callAs(t testing.TB, token, method, url, ctype, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data)
}

func sessionBody(device, offer string) string {
	b, _ := json.Marshal(map[string]string{"deviceId": device, "userId": "tester", "offer": offer})
	return string(b)
}

// TestSessionsWithPion drives every session endpoint with real Pion
// peers against the running service.
func TestSessionsWithPion(t *testing.T) {
	base, sim, logs := startService(t, map[string]string{"TURN_PASSWORD": "turn-secret-9876", "TURN_USERNAME": "u", "TURN_URLS": "turn:127.0.0.1:3478"})
	defer func() {
		// Secrets never reach the logs.
		for _, secret := range []string{e2eToken, "turn-secret-9876"} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret appears in the logs: %q", secret)
			}
		}
	}()
	c, offer := newClient(t)

	// Failure paths first: nothing is allocated for them.
	for _, tc := range []struct {
		name, device, offer string
		want                int
	}{
		{"unknown device", "127.0.0.1:1", offer, 404},
		{"malformed SDP", sim.Addr(), "v=0\r\nm=video this is not sdp\r\n", 400},
	} {
		if code, _, body := call(t, "POST", base+"/api/media/sessions", "application/json", sessionBody(tc.device, tc.offer)); code != tc.want || !strings.Contains(body, `"message"`) {
			t.Errorf("%s: %d %s, want %d with an error body", tc.name, code, body, tc.want)
		}
	}
	req, _ := http.NewRequest("GET", base+"/api/media/sessions", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("no token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	code, _, body := call(t, "POST", base+"/api/media/sessions", "application/json", sessionBody(sim.Addr(), offer))
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var created struct{ SessionID, Answer string }
	json.Unmarshal([]byte(body), &created)
	if !strings.Contains(created.Answer, "H264") || !strings.Contains(created.Answer, "profile-level-id=42") {
		t.Fatalf("answer does not carry the device's Constrained Baseline H.264:\n%s", created.Answer)
	}
	c.play(t, created.Answer, 20)
	// Input over the data channel reaches the device, mapped to its pixels.
	select {
	case <-c.opened:
	case <-time.After(30 * time.Second):
		t.Fatal("input channel never opened")
	}
	if err := c.input.SendText(`{"type":"tap","x":0.5,"y":0.25}`); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyErr(t, "the tap reaches the device", 30*time.Second, func() (bool, error) {
		for _, ev := range sim.Events() {
			// The input command's tap while the input agent starts, the
			// agent's finger down once it runs.
			tap := ev.Kind == devicesim.InputTap || ev.Kind == devicesim.InputTouch && ev.Action == devicesim.ActionDown
			if tap && ev.X == 180 && ev.Y == 160 {
				return true, nil
			}
		}
		return false, nil
	})

	if code, _, body := call(t, "GET", base+"/api/media/sessions", "", ""); code != 200 || !strings.Contains(body, created.SessionID) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, _, body := call(t, "GET", base+"/api/media/sessions/"+created.SessionID, "", ""); code != 200 || !strings.Contains(body, sim.Addr()) {
		t.Fatalf("get: %d %s", code, body)
	}
	cand := `{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50999 typ host","sdpMid":"0","sdpMLineIndex":0}`
	if code, _, body := call(t, "POST", base+"/api/media/sessions/"+created.SessionID+"/candidates", "application/json",
		fmt.Sprintf(`{"candidate":%q}`, cand)); code != 204 {
		t.Fatalf("candidate: %d %s", code, body)
	}
	for _, path := range []string{"/api/media/devices", "/api/media/stats", "/api/media/encoders"} {
		code, _, body := call(t, "GET", base+path, "", "")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		if path == "/api/media/devices" && (!strings.Contains(body, `"viewers":1`) || !strings.Contains(body, `"width":360`)) {
			t.Fatalf("devices while viewed: %s", body)
		}
	}
	// The operator's view while a viewer watches (loopback: no token).
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`media_service_pipeline_fps{device="` + sim.Addr() + `"}`,
		`media_service_pipeline_bitrate_bytes{device="` + sim.Addr() + `"}`,
		"media_service_active_sessions 1",
		`media_service_encoding_errors_total{device="` + sim.Addr() + `"} 0`,
		"media_service_goroutines ", "media_service_cpu_percent ", "media_service_memory_bytes ", "media_service_open_fds ",
		`media_service_viewers{device="` + sim.Addr() + `"} 1`,
		`media_service_device_encoder{device="` + sim.Addr() + `",encoder="passthrough"} 1`,
		`media_service_webrtc_packets_sent_total{device="` + sim.Addr() + `"}`,
		`media_service_frames_dropped_total{device="` + sim.Addr() + `",reason="stale"}`,
	} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(string(metricsText), created.SessionID) || strings.Contains(string(metricsText), "tester") {
		t.Error("/metrics carries a session or user id")
	}
	if code, _, _ := call(t, "DELETE", base+"/api/media/sessions/"+created.SessionID, "", ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code, _, _ := call(t, "GET", base+"/api/media/sessions/"+created.SessionID, "", ""); code != 404 {
		t.Fatalf("get after delete: %d", code)
	}
}

// TestWHEP plays a device through the WHEP routes (RFC 9725).
func TestWHEP(t *testing.T) {
	base, sim, _ := startService(t, nil)
	c, offer := newClient(t)
	code, hdr, answer := call(t, "POST", base+"/whep/"+sim.Addr(), "application/sdp", offer)
	if code != 201 || hdr.Get("Content-Type") != "application/sdp" || !strings.HasPrefix(hdr.Get("Location"), "/whep/"+sim.Addr()+"/") {
		t.Fatalf("whep create: %d %v %s", code, hdr, answer)
	}
	c.play(t, answer, 1)
	loc := base + hdr.Get("Location")
	ufrag := regexp.MustCompile(`a=ice-ufrag:(\S+)`).FindStringSubmatch(offer)[1]
	frag := "a=ice-ufrag:%s\r\na=ice-pwd:efghijklmnopqrstuvwxyz\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 50998 typ host\r\na=end-of-candidates\r\n"
	if code, _, body := call(t, "PATCH", loc, "application/trickle-ice-sdpfrag", fmt.Sprintf(frag, ufrag)); code != 204 {
		t.Fatalf("whep patch: %d %s", code, body)
	}
	// A fragment for another ICE session is an ICE restart: refused.
	if code, _, body := call(t, "PATCH", loc, "application/trickle-ice-sdpfrag", fmt.Sprintf(frag, "restart1")); code != 400 {
		t.Fatalf("whep patch with another ufrag: %d %s", code, body)
	}
	if code, _, _ := call(t, "DELETE", loc, "", ""); code != 204 {
		t.Fatalf("whep delete: %d", code)
	}
	if code, _, _ := call(t, "DELETE", loc, "", ""); code != 404 {
		t.Fatalf("whep delete twice: %d", code)
	}
	if code, _, _ := call(t, "POST", base+"/whep/127.0.0.1:1", "application/sdp", offer); code != 404 {
		t.Fatalf("whep unknown device: %d", code)
	}
}

// TestWorkerPoolMode streams raw frames encoded on the shared worker pool
// (USE_WORKER_POOL) to a Pion viewer.
func TestWorkerPoolMode(t *testing.T) {
	base, sim, _ := startService(t, map[string]string{"CAPTURE_MODE": "raw-frames", "USE_WORKER_POOL": "true", "WORKER_COUNT": "2"})
	c, offer := newClient(t)
	code, _, body := call(t, "POST", base+"/api/media/sessions", "application/json", sessionBody(sim.Addr(), offer))
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var created struct{ SessionID, Answer string }
	json.Unmarshal([]byte(body), &created)
	c.play(t, created.Answer, 20)
	if code, _, body := call(t, "GET", base+"/api/media/devices", "", ""); code != 200 || !strings.Contains(body, `"encoder":"pool:libx264"`) {
		t.Fatalf("devices: %d %s", code, body)
	}
	if code, _, _ := call(t, "DELETE", base+"/api/media/sessions/"+created.SessionID, "", ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
}
