package device

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/internal/lograte"
	"github.com/cloudphone/media-service/media"
)

// The shell fallback: input through the device's input command, one
// command in flight at a time. A phone's input command takes tens of ms
// (Android 12 and later) to over a second (Android 11 and older start a
// Java VM per call), so commands wait in a short queue where a move
// replaces the move queued before it: a burst of moves leaves at most one
// queued, and a gesture's down and up are never dropped.

// Limits of the shell fallback.
const (
	// shellQueueMax is how many commands may wait; more are refused.
	shellQueueMax = 32
	// motionEventSDK is the first API level whose input command has
	// motionevent (Android 11).
	motionEventSDK = 30
	// slowInputSDK is the last API level whose input command starts a
	// Java VM per call, taking 0.3–1.2 s (Android 11).
	slowInputSDK = 30
	// tapSlop is how far (device pixels) a finger may move and still tap;
	// longPressAfter how long it must stay down to long-press.
	tapSlop        = 16
	longPressAfter = 500 * time.Millisecond
	// scrollStep is the share of the picture's height one wheel notch
	// drags, when the shell scrolls with a swipe.
	scrollStep = 0.1
)

// errQueueFull refuses input while the device is behind.
var errQueueFull = fmt.Errorf("%w: the device is behind with input (%d commands waiting)", media.ErrUnavailable, shellQueueMax)

// shellCmd is one queued command.
type shellCmd struct {
	name    string
	move    bool          // a touch move: the next one replaces it
	timeout time.Duration // its bound, beyond the command's own duration
	run     func(ctx context.Context) error
}

// shellInput injects through adb.Input from one goroutine.
type shellInput struct {
	in  *adb.Input
	log *slog.Logger
	sdk atomic.Int32 // the device's API level; 0 while unknown

	mu       sync.Mutex
	queue    []shellCmd
	wake     chan struct{} // signalled when the queue gets a command
	inFlight bool
	// A gesture without motionevent: its down point and time, and where
	// it is now; sent as one tap or swipe at its up.
	down           bool
	downAt         time.Time
	x0, y0, x1, y1 int

	superseded, refused, failed atomic.Int64
	failLog                     lograte.Limiter
}

func newShellInput(in *adb.Input, log *slog.Logger) *shellInput {
	return &shellInput{in: in, log: log, wake: make(chan struct{}, 1)}
}

// run executes the queued commands until ctx ends.
func (s *shellInput) run(ctx context.Context) {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.inFlight = false
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		c := s.queue[0]
		s.queue = s.queue[1:]
		s.inFlight = true
		s.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, c.timeout+10*time.Second)
		err := c.run(cctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.failed.Add(1)
			s.failLog.Log(s.log, slog.LevelWarn, "input command failed", "command", c.name, "err", err)
		}
	}
}

// enqueue queues a command; a move replaces a move queued last.
func (s *shellInput) enqueue(c shellCmd) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.queue); c.move && n > 0 && s.queue[n-1].move {
		s.queue[n-1] = c
		s.superseded.Add(1)
		return nil
	}
	if len(s.queue) >= shellQueueMax {
		s.refused.Add(1)
		return errQueueFull
	}
	s.queue = append(s.queue, c)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// queued returns how many commands wait, and whether one runs.
func (s *shellInput) queued() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue), s.inFlight
}

// motionEvents reports whether the device's input command has
// motionevent.
func (s *shellInput) motionEvents() bool { return s.sdk.Load() >= motionEventSDK }

