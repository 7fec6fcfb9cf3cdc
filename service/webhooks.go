package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/metrics"
	"github.com/cloudphone/media-service/rtc"
	"github.com/cloudphone/media-service/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

// Lifecycle webhooks (package webhook): the service's components only
// queue events, which never blocks and never touches the media path; the
// dispatcher's senders post them.
//
//   - session.started, session.ended and control.changed come from the
//     session manager (rtc.Config.OnSessionEvent): started when a session's
//     media starts flowing, ended once it has released its device.
//   - device.connected and device.disconnected say that a device became,
//     or stopped being, available to this instance. With
//     DEVICE_SOURCE=static that is the adb server's list: a device it
//     lists in state "device" (at start, or when it comes), and one that
//     leaves that state or the list (the state it went to, or "removed");
//     at shutdown every device listed is disconnected ("shutdown"). In a
//     fleet (DEVICE_SOURCE=kubernetes) only a device's owner sends them:
//     connected when the device starts running here (its Lease taken and
//     adb connected: the registry's Locate), disconnected when it stops
//     here (the registry's Release: its last viewer left and the linger
//     passed, its Lease was lost, its pod went away, the drain handed it
//     over; "shutdown" when the instance stops).
//   - draining as the drain starts.
//
// The endpoints (WEBHOOK_URL, WEBHOOKS) are live: a reload applies them.
// At shutdown the events queued get a couple of seconds to go out
// (webhook.DefaultCloseTimeout), after the sessions and devices ended.

// hooks is the service's side of the webhooks.
type hooks struct {
	d        *webhook.Dispatcher
	metrics  *metrics.Webhooks
	log      *slog.Logger
	instance string
	fleet    bool // DEVICE_SOURCE=kubernetes: device events from Locate and Release

	// stopping is set once the service stops: devices released then are
	// "shutdown".
	stopping atomic.Bool

	mu      sync.Mutex
	online  map[string]bool // static: the serials listed in state "device"
	stopped bool            // static: no device event after shutdown's
}

// startWebhooks starts the webhooks' dispatcher (Run closes it last).
func (s *service) startWebhooks() error {
	h, err := newHooks(s.cfg, s.log)
	if err != nil {
		return err
	}
	s.hooks = h
	return nil
}

// closeSessions ends the sessions left as Run returns: "drain" once a
// drain started, "shutdown" otherwise (their session.ended reason).
func (s *service) closeSessions() {
	reason := rtc.EndShutdown
	if s.adm != nil && s.adm.draining.Load() {
		reason = rtc.EndDrain
	}
	s.hooks.stopping.Store(true)
	s.manager.CloseWith(reason)
}

