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
	"strings"
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
	// DefaultSDK is the Android API level a device reports by default
	// (Android 14).
	DefaultSDK = 34
)

// Values of Options.Agent.
const (
	// AgentRun lets the input agent run when it is started properly
	// (the default, also "").
	AgentRun = "run"
	// AgentRefuse makes the device one whose vendor forbids injecting
	// input from the shell user: the agent fails at start.
	AgentRefuse = "refuse"
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
	// Every input event is logged on it at info level, one line each
	// (message "input"). Default: discard.
	Logger *slog.Logger
	// SDK is the Android API level (21..36): ro.build.version.sdk and
	// ro.build.version.release follow it, and so do the input command's
	// costs and commands. Default 34, or the ro.build.version.sdk of Props
	// when that is a number.
	SDK int
	// NoCosts turns off the time that input takes on a phone (see
	// costs.go): the input command's start-up and a swipe's duration,
	// app_process's start, the agent's few milliseconds per event. The
	// zero value keeps a real phone's costs; tests that need speed set it.
	NoCosts bool
	// Agent says whether the input agent may run: "" or AgentRun, it runs
	// when started properly; AgentRefuse, the device forbids it.
	Agent string
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
	if o.SDK == 0 {
		o.SDK = DefaultSDK
		if n, err := strconv.Atoi(o.Props["ro.build.version.sdk"]); err == nil && n > 0 {
			o.SDK = n
		}
	}
	if o.Agent == "" {
		o.Agent = AgentRun
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
	if androidRelease(o.SDK) == "" {
		return fmt.Errorf("devicesim: sdk %d out of range (%d..%d)", o.SDK, minSDK, maxSDK)
	}
	if o.Agent != AgentRun && o.Agent != AgentRefuse {
		return fmt.Errorf("devicesim: agent %q (want %q or %q)", o.Agent, AgentRun, AgentRefuse)
	}
	return nil
}

// The API levels a device may have, and the Android release of each.
const (
	minSDK = 21
	maxSDK = 36
)

var releases = [...]string{
	21: "5.0", 22: "5.1", 23: "6.0", 24: "7.0", 25: "7.1", 26: "8.0.0",
	27: "8.1.0", 28: "9", 29: "10", 30: "11", 31: "12", 32: "12",
	33: "13", 34: "14", 35: "15", 36: "16",
}

// androidRelease returns ro.build.version.release for an API level, or
// "" outside minSDK..maxSDK.
func androidRelease(sdk int) string {
	if sdk < minSDK || sdk > maxSDK {
		return ""
	}
	return releases[sdk]
}

// applySDK makes the version properties follow o.SDK, except those that
// o.Props sets.
func applySDK(p map[string]string, o Options) {
	rel := androidRelease(o.SDK)
	set := func(k, v string) {
		if _, ok := o.Props[k]; !ok {
			p[k] = v
		}
	}
	set("ro.build.version.sdk", strconv.Itoa(o.SDK))
	set("ro.build.version.release", rel)
	if fp, ok := p["ro.build.fingerprint"]; ok {
		set("ro.build.fingerprint", strings.Replace(fp, "devicesim:10/", "devicesim:"+rel+"/", 1))
	}
}

// InputKind names an input command.
type InputKind string

// Input kinds: the input command's (tap, swipe, keyevent, text; its
// motionevent is a touch), and the input agent's (touch, scroll, key,
// text, clipboard, rotate, screen).
const (
	InputTap      InputKind = "tap"
	InputSwipe    InputKind = "swipe"
	InputKeyEvent InputKind = "keyevent"
	InputText     InputKind = "text"

	// InputTouch is one pointer's event: Action, Pointer, X, Y, Pressure,
	// and the gesture it belongs to.
	InputTouch InputKind = "touch"
	// InputScroll is a wheel turn at X, Y: ScrollH, ScrollV.
	InputScroll InputKind = "scroll"
	// InputKey is one key event of the agent: Action (down or up),
	// KeyCode, Repeat, Meta.
	InputKey InputKind = "key"
	// InputClipboard sets the clipboard to Text, and pastes it with Paste.
	InputClipboard InputKind = "clipboard"
	// InputRotate turns the display: Rotation 0..3, or -1 (back to the
	// sensor: the rotation the device started with).
	InputRotate InputKind = "rotate"
	// InputScreen turns the screen on or off (On).
	InputScreen InputKind = "screen"
)

// Actions of touch and key events (InputEvent.Action). A touch's action
// follows Android's MotionEvent: the first finger down is ActionDown,
// another one while it is down ActionPointerDown; a finger that lifts
// while others stay is ActionPointerUp, the last one ActionUp. A gesture
// runs from the first down to the last up (or a cancel).
const (
	ActionDown        = "down"
	ActionPointerDown = "pointer-down"
	ActionMove        = "move"
	ActionPointerUp   = "pointer-up"
	ActionUp          = "up"
	ActionCancel      = "cancel"
)

// SourceAgent is the Source of the events the input agent injects.
const SourceAgent = "agent"

// InputEvent is one input the device received, with the time it was
// injected. A long press is a swipe whose start and end are the same point.
type InputEvent struct {
	// Time is when the device injected the event: after the input
	// command's start-up, or the agent's handling, cost (Options.NoCosts).
	Time time.Time
	Kind InputKind
	// Source is the input source named on the command line
	// (touchscreen, keyboard, ...), "" for the default, or SourceAgent.
	Source string
	// X, Y is the point of a tap, touch or scroll, or the start of a
	// swipe; X2, Y2 the end of a tap or swipe.
	X, Y, X2, Y2 int
	// Duration of a swipe, 0 when the command gave none.
	Duration time.Duration
	// KeyCode of a key event (KEYCODE_HOME is 3).
	KeyCode int
	// Text of a text event, after the input command's %s → space rule,
	// or of a clipboard event.
	Text string
	// Display is the display's geometry when the event arrived: a tap's
	// coordinates are in its picture's orientation ([Display.Picture]).
	Display Display

	// Action of a touch or key event (ActionDown, ...).
	Action string
	// Pointer is a touch's pointer id (0..9), Pointers how many pointers
	// are down after it.
	Pointer, Pointers int
	// Gesture numbers the gesture a touch belongs to, from 1 (0 for a
	// move or up of the input command without a down before it).
	Gesture uint64
	// Pressure of a touch, 0..1.
	Pressure float64
	// ScrollH and ScrollV are a scroll's amounts, in wheel notches.
	ScrollH, ScrollV float64
	// Repeat and Meta of an agent's key event.
	Repeat, Meta int
	// Paste: the clipboard event pasted its text.
	Paste bool
	// Rotation a rotate event asked for (-1..3).
	Rotation int
	// On: a screen event turned the screen on.
	On bool
}

// LongPress reports whether the event is a swipe that stays in place.
func (e InputEvent) LongPress() bool {
	return e.Kind == InputSwipe && e.X == e.X2 && e.Y == e.Y2
}

// OnScreen reports whether a tap's, swipe's, touch's or scroll's points
// lie on the picture the display showed when the event arrived (false for
// the other kinds).
func (e InputEvent) OnScreen() bool {
	w, h := e.Display.Picture()
	in := func(x, y int) bool { return x >= 0 && y >= 0 && x < w && y < h }
	switch e.Kind {
	case InputTap, InputSwipe:
		return in(e.X, e.Y) && in(e.X2, e.Y2)
	case InputTouch, InputScroll:
		return in(e.X, e.Y)
	}
	return false
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

	boot  time.Time  // the uptime clock's zero
	costs *costModel // nil with Options.NoCosts

	filesOnce sync.Once
	files     *fileStore // what sync: pushed (sync.go)

	pkgOnce sync.Once
	pkgs    *packages // what pm install installed (pm.go)

	clipMu    sync.Mutex // guards clipboard, clipSubs
	clipboard string
	clipSubs  map[*clipSub]struct{}

	agentMu      sync.Mutex // guards agents
	agents       map[string]*agentListener
	agentClients atomic.Int64  // agent connections past their Hello
	gestures     atomic.Uint64 // the last gesture number given

	touchMu    sync.Mutex // guards shellTouch
	shellTouch touchState // the input command's motionevent pointer
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
	applySDK(d.props, o)
	d.boot = time.Now()
	if !o.NoCosts {
		d.costs = newCostModel(d.serial)
	}
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
			"fps", d.opts.FPS, "static", d.opts.Static, "auth", d.opts.Auth,
			"sdk", d.opts.SDK, "costs", !d.opts.NoCosts, "agent", d.opts.Agent)
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

// recordEvent records an input event and logs it at info level, one
// line: what a test outside the process reads from the device's log.
func (d *Device) recordEvent(e InputEvent) {
	d.recMu.Lock()
	d.events.add(e, 192+len(e.Text))
	d.recMu.Unlock()
	d.log.LogAttrs(context.Background(), slog.LevelInfo, "input", eventAttrs(e)...)
}

// eventAttrs are the log attributes of an event: its kind and the fields
// that kind has.
func eventAttrs(e InputEvent) []slog.Attr {
	a := []slog.Attr{slog.String("kind", string(e.Kind))}
	if e.Source != "" {
		a = append(a, slog.String("source", e.Source))
	}
	xy := func() { a = append(a, slog.Int("x", e.X), slog.Int("y", e.Y)) }
	switch e.Kind {
	case InputTap:
		xy()
	case InputSwipe:
		xy()
		a = append(a, slog.Int("x2", e.X2), slog.Int("y2", e.Y2), slog.Duration("duration", e.Duration))
	case InputKeyEvent:
		a = append(a, slog.Int("code", e.KeyCode))
	case InputText:
		a = append(a, slog.String("text", e.Text))
	case InputTouch:
		a = append(a, slog.String("action", e.Action), slog.Int("pointer", e.Pointer))
		xy()
		a = append(a, slog.Float64("pressure", e.Pressure), slog.Uint64("gesture", e.Gesture), slog.Int("pointers", e.Pointers))
	case InputScroll:
		xy()
		a = append(a, slog.Float64("h", e.ScrollH), slog.Float64("v", e.ScrollV))
	case InputKey:
		a = append(a, slog.String("action", e.Action), slog.Int("code", e.KeyCode), slog.Int("repeat", e.Repeat), slog.Int("meta", e.Meta))
	case InputClipboard:
		a = append(a, slog.String("text", e.Text), slog.Bool("paste", e.Paste))
	case InputRotate:
		a = append(a, slog.Int("rotation", e.Rotation))
	case InputScreen:
		a = append(a, slog.Bool("on", e.On))
	}
	return a
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