// inject queues one input. It returns once the input is queued (or
// refused); the command runs after those queued before it.
func (s *shellInput) inject(msg media.Input, g adb.Geometry) error {
	point := func(x, y float64) (int, int, error) { return adb.MapPoint(x, y, g) }
	in := s.in
	switch msg.Type {
	case media.InputTap:
		x, y, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		return s.enqueue(shellCmd{name: "tap", run: func(ctx context.Context) error { return in.Tap(ctx, x, y) }})
	case media.InputLongPress, media.InputSwipe:
		x1, y1, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		x2, y2 := x1, y1
		if msg.Type == media.InputSwipe {
			if x2, y2, err = point(msg.X2, msg.Y2); err != nil {
				return err
			}
		}
		d := msg.Duration
		if msg.Type == media.InputLongPress && d <= 0 {
			d = 600 * time.Millisecond
		}
		return s.enqueue(shellCmd{name: msg.Type, timeout: d, run: func(ctx context.Context) error { return in.Swipe(ctx, x1, y1, x2, y2, d) }})
	case media.InputKey:
		if msg.Action == media.ActionUp {
			return nil // the input command presses a key: down and up at the down
		}
		key := msg.Key
		return s.enqueue(shellCmd{name: "key", run: func(ctx context.Context) error { return in.Key(ctx, key) }})
	case media.InputText:
		if err := shellTypable(msg.Text); err != nil {
			return err
		}
		text := msg.Text
		return s.enqueue(shellCmd{name: "text", run: func(ctx context.Context) error { return in.Text(ctx, text) }})
	case media.InputTouch:
		return s.touch(msg, g)
	case media.InputScroll:
		x, y, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		h := g.Picture().Height
		dy := int(math.Round(-msg.DY * scrollStep * float64(h)))
		dx := int(math.Round(-msg.DX * scrollStep * float64(g.Picture().Width)))
		x2 := min(max(x+dx, 0), g.Picture().Width-1)
		y2 := min(max(y+dy, 0), h-1)
		return s.enqueue(shellCmd{name: "scroll", run: func(ctx context.Context) error {
			return in.Swipe(ctx, x, y, x2, y2, 100*time.Millisecond)
		}})
	case media.InputRotate:
		rot := msg.Rotation
		return s.enqueue(shellCmd{name: "rotate", run: func(ctx context.Context) error {
			if rot == media.RotationAuto {
				return in.Run(ctx, "settings", "put", "system", "accelerometer_rotation", "1")
			}
			if err := in.Run(ctx, "settings", "put", "system", "accelerometer_rotation", "0"); err != nil {
				return err
			}
			return in.Run(ctx, "settings", "put", "system", "user_rotation", strconv.Itoa(rot))
		}})
	case media.InputScreen:
		key := "KEYCODE_SLEEP"
		if msg.On {
			key = "KEYCODE_WAKEUP"
		}
		return s.enqueue(shellCmd{name: "screen", run: func(ctx context.Context) error { return in.Key(ctx, key) }})
	case media.InputClipboard:
		return fmt.Errorf("%w: the device's clipboard needs the input agent, and this device runs without it", media.ErrUnsupported)
	}
	return fmt.Errorf("%w: input kind %q", adb.ErrInvalidArgument, msg.Type)
}

// shellTypable refuses text that the input command cannot type: Android
// types it through the virtual keyboard's key character map, which has
// printable ASCII only.
func shellTypable(text string) error {
	for _, r := range text {
		if r < 0x20 || r > 0x7e {
			return fmt.Errorf("%w: the device's input command cannot type %q (only the input agent types beyond ASCII)", media.ErrUnsupported, r)
		}
	}
	return nil
}

// touch handles one finger's event: with motionevent, as it comes (moves
// superseding each other); without, as a tap, long press or swipe sent at
// the up. Only one finger: multi-touch needs the agent.
func (s *shellInput) touch(msg media.Input, g adb.Geometry) error {
	if msg.Pointer != 0 {
		return fmt.Errorf("%w: multi-touch needs the input agent, and this device runs without it", media.ErrUnsupported)
	}
	x, y, err := adb.MapPoint(msg.X, msg.Y, g)
	if err != nil {
		return err
	}
	in := s.in
	if s.motionEvents() {
		action := map[string]string{media.ActionDown: adb.MotionDown, media.ActionMove: adb.MotionMove,
			media.ActionUp: adb.MotionUp, media.ActionCancel: adb.MotionCancel}[msg.Action]
		if action == "" {
			return fmt.Errorf("%w: touch action %q", adb.ErrInvalidArgument, msg.Action)
		}
		return s.enqueue(shellCmd{name: "motionevent " + action, move: msg.Action == media.ActionMove,
			run: func(ctx context.Context) error { return in.Motion(ctx, action, x, y) }})
	}
	c, ok, err := s.gesture(msg.Action, x, y)
	if err != nil || !ok {
		return err
	}
	return s.enqueue(c)
}

// gesture follows one finger without motionevent and returns the command
// that its up makes, if it ends now.
func (s *shellInput) gesture(action string, x, y int) (shellCmd, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch action {
	case media.ActionDown:
		s.down, s.downAt, s.x0, s.y0, s.x1, s.y1 = true, time.Now(), x, y, x, y
		return shellCmd{}, false, nil
	case media.ActionMove:
		if s.down {
			s.x1, s.y1 = x, y
			s.superseded.Add(1)
		}
		return shellCmd{}, false, nil
	case media.ActionCancel:
		s.down = false
		return shellCmd{}, false, nil
	case media.ActionUp:
	default:
		return shellCmd{}, false, fmt.Errorf("%w: touch action %q", adb.ErrInvalidArgument, action)
	}
	if !s.down {
		return shellCmd{}, false, nil
	}
	s.down = false
	in, x0, y0, held := s.in, s.x0, s.y0, time.Since(s.downAt)
	switch {
	case abs(x-x0) > tapSlop || abs(y-y0) > tapSlop:
		d := min(max(held, 50*time.Millisecond), 10*time.Second)
		return shellCmd{name: "swipe", timeout: d, run: func(ctx context.Context) error { return in.Swipe(ctx, x0, y0, x, y, d) }}, true, nil
	case held >= longPressAfter:
		d := min(held, 10*time.Second)
		return shellCmd{name: "longpress", timeout: d, run: func(ctx context.Context) error { return in.Swipe(ctx, x0, y0, x0, y0, d) }}, true, nil
	}
	return shellCmd{name: "tap", run: func(ctx context.Context) error { return in.Tap(ctx, x0, y0) }}, true, nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
