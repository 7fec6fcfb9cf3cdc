package adb

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	goadb "github.com/zach-klippenstein/goadb"
	"github.com/zach-klippenstein/goadb/wire"
)

// DefaultServer is the adb server's default address (ADB_SERVER).
const DefaultServer = "127.0.0.1:5037"

// dialTimeout bounds connecting to the adb server and its handshake.
const dialTimeout = 5 * time.Second

// Client talks to one adb server. It is safe for concurrent use: every
// request uses a connection of its own, as the adb server expects.
type Client struct {
	addr string
	adb  *goadb.Adb

	// What the loops that poll the server (Watch, KeepConnected) log of
	// its outages: see serverDown.
	server    outage
	now       func() time.Time // nil: time.Now; tests set a fake clock
	warnAfter time.Duration    // 0: ServerWarnAfter
}

// ServerWarnAfter is how long the adb server may stay unreachable before
// Watch and KeepConnected warn. A server that is starting (the first
// request starts a local one; a Redroid host's may start after the
// service) or restarting is unreachable for a moment: that is logged once
// at info level ("waiting for the adb server"), and only an outage that
// lasts this long is warned of, once.
const ServerWarnAfter = 10 * time.Second

// outage follows one recurring failure that usually ends by itself: the
// adb server unreachable, device tracking broken. It says when to log:
// once at info level when it starts, once as a warning when it has lasted
// the warning delay, and at its end. It is safe for concurrent use.
type outage struct {
	mu     sync.Mutex
	since  time.Time // the first failure; zero while all is well
	okAt   time.Time // the last success
	warned bool
}

// fail records a failure of an attempt that started at started. first is
// set for the outage's first failure, warn for the first one at least
// after since it started (once per outage). A failure of an attempt
// that started before the last success is stale: ignored.
func (o *outage) fail(now, started time.Time, after time.Duration) (first, warn bool, lasted time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if started.Before(o.okAt) {
		return false, false, 0
	}
	if o.since.IsZero() {
		o.since, o.warned = now, false
		first = true
	}
	lasted = now.Sub(o.since)
	if !o.warned && lasted >= after {
		o.warned, warn = true, true
	}
	return first, warn, lasted
}

// ok records a success. ended is set when it ends an outage, warned when
// that outage was warned of.
func (o *outage) ok(now time.Time) (ended, warned bool, lasted time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.okAt = now
	if o.since.IsZero() {
		return false, false, 0
	}
	ended, warned, lasted = true, o.warned, now.Sub(o.since)
	o.since, o.warned = time.Time{}, false
	return ended, warned, lasted
}

func (c *Client) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *Client) serverWarnAfter() time.Duration {
	if c.warnAfter > 0 {
		return c.warnAfter
	}
	return ServerWarnAfter
}

// serverDown logs that a request started at started found the adb server
// unreachable: "waiting for the adb server" at info level once, when the
// outage starts, and a warning once, if it lasts ServerWarnAfter. Watch
// and KeepConnected share one outage: it is logged once, not by each.
func (c *Client) serverDown(log *slog.Logger, started time.Time, err error) {
	first, warn, lasted := c.server.fail(c.clock(), started, c.serverWarnAfter())
	if first {
		log.Info("waiting for the adb server", "adb_server", c.addr, "err", err)
	}
	if warn {
		log.Warn("adb server unreachable", "adb_server", c.addr, "for", lasted.Round(time.Millisecond), "err", err)
	}
}

// serverUp logs the end of an outage that serverDown logged.
func (c *Client) serverUp(log *slog.Logger) {
	ended, warned, lasted := c.server.ok(c.clock())
	switch {
	case warned:
		log.Info("adb server answers again", "adb_server", c.addr, "after", lasted.Round(time.Millisecond))
	case ended:
		log.Info("adb server answers", "adb_server", c.addr, "after", lasted.Round(time.Millisecond))
	}
}

// NewClient returns a client of the adb server at addr ("host:port"). If
// nothing listens on the default local port (5037), the first request
// starts a server with the adb program, as the adb command does.
func NewClient(addr string) (*Client, error) {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg := goadb.ServerConfig{Host: host, Port: port, Dialer: rawDialer{}}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		// adb starts a server only for "tcp:localhost:PORT"; for any other
		// host, even 127.0.0.1, it answers "cannot start server on remote
		// host".
		cfg.Host = "localhost"
	}
	if _, err := exec.LookPath("adb"); err != nil || port != 5037 {
		// Start a server only where the adb command would: on the default
		// port, with the adb program at hand. Elsewhere (a test's private
		// server, say) only dial, so that no daemon outlives its owner.
		cfg.PathToAdb = "/bin/false"
	}
	a, err := goadb.NewWithConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrADB, err)
	}
	return &Client{addr: net.JoinHostPort(host, strconv.Itoa(port)), adb: a}, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%w: address %q: %v", ErrInvalidArgument, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 || host == "" {
		return "", 0, fmt.Errorf("%w: address %q (want HOST:PORT)", ErrInvalidArgument, addr)
	}
	return host, port, nil
}

