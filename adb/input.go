package adb

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Input injects touch and key events into a device through one persistent
// shell per device with the input command, instead of one adb process per
// event. Each call waits until the device has run its command (the input
// command blocks until the event is handled): at most one command is in
// flight per device, which is what keeps a slow phone from piling up
// commands. It is safe for concurrent use; calls run in call order.
type Input struct {
	client *Client
	serial string
	log    *slog.Logger

	mu     sync.Mutex // held for one command, from write to its end
	shell  *Stream
	cur    atomic.Pointer[Stream] // shell, for Close during a command
	done   chan inputResult       // the shell reader's results
	drain  sync.WaitGroup
	seq    uint64
	closed bool
	// stopped is set by Close before it waits for a command in flight.
	stopped atomic.Bool
}

// inputResult is one command's end, as the shell reported it.
type inputResult struct {
	seq uint64
	ok  bool
	out string // the command's last output lines, for a failure
}

// NewInput returns an injector for the device. The shell opens on the
// first event.
func NewInput(c *Client, serial string, log *slog.Logger) (*Input, error) {
	if err := ValidSerial(serial); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Input{client: c, serial: serial, log: log.With("device", serial)}, nil
}

// maxCoord bounds a device coordinate.
const maxCoord = 1 << 15

func validCoord(vs ...int) error {
	for _, v := range vs {
		if v < 0 || v > maxCoord {
			return fmt.Errorf("%w: coordinate %d (want 0..%d)", ErrInvalidArgument, v, maxCoord)
		}
	}
	return nil
}

// Tap taps at device coordinates (x, y).
func (in *Input) Tap(ctx context.Context, x, y int) error {
	if err := validCoord(x, y); err != nil {
		return err
	}
	return in.Run(ctx, "input", "tap", strconv.Itoa(x), strconv.Itoa(y))
}

// Swipe drags from (x1, y1) to (x2, y2) over d (at least 1 ms).
func (in *Input) Swipe(ctx context.Context, x1, y1, x2, y2 int, d time.Duration) error {
	if err := validCoord(x1, y1, x2, y2); err != nil {
		return err
	}
	ms := max(d.Milliseconds(), 1)
	if ms > 60_000 {
		return fmt.Errorf("%w: swipe of %s (at most 60s)", ErrInvalidArgument, d)
	}
	return in.Run(ctx, "input", "swipe", strconv.Itoa(x1), strconv.Itoa(y1), strconv.Itoa(x2), strconv.Itoa(y2), strconv.FormatInt(ms, 10))
}

// LongPress holds at (x, y) for d (default 600 ms): a swipe that does not
// move.
func (in *Input) LongPress(ctx context.Context, x, y int, d time.Duration) error {
	if d <= 0 {
		d = 600 * time.Millisecond
	}
	return in.Swipe(ctx, x, y, x, y, d)
}

// Motion actions of the input command's motionevent (Android 11 and
// later).
const (
	MotionDown   = "DOWN"
	MotionMove   = "MOVE"
	MotionUp     = "UP"
	MotionCancel = "CANCEL"
)

// Motion sends one touch event of a gesture with "input motionevent",
// which Android 11 (API 30) and later have.
func (in *Input) Motion(ctx context.Context, action string, x, y int) error {
	switch action {
	case MotionDown, MotionMove, MotionUp, MotionCancel:
	default:
		return fmt.Errorf("%w: motion action %q", ErrInvalidArgument, action)
	}
	if err := validCoord(x, y); err != nil {
		return err
	}
	return in.Run(ctx, "input", "motionevent", action, strconv.Itoa(x), strconv.Itoa(y))
}

var keyName = regexp.MustCompile(`^KEYCODE_[A-Z0-9_]{1,40}$`)

// Key sends a key event: an Android key code number ("4") or name
// ("KEYCODE_BACK").
func (in *Input) Key(ctx context.Context, key string) error {
	if n, err := strconv.Atoi(key); err == nil {
		if n < 0 || n > 1000 {
			return fmt.Errorf("%w: key code %d (want 0..1000)", ErrInvalidArgument, n)
		}
	} else if !keyName.MatchString(key) {
		return fmt.Errorf("%w: key %q (want a number or KEYCODE_NAME)", ErrInvalidArgument, key)
	}
	return in.Run(ctx, "input", "keyevent", key)
}