// newHooks starts the dispatcher with the configuration's endpoints.
func newHooks(cfg config.Config, log *slog.Logger) (*hooks, error) {
	h := &hooks{metrics: metrics.NewWebhooks(), log: log, instance: instanceName(cfg), fleet: cfg.DeviceSource == "kubernetes"}
	h.d = webhook.New(webhook.Options{Log: log, Metrics: h.metrics})
	if err := h.setEndpoints(cfg); err != nil {
		h.d.Close()
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return h, nil
}

// instanceName is POD_NAME, or the host name.
func instanceName(cfg config.Config) string {
	if cfg.PodName != "" {
		return cfg.PodName
	}
	name, _ := os.Hostname()
	return name
}

// webhookEndpoints are the configuration's endpoints for the dispatcher.
func webhookEndpoints(cfg config.Config) ([]webhook.Endpoint, error) {
	eps, err := cfg.WebhookEndpoints()
	if err != nil {
		return nil, err
	}
	out := make([]webhook.Endpoint, 0, len(eps))
	for _, e := range eps {
		out = append(out, webhook.Endpoint{Name: e.Name, URL: e.URL, Secret: e.Secret, Events: e.Events, Timeout: cfg.WebhookTimeout})
	}
	return out, nil
}

// setEndpoints applies the configuration's endpoints (at start, and at
// every reload).
func (h *hooks) setEndpoints(cfg config.Config) error {
	eps, err := webhookEndpoints(cfg)
	if err == nil {
		err = h.d.SetEndpoints(eps)
	}
	return err
}

// reload applies a reloaded configuration's endpoints; it was validated.
func (h *hooks) reload(cfg config.Config) {
	if h == nil {
		return
	}
	if err := h.setEndpoints(cfg); err != nil {
		h.log.Error("configuration reload: the webhook endpoints were left as they were", "err", err)
	}
}

func (h *hooks) collectors() []prometheus.Collector { return h.metrics.Collectors() }

// close sends the static devices' disconnection, then gives the queued
// events their bounded time to go out. Run calls it last.
func (h *hooks) close() {
	h.stopping.Store(true)
	h.mu.Lock()
	h.stopped = true
	gone := make([]string, 0, len(h.online))
	for serial := range h.online {
		gone = append(gone, serial)
	}
	h.online = nil
	h.mu.Unlock()
	slices.Sort(gone)
	for _, serial := range gone {
		h.device(webhook.TypeDeviceDisconnected, serial, serial, "shutdown")
	}
	h.d.Close()
}

// sessionEvent is the session manager's rtc.Config.OnSessionEvent.
func (h *hooks) sessionEvent(ev rtc.SessionEvent) {
	i := ev.Session
	switch ev.Kind {
	case rtc.SessionStarted:
		h.d.EmitAt(webhook.TypeSessionStarted, ev.Time, h.session(i, ev.StartedAt))
	case rtc.SessionEnded:
		st := i.Stats
		h.d.EmitAt(webhook.TypeSessionEnded, ev.Time, webhook.SessionEnded{Session: h.session(i, ev.StartedAt), EndedAt: ev.Time.UTC(),
			DurationMs: ev.Duration().Milliseconds(), Reason: i.EndReason,
			BytesSent: st.BytesSent, PacketsSent: st.PacketsSent, FramesSent: st.FramesSent, FramesDropped: st.FramesDropped})
	case rtc.ControlChanged:
		c := webhook.ControlChanged{DeviceID: i.DeviceID, SessionID: ev.Controller, PreviousSessionID: ev.PreviousController,
			Instance: h.instance, Reason: ev.ControlReason}
		if ev.Controller == i.ID {
			c.UserID, c.Token = i.UserID, tokenName(i)
		}
		h.d.EmitAt(webhook.TypeControlChanged, ev.Time, c)
	}
}

func (h *hooks) session(i rtc.SessionInfo, started time.Time) webhook.Session {
	return webhook.Session{SessionID: i.ID, DeviceID: i.DeviceID, UserID: i.UserID, Token: tokenName(i), ViewOnly: i.ViewOnly,
		Codec: string(i.Codec), Instance: h.instance, CreatedAt: i.CreatedAt.UTC(), StartedAt: started.UTC()}
}

// tokenName is the session's token name: none for the client address
// that stands for it with AUTH_DISABLED (principal).
func tokenName(i rtc.SessionInfo) string {
	if i.TokenKind == "" && strings.HasPrefix(i.Token, "addr-") {
		return ""
	}
	return i.Token
}

func (h *hooks) device(typ, id, serial, reason string) {
	src := "adb"
	if h.fleet {
		src = "fleet"
	}
	h.d.Emit(typ, webhook.Device{DeviceID: id, Serial: serial, Instance: h.instance, Source: src, Reason: reason})
}

// adbList follows the adb server's list (DEVICE_SOURCE=static): a device
// in state "device" is connected; one that leaves that state, or the
// list, disconnected.
func (h *hooks) adbList(list []adb.DeviceInfo) {
	if h.fleet {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	now := make(map[string]bool, len(list))
	states := make(map[string]string, len(list))
	for _, d := range list {
		states[d.Serial] = d.State
		if d.State == "device" {
			now[d.Serial] = true
		}
	}
	for _, d := range list {
		if now[d.Serial] && !h.online[d.Serial] {
			h.device(webhook.TypeDeviceConnected, d.Serial, d.Serial, "")
		}
	}
	var gone []string
	for serial := range h.online {
		if !now[serial] {
			gone = append(gone, serial)
		}
	}
	slices.Sort(gone)
	for _, serial := range gone {
		reason := states[serial]
		if reason == "" {
			reason = "removed"
		}
		h.device(webhook.TypeDeviceDisconnected, serial, serial, reason)
	}
	h.online = now
}

// fleetDevices wraps the registry's Locate and Release in a fleet:
// device.connected once the device may run here, device.disconnected
// once that run ended (Release follows every Locate that succeeded).
func (h *hooks) fleetDevices(locate func(context.Context, string) (string, error), release func(id, serial string)) (func(context.Context, string) (string, error), func(id, serial string)) {
	return func(ctx context.Context, id string) (string, error) {
			serial, err := locate(ctx, id)
			if err == nil {
				h.device(webhook.TypeDeviceConnected, id, serial, "")
			}
			return serial, err
		}, func(id, serial string) {
			release(id, serial)
			reason := "released"
			if h.stopping.Load() {
				reason = "shutdown"
			}
			h.device(webhook.TypeDeviceDisconnected, id, serial, reason)
		}
}

// onDrain returns the admission's onDrain: the draining event, then next
// (a fleet member's hand-over), if any.
func (h *hooks) onDrain(next func(), sessions func() int, timeout time.Duration) func() {
	return func() {
		h.d.Emit(webhook.TypeDraining, webhook.Draining{Instance: h.instance, Sessions: sessions(), DrainTimeoutMs: timeout.Milliseconds()})
		if next != nil {
			next()
		}
	}
}
