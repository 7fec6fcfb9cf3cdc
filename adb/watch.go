package adb

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/cloudphone/media-service/internal/retry"
)

// Watch calls fn with the adb server's device list each time it changes,
// starting with the current one, until ctx ends. It follows
// host:track-devices for prompt news of devices that arrive, and also
// polls host:devices-l every poll interval (default 1 s), because the adb
// server does not report a TCP device that drops into its reconnect loop:
// `adb devices` shows it offline while track-devices stays silent. When the
// server cannot be reached, Watch retries with backoff.
func (c *Client) Watch(ctx context.Context, log *slog.Logger, poll time.Duration, fn func([]DeviceInfo)) {
	if poll <= 0 {
		poll = time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		bo := retry.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
		for ctx.Err() == nil {
			err := c.track(ctx, func() { bo.Reset(); notify() })
			if ctx.Err() != nil {
				return
			}
			d := bo.Next()
			log.Warn("device tracking interrupted; retrying", "err", err, "retry_in", d)
			if !retry.Sleep(ctx, d) {
				return
			}
		}
	}()
	defer func() { <-done }()

	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	var last []DeviceInfo
	first := true
	for {
		if list, err := c.Devices(ctx); err == nil && (first || !slices.Equal(list, last)) {
			first = false
			last = list
			fn(list)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-changed:
		}
	}
}

// track follows host:track-devices until the connection fails or ctx ends,
// calling changed for every update.
func (c *Client) track(ctx context.Context, changed func()) error {
	conn, raw, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	const req = "host:track-devices"
	if err := conn.SendMessage([]byte(req)); err != nil {
		return err
	}
	if _, err := conn.ReadStatus(req); err != nil {
		return adbError(req, err)
	}
	raw.SetDeadline(time.Time{})
	for {
		if _, err := conn.ReadMessage(); err != nil {
			return err
		}
		changed()
	}
}

// KeepConnected connects the adb server to each TCP device in addrs
// (ADB_DEVICES: Redroid containers, phones with adb over Wi-Fi), and again,
// with backoff per device, whenever one is missing or not in the "device"
// state. It returns when ctx ends.
func (c *Client) KeepConnected(ctx context.Context, log *slog.Logger, addrs []string, check time.Duration) {
	if len(addrs) == 0 {
		return
	}
	if check <= 0 {
		check = 2 * time.Second
	}
	type reconnect struct {
		bo   retry.Backoff
		next time.Time
	}
	state := make(map[string]*reconnect, len(addrs))
	for _, a := range addrs {
		state[a] = &reconnect{bo: retry.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second}}
	}
	for {
		list, err := c.Devices(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("list devices", "err", err)
		}
		now := time.Now()
		for _, a := range addrs {
			r := state[a]
			i := slices.IndexFunc(list, func(d DeviceInfo) bool { return d.Serial == a })
			if i >= 0 && list[i].State == "device" {
				r.bo.Reset()
				r.next = time.Time{}
				continue
			}
			if now.Before(r.next) {
				continue
			}
			if i >= 0 && list[i].State == "offline" {
				// A stale entry blocks a fresh connection on some servers.
				c.Disconnect(ctx, a)
			}
			if err := c.Connect(ctx, a); err != nil {
				d := r.bo.Next()
				r.next = now.Add(d)
				log.Warn("connect device", "device", a, "err", err, "retry_in", d)
			} else {
				log.Info("connected device", "device", a)
			}
		}
		if !retry.Sleep(ctx, check) {
			return
		}
	}
}