// maxText bounds one text event.
const maxText = 1000

// Text types s. Android's input command turns every "%s" of its argument
// into a space, and takes no escape for a literal one: spaces are sent as
// %s, and the text is cut after each '%' that a literal 's' follows, so
// that a typed "%s" arrives as typed. Control characters are rejected;
// the device's own keyboard map decides what else it can type (on Android,
// only what the virtual keyboard can: no accents, CJK or emoji).
func (in *Input) Text(ctx context.Context, s string) error {
	if s == "" || len(s) > maxText {
		return fmt.Errorf("%w: text of %d bytes (want 1..%d)", ErrInvalidArgument, len(s), maxText)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: control character %U in text", ErrInvalidArgument, r)
		}
	}
	for _, part := range TextParts(s) {
		if err := in.Run(ctx, "input", "text", part); err != nil {
			return err
		}
	}
	return nil
}

// TextParts splits s into the arguments of "input text" that type it
// exactly: spaces become %s, and a literal "%s" is split between two
// commands.
func TextParts(s string) []string {
	var parts []string
	for {
		i := strings.Index(s, "%s")
		if i < 0 {
			break
		}
		parts = append(parts, s[:i+1]) // up to and with the '%'
		s = s[i+1:]                    // from the 's'
	}
	parts = append(parts, s)
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, " ", "%s")
	}
	return parts
}

// inputMark is the line the shell prints after each command: its
// sequence number and whether it succeeded. The command line spells it
// with an empty quote inside, so a terminal's echo of the line never
// matches.
var inputMark = regexp.MustCompile(`__mi_(ok|fail)_([0-9]+)`)

// Run runs one command line built from name and args (quoted with
// ShellCommand) on the shell, and waits until it has ended. A command
// that fails gives an error with its last output. When ctx ends first,
// the shell is closed (a new one opens for the next command), and the
// command may still run on the device.
func (in *Input) Run(ctx context.Context, name string, args ...string) error {
	cmd, err := ShellCommand(name, args...)
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrClosed
	}
	in.seq++
	seq := in.seq
	line := fmt.Sprintf("%s && echo __mi_\"\"ok_%d || echo __mi_\"\"fail_%d\n", cmd, seq, seq)
	for attempt := 0; ; attempt++ {
		if in.shell == nil {
			if err := in.openLocked(ctx); err != nil {
				return err
			}
		}
		_, err := io.WriteString(in.shell, line)
		if err == nil {
			break
		}
		in.closeShellLocked()
		if attempt == 1 || ctx.Err() != nil {
			return fmt.Errorf("%w: input shell on %s: %v", ErrADB, in.serial, err)
		}
		in.log.Warn("input shell broke; reopening", "err", err)
	}
	for {
		select {
		case r, ok := <-in.done:
			if !ok {
				in.closeShellLocked()
				return fmt.Errorf("%w: input shell on %s ended during %s", ErrADB, in.serial, name)
			}
			if r.seq != seq {
				continue // a command abandoned before
			}
			if !r.ok {
				return fmt.Errorf("%w: %s failed on %s: %s", ErrADB, cmd, in.serial, r.out)
			}
			return nil
		case <-ctx.Done():
			in.closeShellLocked()
			return ctx.Err()
		}
	}
}

// openLocked opens the shell and its reader.
func (in *Input) openLocked(ctx context.Context) error {
	sh, err := in.client.Shell(ctx, in.serial)
	if err != nil {
		return err
	}
	done := make(chan inputResult, 1)
	in.shell, in.done = sh, done
	in.cur.Store(sh)
	if in.stopped.Load() { // Close ran meanwhile
		sh.Close()
	}
	in.drain.Add(1)
	go func() {
		defer in.drain.Done()
		defer close(done)
		readMarks(sh, done)
	}()
	return nil
}

