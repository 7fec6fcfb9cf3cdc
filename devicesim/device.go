package devicesim

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Defaults of [Options].
const (
	DefaultAddr   = "127.0.0.1:5555"
	DefaultWidth  = 720
	DefaultHeight = 1280
	DefaultFPS    = 30
	DefaultModel  = "DeviceSim"
)

// Options configures a [Device]. The zero value of every field selects its
// default.
type Options struct {
	// Addr is the TCP address to listen on. Default 127.0.0.1:5555; port 0
	// picks a free port ([Device.Addr] tells which).
	Addr string
	// Width and Height of the screen in pixels, portrait. Default 720x1280.
	// Both must be even (H.264 4:2:0) and at most 4096.
	Width, Height int
	// FPS is the animation rate of the test picture. Default 30 (1..240).
	FPS int
	// Static keeps the picture still: it changes only on input.
	Static bool
	// Auth makes the device ask for RSA authentication, as a phone with
	// USB debugging authorisation does. A public key the host offers is
	// accepted at once, like a user tapping "Allow", and remembered for the
	// Device's lifetime.
	Auth bool
	// Serial is ro.serialno. Default devicesimPORT.
	Serial string
	// Model is ro.product.model. Default DeviceSim.
	Model string
	// Props adds or overrides getprop values.
	Props map[string]string
	// Logger receives structured logs (keys device, conn, stream, service).
	// Default: discard.
	Logger *slog.Logger
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Width == 0 {
		o.Width = DefaultWidth
	}
	if o.Height == 0 {
		o.Height = DefaultHeight
	}
	if o.FPS == 0 {
		o.FPS = DefaultFPS
	}
	if o.Model == "" {
		o.Model = DefaultModel
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) validate() error {
	if o.Width < 2 || o.Height < 2 || o.Width > 4096 || o.Height > 4096 {
		return fmt.Errorf("devicesim: screen size %dx%d out of range (2..4096 each)", o.Width, o.Height)
	}
	if o.Width%2 != 0 || o.Height%2 != 0 {
		return fmt.Errorf("devicesim: screen size %dx%d must be even", o.Width, o.Height)
	}
	if o.FPS < 1 || o.FPS > 240 {
		return fmt.Errorf("devicesim: fps %d out of range (1..240)", o.FPS)
	}
	return nil
}

// InputKind names an input command.
type InputKind string

// Input kinds, as the input command names them.
const (
	InputTap      InputKind = "tap"
	InputSwipe    InputKind = "swipe"
	InputKeyEvent InputKind = "keyevent"
	InputText     InputKind = "text"
)

// InputEvent is one input the device received, with the time it arrived.
// A long press is a swipe whose start and end are the same point.
type InputEvent struct {
	// Time is when the device received the command.
	Time time.Time
	Kind InputKind
	// Source is the input source named on the command line
	// (touchscreen, keyboard, ...), or "" for the default.
	Source string
	// X, Y is the point of a tap or the start of a swipe; X2, Y2 the end.
	X, Y, X2, Y2 int
	// Duration of a swipe, 0 when the command gave none.
	Duration time.Duration
	// KeyCode of a key event (KEYCODE_HOME is 3).
	KeyCode int
	// Text of a text event, after the input command's %s → space rule.
	Text string
}

// LongPress reports whether the event is a swipe that stays in place.
func (e InputEvent) LongPress() bool {
	return e.Kind == InputSwipe && e.X == e.X2 && e.Y == e.Y2
}

// Device is a simulated Android device listening for adb.
type Device struct {
	opts   Options
	log    *slog.Logger
	ln     net.Listener
	addr   string
	serial string
	props  map[string]string
	screen *screen

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	startOnce sync.Once
	closeOnce sync.Once

	mu     sync.Mutex // guards conns, closed
	conns  map[*conn]struct{}
	closed bool
	connID uint64

	recMu    sync.Mutex // guards commands, lines, events
	commands history[[]string]
	lines    history[string]
	events   history[InputEvent]

	keyMu sync.Mutex // guards keys
	keys  []*rsa.PublicKey
}

// New validates the options, draws the screen and starts listening. The
// device serves nothing until [Device.Start]; [Device.Close] releases it.
func New(o Options) (*Device, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("devicesim: listen: %w", err)
	}
	d := &Device{
		opts:  o,
		ln:    ln,
		addr:  ln.Addr().String(),
		conns: make(map[*conn]struct{}),
	}
	d.serial = o.Serial
	if d.serial == "" {
		port := 0
		if ta, ok := ln.Addr().(*net.TCPAddr); ok {
			port = ta.Port
		}
		d.serial = "devicesim" + strconv.Itoa(port)
	}
	d.log = o.Logger.With("device", d.serial)
	d.props = defaultProps(d.serial, o)
	d.screen = newScreen(o.Width, o.Height, time.Now())
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// Start serves adb connections, and animates the screen unless it is
// static. It returns at once; calling it again does nothing.
func (d *Device) Start() {
	d.startOnce.Do(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.closed {
			return
		}
		d.wg.Add(1)
		go d.acceptLoop()
		if !d.opts.Static {
			d.wg.Add(1)
			go d.animate()
		}
		d.log.Info("devicesim listening", "addr", d.addr,
			"size", fmt.Sprintf("%dx%d", d.opts.Width, d.opts.Height),
			"fps", d.opts.FPS, "static", d.opts.Static, "auth", d.opts.Auth)
	})
}

