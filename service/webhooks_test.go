package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/rtc"
	"github.com/cloudphone/media-service/webhook"
)

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hookSink is an endpoint that records the events' types and data, in
// the order they arrive.
type hookSink struct {
	*httptest.Server
	mu  sync.Mutex
	got []string // "type data"
}

func newHookSink(t *testing.T) *hookSink {
	t.Helper()
	s := &hookSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &p); err != nil || r.Header.Get("webhook-signature") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, p.Type+" "+string(p.Data))
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hookSink) events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func newTestHooks(t *testing.T, sink *hookSink, source string) *hooks {
	t.Helper()
	cfg := config.Default()
	cfg.WebhookURL, cfg.WebhookSecret, cfg.PodName, cfg.DeviceSource = sink.URL, hookSecret, "pod-1", source
	h, err := newHooks(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func deviceEvent(typ, id, serial, source, reason string) string {
	b, _ := json.Marshal(webhook.Device{DeviceID: id, Serial: serial, Instance: "pod-1", Source: source, Reason: reason})
	return typ + " " + string(b)
}

// TestHooksStaticDevices: with DEVICE_SOURCE=static a device is
// connected while the adb server lists it in state "device", and every
// one listed is disconnected at shutdown.
func TestHooksStaticDevices(t *testing.T) {
	sink := newHookSink(t)
	h := newTestHooks(t, sink, "static")
	h.adbList([]adb.DeviceInfo{{Serial: "a", State: "device"}, {Serial: "b", State: "offline"}})
	h.adbList([]adb.DeviceInfo{{Serial: "a", State: "device"}, {Serial: "b", State: "offline"}}) // no change
	h.adbList([]adb.DeviceInfo{{Serial: "a", State: "offline"}, {Serial: "b", State: "device"}})
	h.adbList(nil) // the adb server is gone
	h.adbList([]adb.DeviceInfo{{Serial: "c", State: "device"}})
	h.close()
	h.adbList([]adb.DeviceInfo{{Serial: "d", State: "device"}}) // after shutdown: nothing
	want := []string{
		deviceEvent(webhook.TypeDeviceConnected, "a", "a", "adb", ""),
		deviceEvent(webhook.TypeDeviceConnected, "b", "b", "adb", ""),
		deviceEvent(webhook.TypeDeviceDisconnected, "a", "a", "adb", "offline"),
		deviceEvent(webhook.TypeDeviceDisconnected, "b", "b", "adb", "removed"),
		deviceEvent(webhook.TypeDeviceConnected, "c", "c", "adb", ""),
		deviceEvent(webhook.TypeDeviceDisconnected, "c", "c", "adb", "shutdown"),
	}
	if got := sink.events(); !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHooksFleetDevices: in a fleet, the owner's Locate and Release say
// when a device becomes and stops being available here; the adb list says
// nothing.
func TestHooksFleetDevices(t *testing.T) {
	sink := newHookSink(t)
	h := newTestHooks(t, sink, "kubernetes")
	released := 0
	locate, release := h.fleetDevices(func(_ context.Context, id string) (string, error) {
		if id == "elsewhere" {
			return "", fmt.Errorf("held by another member")
		}
		return "10.0.0.7:5555", nil
	}, func(string, string) { released++ })
	h.adbList([]adb.DeviceInfo{{Serial: "10.0.0.7:5555", State: "device"}})
	if _, err := locate(context.Background(), "elsewhere"); err == nil {
		t.Fatal("locate")
	}
	serial, err := locate(context.Background(), "phone-1")
	if err != nil || serial != "10.0.0.7:5555" {
		t.Fatal(serial, err)
	}
	release("phone-1", serial)
	locate(context.Background(), "phone-1")
	h.stopping.Store(true)
	release("phone-1", serial)
	h.close()
	if released != 2 {
		t.Errorf("release called %d times", released)
	}
	want := []string{
		deviceEvent(webhook.TypeDeviceConnected, "phone-1", "10.0.0.7:5555", "fleet", ""),
		deviceEvent(webhook.TypeDeviceDisconnected, "phone-1", "10.0.0.7:5555", "fleet", "released"),
		deviceEvent(webhook.TypeDeviceConnected, "phone-1", "10.0.0.7:5555", "fleet", ""),
		deviceEvent(webhook.TypeDeviceDisconnected, "phone-1", "10.0.0.7:5555", "fleet", "shutdown"),
	}
	if got := sink.events(); !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHooksSessionEvents: the session manager's events become the
// webhook payloads; a client address standing for a token is not a
// token name; draining says how many sessions run.
func TestHooksSessionEvents(t *testing.T) {
	sink := newHookSink(t)
	h := newTestHooks(t, sink, "static")
	created := time.Date(2025, 1, 2, 3, 4, 4, 0, time.UTC)
	started := created.Add(time.Second)
	info := rtc.SessionInfo{ID: "S1", DeviceID: "dev", UserID: "alice", Token: "frontend", TokenKind: "static", Codec: "h264", CreatedAt: created,
		Stats: rtc.SessionStats{BytesSent: 1000, PacketsSent: 10, FramesSent: 30, FramesDropped: 1}}
	h.sessionEvent(rtc.SessionEvent{Kind: rtc.SessionStarted, Time: started, Session: info, StartedAt: started})
	h.sessionEvent(rtc.SessionEvent{Kind: rtc.ControlChanged, Session: info, Controller: "S1", PreviousController: "S0", ControlReason: rtc.ControlTake})
	ended := info
	ended.EndReason = rtc.EndDeleted
	h.sessionEvent(rtc.SessionEvent{Kind: rtc.SessionEnded, Time: started.Add(1500 * time.Millisecond), Session: ended, StartedAt: started})
	anon := info
	anon.Token, anon.TokenKind = "addr-127.0.0.1", ""
	h.sessionEvent(rtc.SessionEvent{Kind: rtc.ControlChanged, Session: anon, Controller: "", PreviousController: "S1", ControlReason: rtc.ControlRelease})
	h.onDrain(nil, func() int { return 3 }, 30*time.Second)()
	h.close()
	want := []string{
		`session.started {"sessionId":"S1","deviceId":"dev","userId":"alice","token":"frontend","codec":"h264","instance":"pod-1","createdAt":"2025-01-02T03:04:04Z","startedAt":"2025-01-02T03:04:05Z"}`,
		`control.changed {"deviceId":"dev","sessionId":"S1","previousSessionId":"S0","userId":"alice","token":"frontend","instance":"pod-1","reason":"take"}`,
		`session.ended {"sessionId":"S1","deviceId":"dev","userId":"alice","token":"frontend","codec":"h264","instance":"pod-1","createdAt":"2025-01-02T03:04:04Z","startedAt":"2025-01-02T03:04:05Z","endedAt":"2025-01-02T03:04:06.5Z","durationMs":1500,"reason":"deleted","bytesSent":1000,"packetsSent":10,"framesSent":30,"framesDropped":1}`,
		`control.changed {"deviceId":"dev","sessionId":"","previousSessionId":"S1","instance":"pod-1","reason":"release"}`,
		`draining {"instance":"pod-1","sessions":3,"drainTimeoutMs":30000}`,
	}
	if got := sink.events(); !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHooksReload: a reload replaces the endpoints.
func TestHooksReload(t *testing.T) {
	a, b := newHookSink(t), newHookSink(t)
	h := newTestHooks(t, a, "static")
	defer h.close()
	cfg := config.Default()
	cfg.Webhooks = "b=" + b.URL + "|" + hookSecret + "|draining"
	h.reload(cfg)
	h.onDrain(nil, func() int { return 0 }, time.Second)()
	h.adbList([]adb.DeviceInfo{{Serial: "x", State: "device"}}) // b does not take it
	for deadline := time.Now().Add(20 * time.Second); len(b.events()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b got nothing")
		}
	}
	h.close()
	if got := b.events(); len(got) != 1 || !strings.HasPrefix(got[0], "draining ") || len(a.events()) != 0 {
		t.Errorf("a got %v, b %v", a.events(), got)
	}
}