// readMarks reads the shell's output and sends each command's end.
func readMarks(r io.Reader, done chan inputResult) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	var last []string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		m := inputMark.FindStringSubmatch(line)
		if m == nil {
			if strings.TrimSpace(line) != "" {
				last = append(last, line)
				if len(last) > 4 {
					last = last[1:]
				}
			}
			continue
		}
		seq, _ := strconv.ParseUint(m[2], 10, 64)
		r := inputResult{seq: seq, ok: m[1] == "ok", out: strings.Join(last, "; ")}
		last = last[:0]
		select {
		case done <- r:
		default: // nobody waits: a command abandoned before
			select {
			case <-done:
			default:
			}
			done <- r
		}
	}
}

// closeShellLocked closes the shell; its reader ends.
func (in *Input) closeShellLocked() {
	if in.shell != nil {
		in.shell.Close()
		in.shell = nil
	}
}

// Close ends the shell. It is idempotent; a command in flight ends with
// an error.
func (in *Input) Close() error {
	in.stopped.Store(true)
	if sh := in.cur.Load(); sh != nil {
		sh.Close() // ends a command in flight
	}
	in.mu.Lock()
	in.closed = true
	in.closeShellLocked()
	in.mu.Unlock()
	in.drain.Wait()
	return nil
}

// Geometry is a device's display: its size in its natural orientation and
// its current rotation in quarter turns (0..3, Android's
// SurfaceOrientation).
type Geometry struct {
	Width, Height int
	Rotation      int
}

// Picture returns the size of the picture the display shows: what
// screencap and a new screenrecord capture, and what MapPoint maps into.
// It is the size with its sides swapped after a quarter turn.
func (g Geometry) Picture() Size {
	if g.Rotation%2 == 1 {
		return Size{Width: g.Height, Height: g.Width}
	}
	return Size{Width: g.Width, Height: g.Height}
}

// MapPoint maps a point of the viewer's picture, given as fractions of its
// width and height (0..1, from the top left), to device coordinates for
// input. The picture shows the display as rotated, so a quarter turn swaps
// the axes' lengths; input takes coordinates in that same orientation.
func MapPoint(nx, ny float64, g Geometry) (x, y int, err error) {
	if math.IsNaN(nx) || math.IsNaN(ny) || nx < -0.01 || ny < -0.01 || nx > 1.01 || ny > 1.01 {
		return 0, 0, fmt.Errorf("%w: point (%g, %g) outside the picture", ErrInvalidArgument, nx, ny)
	}
	if g.Width <= 0 || g.Height <= 0 || g.Rotation < 0 || g.Rotation > 3 {
		return 0, 0, fmt.Errorf("%w: geometry %+v", ErrInvalidArgument, g)
	}
	p := g.Picture()
	w, h := p.Width, p.Height
	x = min(max(int(math.Round(nx*float64(w-1))), 0), w-1)
	y = min(max(int(math.Round(ny*float64(h-1))), 0), h-1)
	return x, y, nil
}

// MapViewerPoint maps a point in viewer pixels (vx, vy within a picture
// shown at viewW x viewH) to device coordinates.
func MapViewerPoint(vx, vy, viewW, viewH float64, g Geometry) (int, int, error) {
	if !(viewW > 0) || !(viewH > 0) {
		return 0, 0, fmt.Errorf("%w: viewer size %gx%g", ErrInvalidArgument, viewW, viewH)
	}
	return MapPoint(vx/viewW, vy/viewH, g)
}

var surfaceOrientation = regexp.MustCompile(`SurfaceOrientation:\s*([0-3])`)

// Geometry reads the device's display size ("wm size") and rotation
// ("dumpsys input"; 0 where the device does not say).
func (c *Client) Geometry(ctx context.Context, serial string) (Geometry, error) {
	size, err := c.DeviceSize(ctx, serial)
	if err != nil {
		return Geometry{}, err
	}
	g := Geometry{Width: size.Width, Height: size.Height}
	if out, err := c.Output(ctx, serial, "dumpsys", "input"); err == nil {
		if m := surfaceOrientation.FindStringSubmatch(out); m != nil {
			g.Rotation = int(m[1][0] - '0')
		}
	}
	return g, nil
}

// PictureSize reads the size of the picture the device's display shows
// now: Geometry, turned (Geometry.Picture).
func (c *Client) PictureSize(ctx context.Context, serial string) (Size, error) {
	g, err := c.Geometry(ctx, serial)
	if err != nil {
		return Size{}, err
	}
	return g.Picture(), nil
}