// Addr returns the adb server's address.
func (c *Client) Addr() string { return c.addr }

// rawDialer dials the adb server and keeps the TCP connection reachable
// from the wire.Conn, so that a stream's bytes can be read as they arrive
// once the wire protocol's handshake is done.
type rawDialer struct{}

// rawScanner is a wire.Scanner that remembers its connection. wire's
// scanner reads without buffering, so after the status of a service
// request, every byte left on the connection is the service's.
type rawScanner struct {
	wire.Scanner
	conn *closeOnce
}

// maxMessage bounds one length-prefixed message from the adb server.
const maxMessage = 1 << 20

// ReadMessage reads one hex-length-prefixed message in full. goadb's own
// clips the length to 255 bytes, which cuts the device list of a host
// with more than about three devices (host:devices-l writes a line of
// about 100 bytes per device): the last devices vanished from every list.
func (s *rawScanner) ReadMessage() ([]byte, error) {
	return readHexMessage(s.conn)
}

// readHexMessage reads four hex digits of length, then that many bytes.
func readHexMessage(r io.Reader) ([]byte, error) {
	var hex [4]byte
	if _, err := io.ReadFull(r, hex[:]); err != nil {
		return nil, fmt.Errorf("%w: read message length: %v", ErrADB, err)
	}
	n, err := strconv.ParseUint(string(hex[:]), 16, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: message length %q is not hexadecimal", ErrADB, hex[:])
	}
	if n > maxMessage {
		return nil, fmt.Errorf("%w: message of %d bytes (at most %d)", ErrADB, n, maxMessage)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("%w: read %d-byte message: %v", ErrADB, n, err)
	}
	return data, nil
}

type closeOnce struct {
	net.Conn
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.Conn.Close() })
	return c.err
}

func (rawDialer) Dial(address string) (*wire.Conn, error) {
	nc, err := net.DialTimeout("tcp", address, dialTimeout)
	if err != nil {
		return nil, err
	}
	c := &closeOnce{Conn: nc}
	return wire.NewConn(&rawScanner{Scanner: wire.NewScanner(c), conn: c}, wire.NewSender(c)), nil
}

// dial connects to the adb server with a deadline on the handshake.
func (c *Client) dial(ctx context.Context) (*wire.Conn, *closeOnce, error) {
	conn, err := c.adb.Dial()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: dial server %s: %v", ErrADB, c.addr, err)
	}
	raw := conn.Scanner.(*rawScanner).conn
	deadline := time.Now().Add(dialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	raw.SetDeadline(deadline)
	return conn, raw, nil
}

// request sends one host request and returns its status-checked response
// message.
func (c *Client) request(ctx context.Context, req string) (string, error) {
	conn, _, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	resp, err := conn.RoundTripSingleResponse([]byte(req))
	if err != nil {
		return "", adbError(req, err)
	}
	return string(resp), nil
}

// adbError maps the adb server's "device not found" style failures to
// ErrDeviceNotFound and everything else to ErrADB.
func adbError(req string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "not found") || strings.Contains(msg, "offline") || strings.Contains(msg, "unauthorized") ||
		strings.Contains(msg, "no devices") {
		return fmt.Errorf("%w: %s: %v", ErrDeviceNotFound, req, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrADB, req, err)
}

// DeviceInfo is one device as the adb server lists it.
type DeviceInfo struct {
	Serial string `json:"serial"`
	// State is "device" when usable; also "offline", "unauthorized", ...
	State   string `json:"state"`
	Model   string `json:"model,omitempty"`
	Product string `json:"product,omitempty"`
	Device  string `json:"device,omitempty"`
}

// Devices lists the devices the adb server knows, in every state.
func (c *Client) Devices(ctx context.Context) ([]DeviceInfo, error) {
	resp, err := c.request(ctx, "host:devices-l")
	if err != nil {
		return nil, err
	}
	return parseDevices(resp), nil
}

