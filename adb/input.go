package adb

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Input injects touch and key events into a device through one persistent
// shell per device, instead of one adb process per event. It is safe for
// concurrent use; events are written in call order.
type Input struct {
	client *Client
	serial string
	log    *slog.Logger

	mu     sync.Mutex
	shell  *Stream
	drain  sync.WaitGroup
	closed bool
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
	return in.send(ctx, "input", "tap", strconv.Itoa(x), strconv.Itoa(y))
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
	return in.send(ctx, "input", "swipe", strconv.Itoa(x1), strconv.Itoa(y1), strconv.Itoa(x2), strconv.Itoa(y2), strconv.FormatInt(ms, 10))
}

// LongPress holds at (x, y) for d (default 600 ms): a swipe that does not
// move.
func (in *Input) LongPress(ctx context.Context, x, y int, d time.Duration) error {
	if d <= 0 {
		d = 600 * time.Millisecond
	}
	return in.Swipe(ctx, x, y, x, y, d)
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
	return in.send(ctx, "input", "keyevent", key)
}

// maxText bounds one text event.
const maxText = 1000

// Text types s. Android's input command takes %s for a space; every other
// character is passed through shell quoting untouched. Control characters
// are rejected.
func (in *Input) Text(ctx context.Context, s string) error {
	if s == "" || len(s) > maxText {
		return fmt.Errorf("%w: text of %d bytes (want 1..%d)", ErrInvalidArgument, len(s), maxText)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: control character %U in text", ErrInvalidArgument, r)
		}
	}
	return in.send(ctx, "input", "text", strings.ReplaceAll(s, " ", "%s"))
}

// send writes one command line to the shell, opening (or reopening) it as
// needed.
func (in *Input) send(ctx context.Context, name string, args ...string) error {
	line, err := ShellCommand(name, args...)
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrClosed
	}
	for attempt := 0; ; attempt++ {
		if in.shell == nil {
			sh, err := in.client.Shell(ctx, in.serial)
			if err != nil {
				return err
			}
			in.shell = sh
			in.drain.Add(1)
			go func() {
				defer in.drain.Done()
				io.Copy(io.Discard, sh) // the shell's echo and output
			}()
		}
		_, err := io.WriteString(in.shell, line+"\n")
		if err == nil {
			return nil
		}
		in.shell.Close()
		in.shell = nil
		if attempt == 1 || ctx.Err() != nil {
			return fmt.Errorf("%w: input shell on %s: %v", ErrADB, in.serial, err)
		}
		in.log.Warn("input shell broke; reopening", "err", err)
	}
}

// Close ends the shell. It is idempotent.
func (in *Input) Close() error {
	in.mu.Lock()
	in.closed = true
	if in.shell != nil {
		in.shell.Close()
		in.shell = nil
	}
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
