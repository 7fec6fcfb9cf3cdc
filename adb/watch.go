package adb

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/cloudphone/media-service/internal/retry"
)

// Watch calls fn with the adb server's device list each time it changes,
// starting with the current one, until ctx ends. It follows
// host:track-devices for prompt news of devices that arrive, and also
// polls host:devices-l every poll interval (default 1 s), because the adb
// server does not report a TCP device that drops into its reconnect loop:
// `adb devices` shows it offline while track-devices stays silent. While
// the server cannot be reached, it lists no device: fn is told an empty
// list (once), so that the devices it lists again after a restart of the
// server are news. Watch retries the server with backoff (at most 1 s).
//
// An adb server that cannot be reached is logged once at info level
// ("waiting for the adb server"): one that is starting or restarting
// answers soon. Only one that stays unreachable for ServerWarnAfter is
// warned of, once ("adb server unreachable"). Tracking that breaks while
// the server answers is logged the same way.
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
		bo := retry.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
		var broken outage // tracking that fails although the server answers
		for ctx.Err() == nil {
			reached, err := c.track(ctx, func() {
				bo.Reset()
				if _, warned, _ := broken.ok(c.clock()); warned {
					log.Info("device tracking resumed")
				}
				notify()
			})
			if ctx.Err() != nil {
				return
			}
			d := bo.Next()
			// An unreachable server is the polls' to log (serverDown).
			if reached {
				now := c.clock()
				first, warn, lasted := broken.fail(now, now, c.serverWarnAfter())
				if first {
					log.Info("device tracking interrupted; retrying", "err", err, "retry_in", d)
				}
				if warn {
					log.Warn("device tracking keeps failing; polling the device list meanwhile", "for", lasted.Round(time.Millisecond), "err", err)
				}
			}
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
		started := c.clock()
		list, err := c.Devices(ctx)
		if err != nil {
			list = nil // no device is reachable through a server that is gone
			if ctx.Err() == nil {
				c.serverDown(log, started, err)
			}
		} else {
			c.serverUp(log)
		}
		if ctx.Err() == nil && (first || !slices.Equal(list, last)) {
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
// calling changed for every update. reached is false when the server
// could not be reached at all.
func (c *Client) track(ctx context.Context, changed func()) (reached bool, err error) {
	conn, raw, err := c.dial(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	const req = "host:track-devices"
	if err := conn.SendMessage([]byte(req)); err != nil {
		return true, err
	}
	if _, err := conn.ReadStatus(req); err != nil {
		return true, adbError(req, err)
	}
	raw.SetDeadline(time.Time{})
	for {
		if _, err := conn.ReadMessage(); err != nil {
			return true, err
		}
		changed()
	}
}

// KeepConnected connects the adb server to each TCP device in addrs
// (ADB_DEVICES: Redroid containers, phones with adb over Wi-Fi), and again
// whenever one is missing or not in the "device" state, until ctx ends.
// It checks every check interval (default 500 ms) and retries a device
// that does not come up with a back-off (500 ms doubling to 30 s). The
// back-off starts again from its shortest delay, with an attempt at once,
// when the device is back: when its address accepts TCP connections again
// (at each check, the address of each device that is not online is
// probed from this host), when the adb server lists it in the "device"
// state, and, for every device, when the adb server answers again after
// it could not be reached (a restarted server knows no TCP device).
// connected, if not nil, is called with the address after each
// successful connect.
func (c *Client) KeepConnected(ctx context.Context, log *slog.Logger, addrs []string, check time.Duration, connected func(addr string)) {
	c.keepConnected(ctx, log, addrs, check, retry.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second}, connected)
}

// keepConnected is KeepConnected with the back-off bo.
func (c *Client) keepConnected(ctx context.Context, log *slog.Logger, addrs []string, check time.Duration, bo retry.Backoff, connected func(addr string)) {
	if len(addrs) == 0 {
		return
	}
	if check <= 0 {
		check = 500 * time.Millisecond
	}
	if connected == nil {
		connected = func(string) {}
	}
	type reconnect struct {
		bo           retry.Backoff
		next         time.Time // no attempt before
		reachable    bool      // the address accepted the last probe, or the device was online
		offlineSince time.Time // when it was first seen "offline" in a row; zero otherwise
	}
	state := make(map[string]*reconnect, len(addrs))
	for _, a := range addrs {
		state[a] = &reconnect{bo: bo}
	}
	serverDown := false
	// round checks the devices once.
	round := func() {
		started := c.clock()
		list, err := c.Devices(ctx)
		if err != nil {
			if ctx.Err() == nil {
				// Logged once for Watch and this loop, and warned of only
				// when it lasts (serverDown).
				c.serverDown(log, started, err)
			}
			serverDown = true
			return
		}
		c.serverUp(log)
		if serverDown {
			serverDown = false
			log.Debug("adb server answers; reconnecting devices now")
			for _, r := range state {
				r.bo.Reset()
				r.next = time.Time{}
			}
		}
		stateOf := func(a string) string {
			if i := slices.IndexFunc(list, func(d DeviceInfo) bool { return d.Serial == a }); i >= 0 {
				return list[i].State
			}
			return ""
		}
		var missing []string // not in the "device" state: probed
		for _, a := range addrs {
			r := state[a]
			if stateOf(a) == "device" {
				r.bo.Reset()
				r.next, r.reachable = time.Time{}, true
			} else {
				missing = append(missing, a)
			}
		}
		up := probe(ctx, missing, check)
		now := time.Now()
		for _, a := range missing {
			r, st := state[a], stateOf(a)
			if st != "offline" {
				r.offlineSince = time.Time{}
			} else if r.offlineSince.IsZero() {
				r.offlineSince = now
			}
			if st == "offline" && now.Sub(r.offlineSince) < staleOffline {
				// "offline" is also what the adb server lists while it
				// is still connecting: leave the handshake alone.
				continue
			}
			back := up[a] && !r.reachable // its address accepts connections again
			r.reachable = up[a]
			if now.Before(r.next) {
				if !back {
					continue
				}
				log.Info("device reachable again; reconnecting now", "device", a)
				r.bo.Reset()
			}
			if st == "offline" {
				// A stale entry blocks a fresh connection on some servers.
				c.Disconnect(ctx, a)
				r.offlineSince = time.Time{}
			}
			if err := c.Connect(ctx, a); err != nil {
				if ctx.Err() != nil {
					return
				}
				d := r.bo.Next()
				r.next = time.Now().Add(d)
				log.Warn("connect device", "device", a, "err", err, "retry_in", d)
				continue
			}
			// Connected: it should be listed in the "device" state soon;
			// if it is not (unauthorized, say), try again after the
			// back-off.
			r.next = time.Now().Add(r.bo.Next())
			log.Info("connected device", "device", a)
			connected(a)
		}
	}
	for {
		round()
		if !retry.Sleep(ctx, check) {
			return
		}
	}
}

// staleOffline is how long a device must stay "offline" before
// KeepConnected takes the entry for stale and disconnects it: the adb
// server also lists a device as offline during its connection handshake,
// and disconnecting then breaks the handshake.
const staleOffline = 3 * time.Second

// probe reports which of addrs accept a TCP connection within timeout,
// dialing them all at once. The connection is closed at once: adbd drops
// a peer that never says CNXN.
func probe(ctx context.Context, addrs []string, timeout time.Duration) map[string]bool {
	up := make(map[string]bool, len(addrs))
	if len(addrs) == 0 {
		return up
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	d := net.Dialer{Timeout: timeout}
	for _, a := range addrs {
		wg.Go(func() {
			conn, err := d.DialContext(ctx, "tcp", a)
			if err != nil {
				return
			}
			conn.Close()
			mu.Lock()
			up[a] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	return up
}
