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
	"sync/atomic"
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
	// Width and Height of the screen in pixels, portrait: the physical size,
	// in the display's natural orientation. Default 720x1280. Both must be
	// even (H.264 4:2:0) and at most 4096. At run time, wm size WxH (or
	// [Device.SetSize]) overrides the size and a rotation turns the picture
	// ([Device.SetRotation]).
	Width, Height int
	// Rotation is the display's rotation at start, in quarter turns
	// counterclockwise (0..3, Android's Surface.ROTATION_*): 1 and 3 show
	// the picture in landscape.
	Rotation int
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
	if o.Rotation < 0 || o.Rotation > 3 {
		return fmt.Errorf("devicesim: rotation %d out of range (0..3)", o.Rotation)
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
	// Display is the display's geometry when the event arrived: a tap's
	// coordinates are in its picture's orientation ([Display.Picture]).
	Display Display
}

// LongPress reports whether the event is a swipe that stays in place.
func (e InputEvent) LongPress() bool {
	return e.Kind == InputSwipe && e.X == e.X2 && e.Y == e.Y2
}

// OnScreen reports whether a tap's or swipe's points lie on the picture
// the display showed when the event arrived (false for keys and text).
func (e InputEvent) OnScreen() bool {
	if e.Kind != InputTap && e.Kind != InputSwipe {
		return false
	}
	w, h := e.Display.Picture()
	in := func(x, y int) bool { return x >= 0 && y >= 0 && x < w && y < h }
	return in(e.X, e.Y) && in(e.X2, e.Y2)
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

	dispMu   sync.Mutex // guards disp, settings; held while the screen resizes
	disp     Display
	settings map[string]map[string]string

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

	recording atomic.Int64 // screenrecord streams writing now
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
	d.disp = Display{PhysicalWidth: o.Width, PhysicalHeight: o.Height, Width: o.Width, Height: o.Height, Rotation: o.Rotation}
	d.settings = defaultSettings(o)
	pw, ph := d.disp.Picture()
	d.screen = newScreen(pw, ph, time.Now())
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
			"size", fmt.Sprintf("%dx%d", d.opts.Width, d.opts.Height), "rotation", d.opts.Rotation,
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

// ScreenrecordStreams returns how many screenrecord commands are streaming
// the screen now: each counts from when it starts writing frames until it
// ends (its time limit, the host closing the stream, a write error). The
// debug command "devicesim streams" prints the same number.
func (d *Device) ScreenrecordStreams() int { return int(d.recording.Load()) }

// recordingStarted counts a screenrecord that starts writing and returns
// the function that uncounts it; both log the new count.
func (d *Device) recordingStarted(log *slog.Logger) func() {
	n := d.recording.Add(1)
	log.Info("screenrecord streams", "streams", n)
	return func() {
		n := d.recording.Add(-1)
		log.Info("screenrecord streams", "streams", n)
	}
}

// Screen returns a copy of the current screen, in the display's current
// orientation and size (Display.Picture).
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

// Display is the simulated display's geometry at one moment.
type Display struct {
	// PhysicalWidth and PhysicalHeight are the panel's size in its natural
	// orientation (Options.Width, Options.Height).
	PhysicalWidth, PhysicalHeight int
	// Width and Height are the size in the natural orientation: the
	// override size (wm size WxH) if one is set, else the physical size.
	// wm size reports this, whatever the rotation.
	Width, Height int
	// Rotation is in quarter turns (0..3, Android's Surface.ROTATION_*; a
	// system setting, user_rotation), as dumpsys input reports it
	// (SurfaceOrientation).
	Rotation int
}

// Picture returns the size of the picture the display shows, as screencap
// and screenrecord see it and as input coordinates are given: the size
// with its sides swapped after a quarter turn.
func (d Display) Picture() (width, height int) {
	if d.Rotation%2 == 1 {
		return d.Height, d.Width
	}
	return d.Width, d.Height
}

// Overridden reports whether an override size is set that differs from
// the physical size.
func (d Display) Overridden() bool {
	return d.Width != d.PhysicalWidth || d.Height != d.PhysicalHeight
}

// Display returns the display's current geometry.
func (d *Device) Display() Display {
	d.dispMu.Lock()
	defer d.dispMu.Unlock()
	return d.disp
}

// Size returns the display's size in its natural orientation: the override
// size if one is set (wm size WxH, [Device.SetSize]), else the physical
// size (Options.Width, Options.Height). It is what wm size reports.
func (d *Device) Size() (width, height int) {
	g := d.Display()
	return g.Width, g.Height
}

// Rotation returns the display's rotation in quarter turns (0..3).
func (d *Device) Rotation() int { return d.Display().Rotation }

// SetRotation turns the display to n quarter turns (0..3), as
// "settings put system user_rotation N" does: screencap and new
// screenrecords see the picture in the new orientation (a quarter turn
// swaps its width and height), dumpsys input reports it, and input
// coordinates are taken in it. A screenrecord already running keeps its
// size and shows the new picture scaled to fit.
func (d *Device) SetRotation(n int) error {
	if n < 0 || n > 3 {
		return fmt.Errorf("devicesim: rotation %d out of range (0..3)", n)
	}
	d.dispMu.Lock()
	defer d.dispMu.Unlock()
	d.settings["system"]["user_rotation"] = strconv.Itoa(n)
	d.disp.Rotation = n
	d.applyDisplayLocked()
	return nil
}

// SetSize overrides the display's size in its natural orientation, as
// "wm size WxH" does; (0, 0) clears the override, as "wm size reset" does.
// The size follows the rules of Options.Width and Height.
func (d *Device) SetSize(width, height int) error {
	if width == 0 && height == 0 {
		width, height = d.opts.Width, d.opts.Height
	}
	if err := checkSize(width, height); err != nil {
		return err
	}
	d.dispMu.Lock()
	defer d.dispMu.Unlock()
	d.disp.Width, d.disp.Height = width, height
	d.applyDisplayLocked()
	return nil
}

func checkSize(w, h int) error {
	if w < 2 || h < 2 || w > 4096 || h > 4096 {
		return fmt.Errorf("devicesim: screen size %dx%d out of range (2..4096 each)", w, h)
	}
	if w%2 != 0 || h%2 != 0 {
		return fmt.Errorf("devicesim: screen size %dx%d must be even", w, h)
	}
	return nil
}

// applyDisplayLocked resizes the screen to the display's picture. Callers
// hold dispMu, so that the screen follows changes in their order.
func (d *Device) applyDisplayLocked() {
	w, h := d.disp.Picture()
	if d.screen.resize(w, h, time.Now()) {
		d.log.Info("display changed", "size", fmt.Sprintf("%dx%d", d.disp.Width, d.disp.Height),
			"rotation", d.disp.Rotation, "picture", fmt.Sprintf("%dx%d", w, h))
	}
}