// parseDevices parses host:devices-l (or host:track-devices) output:
// "SERIAL STATE key:value ..." per line.
func parseDevices(s string) []DeviceInfo {
	var out []DeviceInfo
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || ValidSerial(f[0]) != nil {
			continue
		}
		d := DeviceInfo{Serial: f[0], State: f[1]}
		for _, kv := range f[2:] {
			k, v, _ := strings.Cut(kv, ":")
			switch k {
			case "model":
				d.Model = v
			case "product":
				d.Product = v
			case "device":
				d.Device = v
			}
		}
		out = append(out, d)
	}
	return out
}

// Connect asks the adb server to connect to a device over TCP (a Redroid
// container's adbd, say) at hostport.
func (c *Client) Connect(ctx context.Context, hostport string) error {
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return err
	}
	if ValidSerial(host) != nil {
		return fmt.Errorf("%w: host %q", ErrInvalidArgument, host)
	}
	target := net.JoinHostPort(host, strconv.Itoa(port))
	resp, err := c.request(ctx, "host:connect:"+target)
	if err != nil {
		return err
	}
	// The server answers OKAY even when the connection failed; the text says.
	if !strings.Contains(resp, "connected to") {
		return fmt.Errorf("%w: connect %s: %s", ErrADB, target, strings.TrimSpace(resp))
	}
	return nil
}

// Disconnect asks the adb server to drop a TCP device.
func (c *Client) Disconnect(ctx context.Context, hostport string) error {
	if _, _, err := splitHostPort(hostport); err != nil {
		return err
	}
	_, err := c.request(ctx, "host:disconnect:"+hostport)
	return err
}

// Stream is a running device service: its output as it arrives, and its
// input for services that read one (an interactive shell).
type Stream struct {
	conn *closeOnce
}

// Read reads the service's output.
func (s *Stream) Read(p []byte) (int, error) { return s.conn.Read(p) }

// Write writes to the service's input.
func (s *Stream) Write(p []byte) (int, error) { return s.conn.Write(p) }

// Close ends the service. It is idempotent.
func (s *Stream) Close() error { return s.conn.Close() }

// SetReadDeadline bounds the next reads.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.conn.SetReadDeadline(t) }

// Exec runs a command on the device through the exec: service (binary-safe
// output, no terminal) and returns its output as a stream. The command line
// is built with ShellCommand, so no argument can be interpreted by the
// device's shell.
func (c *Client) Exec(ctx context.Context, serial, name string, args ...string) (*Stream, error) {
	cmd, err := ShellCommand(name, args...)
	if err != nil {
		return nil, err
	}
	return c.open(ctx, serial, "exec:"+cmd)
}

// Shell opens an interactive shell on the device (the shell: service
// without a command), for a session that sends many commands.
func (c *Client) Shell(ctx context.Context, serial string) (*Stream, error) {
	return c.open(ctx, serial, "shell:")
}

// Output runs a command and returns all its output, for short commands.
func (c *Client) Output(ctx context.Context, serial, name string, args ...string) (string, error) {
	s, err := c.Exec(ctx, serial, name, args...)
	if err != nil {
		return "", err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	out, err := io.ReadAll(io.LimitReader(s, 1<<20))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", fmt.Errorf("%w: %s on %s: %v", ErrADB, name, serial, err)
	}
	return string(out), nil
}

// open switches a new connection to the device's transport and starts a
// service on it.
func (c *Client) open(ctx context.Context, serial, service string) (*Stream, error) {
	if err := ValidSerial(serial); err != nil {
		return nil, err
	}
	conn, raw, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	for _, req := range []string{"host:transport:" + serial, service} {
		if err := wire.SendMessageString(conn, req); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrADB, req, err)
		}
		if _, err := conn.ReadStatus(req); err != nil {
			return nil, adbError(req, err)
		}
	}
	raw.SetDeadline(time.Time{})
	ok = true
	return &Stream{conn: raw}, nil
}

// DeviceSize reads the device's display size with "wm size": the override
// size if one is set, else the physical size.
func (c *Client) DeviceSize(ctx context.Context, serial string) (Size, error) {
	out, err := c.Output(ctx, serial, "wm", "size")
	if err != nil {
		return Size{}, err
	}
	return parseWMSize(out)
}

func parseWMSize(out string) (Size, error) {
	var size Size
	found := false
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if k != "Physical size" && k != "Override size" {
			continue
		}
		s, err := ParseSize(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		if !found || k == "Override size" {
			size, found = s, true
		}
	}
	if !found {
		return Size{}, fmt.Errorf("%w: wm size printed %q", ErrADB, strings.TrimSpace(out))
	}
	return size, nil
}

// GetProp reads one system property.
func (c *Client) GetProp(ctx context.Context, serial, key string) (string, error) {
	out, err := c.Output(ctx, serial, "getprop", key)
	return strings.TrimSpace(out), err
}
