package api

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"
)

// connLimiter caps the connections open at once. The first max-reserve
// connections are served normally; the last reserve slots take only
// health probes (/health, /ready: anything else is answered 503 at once)
// for one request each, with a short read deadline, so that slow clients
// holding every normal slot cannot keep a probe out. Past max, a new
// connection is closed as soon as it is accepted. Reaching the normal
// cap is logged once, and its relief (a quarter of the slots free again)
// once, with the connections refused meanwhile.
type connLimiter struct {
	net.Listener
	max, normal int
	// reserveRead bounds a reserve connection's reading.
	reserveRead time.Duration
	log         *slog.Logger

	mu      sync.Mutex
	open    int
	limited bool
	since   time.Time
	// refused counts the connections closed at once, reserved those
	// taken on reserve slots, while limited.
	refused, reserved int
	// accepted counts every connection accepted (tests).
	accepted int
}

// reserveSlots is how many of max connections are kept for health
// probes: 16, or a quarter of max when that is less.
func reserveSlots(n int) int { return max(1, min(16, n/4)) }

func newConnLimiter(ln net.Listener, max int, reserveRead time.Duration, log *slog.Logger) *connLimiter {
	return &connLimiter{Listener: ln, max: max, normal: max - reserveSlots(max), reserveRead: reserveRead, log: log}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		l.accepted++
		if l.open >= l.max {
			l.refused++
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.open++
		reserve := l.open > l.normal
		if reserve {
			l.reserved++
		}
		reached := l.open >= l.normal && !l.limited
		if reached {
			l.limited, l.since = true, time.Now()
		}
		open := l.open
		l.mu.Unlock()
		if reached {
			l.log.Warn("api: connection limit reached: new connections get only /health and /ready until others close",
				"max_connections", l.max, "open", open)
		}
		lc := &limitedConn{Conn: c, l: l, reserve: reserve}
		if reserve {
			lc.until = time.Now().Add(l.reserveRead)
			c.SetReadDeadline(lc.until)
		}
		return lc, nil
	}
}

func (l *connLimiter) release() {
	l.mu.Lock()
	l.open--
	relieved := l.limited && l.open <= l.normal*3/4
	var refused, reserved int
	var since time.Time
	if relieved {
		l.limited, refused, reserved, since = false, l.refused, l.reserved, l.since
		l.refused, l.reserved = 0, 0
	}
	open := l.open
	l.mu.Unlock()
	if relieved {
		l.log.Info("api: connections below the limit again", "max_connections", l.max, "open", open,
			"refused", refused, "reserve_connections", reserved, "limited_for", time.Since(since).Round(time.Millisecond).String())
	}
}

// counts returns how many connections are open, and how many were
// accepted in all.
func (l *connLimiter) counts() (open, accepted int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.accepted
}

// limitedConn is an accepted connection; closing it frees its slot.
type limitedConn struct {
	net.Conn
	l       *connLimiter
	reserve bool
	until   time.Time
	once    sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.release)
	return err
}

// SetReadDeadline keeps a reserve connection's reads within its
// deadline, whatever the HTTP server asks for.
func (c *limitedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *limitedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *limitedConn) clamp(t time.Time) time.Time {
	if c.reserve && (t.IsZero() || t.After(c.until)) {
		return c.until
	}
	return t
}

// CloseWrite lets the HTTP server half-close the connection before
// closing it, as it does for a bare TCP connection.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

type reserveKey struct{}

// connContext marks the requests of reserve connections.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(*limitedConn); ok && lc.reserve {
		return context.WithValue(ctx, reserveKey{}, lc.l.max)
	}
	return ctx
}

// onReserve reports whether a request came on a reserve connection, and
// the connection cap.
func onReserve(ctx context.Context) (int, bool) {
	max, ok := ctx.Value(reserveKey{}).(int)
	return max, ok
}
