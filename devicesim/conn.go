package devicesim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
)

// AUTH message types (arg0).
const (
	authToken        = 1
	authSignature    = 2
	authRSAPublicKey = 3
	tokenSize        = 20
	maxAuthAttempts  = 32
)

// conn is one adb host connection: the handshake, then many streams, each
// served by its own goroutine. Everything stops when the connection ends.
type conn struct {
	d   *Device
	nc  net.Conn
	log *slog.Logger

	ctx    context.Context // cancelled when the connection ends
	cancel context.CancelFunc

	writeMu sync.Mutex
	whdr    [headerSize]byte

	// Negotiated at CNXN, read by stream goroutines.
	peerMax      atomic.Uint32
	withChecksum atomic.Bool

	// Used by the reader goroutine only.
	online    bool
	connected bool // the host's CNXN arrived
	token     []byte
	authTries int

	mu      sync.Mutex // guards streams, nextID
	streams map[uint32]*stream
	nextID  uint32

	wg sync.WaitGroup // stream goroutines
}

func newConn(d *Device, nc net.Conn, id uint64) *conn {
	c := &conn{
		d:       d,
		nc:      nc,
		log:     d.log.With("conn", id, "remote", nc.RemoteAddr().String()),
		streams: make(map[uint32]*stream),
	}
	c.ctx, c.cancel = context.WithCancel(d.ctx)
	c.peerMax.Store(maxPayload)
	return c
}

// shutdown closes the socket, which ends serve.
func (c *conn) shutdown() {
	c.cancel()
	_ = c.nc.Close()
}

// serve reads messages until the host goes away or the device closes, then
// stops every stream and waits for their goroutines.
func (c *conn) serve() {
	c.log.Debug("tcp connection accepted")
	defer func() {
		c.shutdown()
		c.mu.Lock()
		streams := make([]*stream, 0, len(c.streams))
		for _, s := range c.streams {
			streams = append(streams, s)
		}
		c.mu.Unlock()
		for _, s := range streams {
			s.abort()
		}
		c.wg.Wait()
		c.log.Debug("host disconnected")
	}()
	var hdr [headerSize]byte
	for {
		m, err := readMessage(c.nc, &hdr, maxPayload)
		if err != nil {
			if c.ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Warn("read failed, dropping connection", "err", err)
			}
			return
		}
		if err := c.handle(m); err != nil {
			if c.ctx.Err() == nil {
				c.log.Warn("protocol error, dropping connection", "err", err)
			}
			return
		}
	}
}

// send writes one message; it is safe for concurrent use.
func (c *conn) send(cmd, arg0, arg1 uint32, data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.ctx.Err() != nil {
		return net.ErrClosed
	}
	err := writeMessage(c.nc, &c.whdr, cmd, arg0, arg1, data, c.withChecksum.Load())
	if err != nil {
		c.shutdown()
	}
	return err
}

// maxData is the largest payload the device may send on this connection.
func (c *conn) maxData() int { return int(c.peerMax.Load()) }

func (c *conn) handle(m message) error {
	switch m.Command {
	case cmdCNXN:
		return c.handleConnect(m)
	case cmdAUTH:
		return c.handleAuth(m)
	}
	if !c.online {
		c.log.Debug("ignoring message before the connection is up", "command", commandName(m.Command))
		return nil
	}
	switch m.Command {
	case cmdOPEN:
		return c.handleOpen(m)
	case cmdOKAY, cmdWRTE, cmdCLSE:
		// Messages for a stream that is gone (closed by either side while
		// they were in flight) are ignored, as protocol.txt says.
		s := c.stream(m.Arg1)
		if s == nil || (s.remote != m.Arg0 && !(m.Command == cmdCLSE && m.Arg0 == 0)) {
			c.log.Debug("message for no open stream", "command", commandName(m.Command), "arg0", m.Arg0, "arg1", m.Arg1)
			return nil
		}
		switch m.Command {
		case cmdOKAY:
			s.acked()
		case cmdWRTE:
			return s.deliver(m.Data)
		case cmdCLSE:
			s.closedByPeer()
		}
	default:
		c.log.Debug("ignoring message", "command", commandName(m.Command))
	}
	return nil
}

func (c *conn) handleConnect(m message) error {
	if c.online {
		return errors.New("CNXN on a connection that is already up")
	}
	if m.Arg1 == 0 {
		return errors.New("CNXN with maxdata 0")
	}
	c.connected = true
	version := min(m.Arg0, protocolVersion)
	c.withChecksum.Store(version < versionSkipChecksum)
	c.peerMax.Store(min(m.Arg1, maxPayload))
	c.log.Debug("host CNXN", "version", fmt.Sprintf("0x%08x", m.Arg0), "maxdata", m.Arg1,
		"banner", strings.TrimRight(string(m.Data), "\x00"))
	if !c.d.opts.Auth {
		return c.goOnline()
	}
	return c.sendToken()
}

func (c *conn) sendToken() error {
	c.authTries++
	if c.authTries > maxAuthAttempts {
		return fmt.Errorf("host failed %d authentication attempts", maxAuthAttempts)
	}
	c.token = make([]byte, tokenSize)
	if _, err := rand.Read(c.token); err != nil {
		return err
	}
	return c.send(cmdAUTH, authToken, 0, c.token)
}

func (c *conn) handleAuth(m message) error {
	if c.online || !c.d.opts.Auth || !c.connected {
		c.log.Debug("ignoring AUTH", "type", m.Arg0)
		return nil
	}
	switch m.Arg0 {
	case authSignature:
		if c.token != nil && verifyToken(c.d.trustedKeys(), c.token, m.Data) {
			c.log.Info("auth: signature verified")
			return c.goOnline()
		}
		c.log.Debug("auth: signature not verified, new token")
		return c.sendToken()
	case authRSAPublicKey:
		key, comment, err := parseAndroidPublicKey(m.Data)
		if err != nil {
			c.log.Warn("auth: unusable public key", "err", err)
			return nil // the host stays unauthorized, as with a user's "deny"
		}
		c.d.trustKey(key)
		c.log.Info("auth: public key accepted", "key", comment)
		return c.goOnline()
	default:
		c.log.Debug("ignoring AUTH", "type", m.Arg0)
		return nil
	}
}

// goOnline answers the host's CNXN with the device's.
func (c *conn) goOnline() error {
	c.online = true
	c.token = nil
	c.log.Info("host connected", "maxdata", c.maxData())
	return c.send(cmdCNXN, protocolVersion, maxPayload, []byte(c.d.banner()))
}

func (c *conn) stream(local uint32) *stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[local]
}

func (c *conn) forget(s *stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams[s.local] == s {
		delete(c.streams, s.local)
	}
}

func (c *conn) handleOpen(m message) error {
	remote := m.Arg0
	if remote == 0 {
		return errors.New("OPEN with local-id 0")
	}
	service := strings.TrimRight(string(m.Data), "\x00")
	run := c.d.service(service)
	if run == nil {
		c.log.Info("refusing service", "service", service)
		return c.send(cmdCLSE, 0, remote, nil)
	}
	c.mu.Lock()
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	s := newStream(c, c.nextID, remote, service)
	c.streams[s.local] = s
	c.mu.Unlock()
	if err := c.send(cmdOKAY, s.local, remote, nil); err != nil {
		return err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer s.close()
		s.log.Debug("stream opened")
		run(s.ctx, s)
		s.log.Debug("stream done")
	}()
	return nil
}