// Close stops listening, closes every connection, and waits for every
// goroutine of the device to end. It is idempotent.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		conns := make([]*conn, 0, len(d.conns))
		for c := range d.conns {
			conns = append(conns, c)
		}
		d.mu.Unlock()
		d.cancel()
		_ = d.ln.Close()
		for _, c := range conns {
			c.shutdown()
		}
		d.wg.Wait()
		d.log.Info("devicesim closed")
	})
	return nil
}

// Addr returns the address the device listens on, with the port it got.
func (d *Device) Addr() string { return d.addr }

// Serial returns the device's ro.serialno.
func (d *Device) Serial() string { return d.serial }

// Size returns the screen size.
func (d *Device) Size() (width, height int) { return d.opts.Width, d.opts.Height }

// Commands returns the argv of every command the shell ran (or tried to:
// unknown commands included), oldest first. The log keeps the latest
// 10,000 commands, and at most 8 MiB of them.
func (d *Device) Commands() [][]string {
	d.recMu.Lock()
	defer d.recMu.Unlock()
	out := d.commands.all()
	for i, c := range out {
		out[i] = slices.Clone(c)
	}
	return out
}

// CommandLines returns the raw command lines the shell received (the text
// after "shell:" or "exec:", and each line of an interactive shell), oldest
// first, with the same limits as Commands.
func (d *Device) CommandLines() []string {
	d.recMu.Lock()
	defer d.recMu.Unlock()
	return d.lines.all()
}

// Events returns every input event received, oldest first, with the same
// limits as Commands.
func (d *Device) Events() []InputEvent {
	d.recMu.Lock()
	defer d.recMu.Unlock()
	return d.events.all()
}

// Screen returns a copy of the current screen.
func (d *Device) Screen() *image.RGBA { return d.screen.snapshot() }

func (d *Device) recordLine(line string) {
	d.recMu.Lock()
	defer d.recMu.Unlock()
	d.lines.add(line, len(line))
}

func (d *Device) recordCommand(argv []string) {
	size := 0
	for _, a := range argv {
		size += len(a) + 16
	}
	d.recMu.Lock()
	defer d.recMu.Unlock()
	d.commands.add(slices.Clone(argv), size)
}

func (d *Device) recordEvent(e InputEvent) {
	d.recMu.Lock()
	defer d.recMu.Unlock()
	d.events.add(e, 128+len(e.Text))
}

func (d *Device) acceptLoop() {
	defer d.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		nc, err := d.ln.Accept()
		if err != nil {
			if d.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Warn("accept failed", "err", err)
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			_ = nc.Close()
			return
		}
		d.connID++
		c := newConn(d, nc, d.connID)
		d.conns[c] = struct{}{}
		d.wg.Add(1)
		d.mu.Unlock()
		go func() {
			defer d.wg.Done()
			c.serve()
			d.mu.Lock()
			delete(d.conns, c)
			d.mu.Unlock()
		}()
	}
}

// animate advances the test picture at the configured frame rate.
func (d *Device) animate() {
	defer d.wg.Done()
	t := time.NewTicker(time.Second / time.Duration(d.opts.FPS))
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case now := <-t.C:
			d.screen.animate(now)
		}
	}
}

// trustKey remembers an accepted public key; it reports whether the key is
// new. At most 64 keys are kept.
func (d *Device) trustKey(k *rsa.PublicKey) bool {
	d.keyMu.Lock()
	defer d.keyMu.Unlock()
	for _, have := range d.keys {
		if have.Equal(k) {
			return false
		}
	}
	d.keys = appendBoundedN(d.keys, k, 64)
	return true
}

func appendBoundedN[T any](s []T, v T, n int) []T {
	if len(s) >= n {
		s = s[1:]
	}
	return append(s, v)
}

// trustedKeys returns the accepted keys.
func (d *Device) trustedKeys() []*rsa.PublicKey {
	d.keyMu.Lock()
	defer d.keyMu.Unlock()
	return slices.Clone(d.keys)
}
