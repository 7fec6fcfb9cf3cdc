package rtc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cloudphone/media-service/media"
)

// InputChannelLabel is the label of the data channel that carries input.
// The client creates it (an in-band, DCEP channel); channels with other
// labels are closed.
const InputChannelLabel = "input"

// Input message types.
const (
	InputTap       = media.InputTap
	InputSwipe     = media.InputSwipe
	InputLongPress = media.InputLongPress
	InputKey       = media.InputKey
	InputText      = media.InputText
	InputTouch     = media.InputTouch
	InputScroll    = media.InputScroll
	InputClipboard = media.InputClipboard
	InputRotate    = media.InputRotate
	InputScreen    = media.InputScreen
	// InputClipboardGet asks for the device's clipboard: the reply is
	// {"type":"clipboard","text":...} or an error.
	InputClipboardGet = "clipboard-get"
	// InputControl takes control of the device for the sender.
	InputControl = "control"
	// InputRelease gives control up.
	InputRelease = "release"
	// InputLatency and InputReport carry client measurements for
	// Config.OnClientReport.
	InputLatency = "latency"
	InputReport  = "report"
	// InputPing is answered with {"type":"pong"} and the same "t".
	InputPing = "ping"
)

// Limits of input messages.
const (
	// MaxInputText is the longest text event, in bytes (capture's limit).
	MaxInputText = 1000
	// MaxClipboardText is the longest clipboard text, in bytes.
	MaxClipboardText = 64 << 10
	// MaxInputMessage is the largest message accepted, in bytes: a
	// clipboard message of MaxClipboardText bytes fits even when every
	// byte of its text is escaped as two characters (\n, \", \\) as
	// JSON.stringify writes them.
	MaxInputMessage = 2*MaxClipboardText + 512
	// MaxKeyMeta bounds a key event's meta state (KeyEvent.META_* bits);
	// MaxKeyRepeat its repeat count.
	MaxKeyMeta   = 0x7fffffff
	MaxKeyRepeat = 1000
	// MaxGestureDuration bounds swipes and long presses.
	MaxGestureDuration = 60 * time.Second
	// Default durations of swipes and long presses.
	DefaultSwipeDuration     = 300 * time.Millisecond
	DefaultLongPressDuration = 600 * time.Millisecond
)

// InputMessage is one validated message of the input channel. A
// gesture's fields are its media.Input, which Feed.Input takes (Text is
// 1..MaxInputText bytes of UTF-8, no control characters).
type InputMessage struct {
	media.Input
	// Raw is the message as received, for reports (latency, report).
	Raw json.RawMessage
	// T is the ping's "t", echoed in the pong.
	T json.RawMessage
}

// ErrInvalidInput is wrapped by every validation error of ParseInputMessage.
var ErrInvalidInput = errors.New("rtc: invalid input message")

// wireInput is an input message as JSON.
type wireInput struct {
	Type       string          `json:"type"`
	X          *float64        `json:"x"`
	Y          *float64        `json:"y"`
	X2         *float64        `json:"x2"`
	Y2         *float64        `json:"y2"`
	DurationMs *float64        `json:"durationMs"`
	Key        *string         `json:"key"`
	Text       *string         `json:"text"`
	T          json.RawMessage `json:"t"`
	Action     *string         `json:"action"`
	ID         *float64        `json:"id"`
	Pressure   *float64        `json:"pressure"`
	DX         *float64        `json:"dx"`
	DY         *float64        `json:"dy"`
	Meta       *float64        `json:"meta"`
	Repeat     *float64        `json:"repeat"`
	Paste      *bool           `json:"paste"`
	Rotation   *float64        `json:"rotation"`
	On         *bool           `json:"on"`
}

var keyName = regexp.MustCompile(`^KEYCODE_[A-Z0-9_]{1,40}$`)

// ParseInputMessage parses and validates one message: a JSON object of at
// most MaxInputMessage bytes with a known "type", every field that type
// needs, finite coordinates in 0..1, durations in 1ms..60s, a key name or
// code, actions, fingers, scroll notches, meta states, repeat counts and
// rotations within their ranges, and printable text. Fields a type does
// not use are ignored, but must have their JSON type when present.
// Hostile input yields an error wrapping ErrInvalidInput, never a panic.
func ParseInputMessage(data []byte) (InputMessage, error) {
	if len(data) > MaxInputMessage {
		return InputMessage{}, fmt.Errorf("%w: %d bytes (at most %d)", ErrInvalidInput, len(data), MaxInputMessage)
	}
	if !utf8.Valid(data) {
		return InputMessage{}, fmt.Errorf("%w: not UTF-8", ErrInvalidInput)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return InputMessage{}, fmt.Errorf("%w: not a JSON object", ErrInvalidInput)
	}
	var w wireInput
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return InputMessage{}, fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	m := InputMessage{Input: media.Input{Type: w.Type}}
	var err error
	switch w.Type {
	case InputTap:
		m.X, m.Y, err = point(w.X, w.Y, "x", "y")
	case InputSwipe:
		if m.X, m.Y, err = point(w.X, w.Y, "x", "y"); err == nil {
			if m.X2, m.Y2, err = point(w.X2, w.Y2, "x2", "y2"); err == nil {
				m.Duration, err = duration(w.DurationMs, DefaultSwipeDuration)
			}
		}
	case InputLongPress:
		if m.X, m.Y, err = point(w.X, w.Y, "x", "y"); err == nil {
			m.Duration, err = duration(w.DurationMs, DefaultLongPressDuration)
		}
	case InputTouch:
		err = touch(&m.Input, w)
	case InputScroll:
		err = scroll(&m.Input, w)
	case InputKey:
		if m.Key, err = key(w.Key); err == nil {
			err = keyEvent(&m.Input, w)
		}
	case InputText:
		m.Text, err = text(w.Text)
	case InputClipboard:
		if m.Text, err = clipText(w.Text); err == nil && w.Paste != nil {
			m.Paste = *w.Paste
		}
	case InputRotate:
		if w.Rotation == nil {
			err = fmt.Errorf("%w: rotation is required", ErrInvalidInput)
		} else {
			m.Rotation, err = integer(*w.Rotation, "rotation", media.RotationAuto, 3)
		}
	case InputScreen:
		if w.On == nil {
			err = fmt.Errorf("%w: on is required", ErrInvalidInput)
		} else {
			m.On = *w.On
		}
	case InputControl, InputRelease, InputClipboardGet:
	case InputLatency, InputReport:
		m.Raw = json.RawMessage(bytes.Clone(trimmed))
	case InputPing:
		if len(w.T) > 64 {
			err = fmt.Errorf("%w: ping t of %d bytes (at most 64)", ErrInvalidInput, len(w.T))
		}
		m.T = json.RawMessage(bytes.Clone(w.T))
	case "":
		err = fmt.Errorf("%w: no type", ErrInvalidInput)
	default:
		err = fmt.Errorf("%w: unknown type %s", ErrInvalidInput, strconv.Quote(truncate(w.Type, 32)))
	}
	if err != nil {
		return InputMessage{}, err
	}
	return m, nil
}

// IsGesture reports whether the message is input for the device (as
// opposed to control, reports and pings).
func (m InputMessage) IsGesture() bool {
	switch m.Type {
	case InputTap, InputSwipe, InputLongPress, InputKey, InputText,
		InputTouch, InputScroll, InputClipboard, InputRotate, InputScreen:
		return true
	}
	return false
}

// touch validates a touch event: an action, a finger, a point and an
// optional pressure (by default 1 while the finger is down, 0 when it
// lifts or is cancelled).
func touch(in *media.Input, w wireInput) error {
	if w.Action == nil {
		return fmt.Errorf("%w: action is required", ErrInvalidInput)
	}
	switch a := *w.Action; a {
	case media.ActionDown, media.ActionMove:
		in.Pressure = 1
	case media.ActionUp, media.ActionCancel:
		in.Pressure = 0
	default:
		return fmt.Errorf("%w: touch action %s (want down, move, up or cancel)", ErrInvalidInput, strconv.Quote(truncate(a, 16)))
	}
	in.Action = *w.Action
	if w.ID == nil {
		return fmt.Errorf("%w: id is required", ErrInvalidInput)
	}
	var err error
	if in.Pointer, err = integer(*w.ID, "id", 0, media.MaxPointers-1); err != nil {
		return err
	}
	if in.X, in.Y, err = point(w.X, w.Y, "x", "y"); err != nil {
		return err
	}
	if w.Pressure != nil {
		if in.Pressure, err = fraction(*w.Pressure, "pressure"); err != nil {
			return err
		}
	}
	return nil
}

// scroll validates a scroll: a point and DX, DY notches (absent: 0), not
// both 0.
func scroll(in *media.Input, w wireInput) error {
	var err error
	if in.X, in.Y, err = point(w.X, w.Y, "x", "y"); err != nil {
		return err
	}
	for _, c := range []struct {
		v    *float64
		dst  *float64
		name string
	}{{w.DX, &in.DX, "dx"}, {w.DY, &in.DY, "dy"}} {
		if c.v == nil {
			continue
		}
		v := *c.v
		if math.IsNaN(v) || math.IsInf(v, 0) || v < -media.MaxScroll || v > media.MaxScroll {
			return fmt.Errorf("%w: %s=%g (want -%d..%d)", ErrInvalidInput, c.name, v, media.MaxScroll, media.MaxScroll)
		}
		*c.dst = v
	}
	if in.DX == 0 && in.DY == 0 {
		return fmt.Errorf("%w: a scroll needs dx or dy", ErrInvalidInput)
	}
	return nil
}

// keyEvent validates a key event's optional action (down or up; none is
// a press), meta state and repeat count (only for down).
func keyEvent(in *media.Input, w wireInput) error {
	if w.Action != nil {
		switch a := *w.Action; a {
		case media.ActionDown, media.ActionUp:
			in.Action = a
		default:
			return fmt.Errorf("%w: key action %s (want down or up)", ErrInvalidInput, strconv.Quote(truncate(a, 16)))
		}
	}
	var err error
	if w.Meta != nil {
		if in.Meta, err = integer(*w.Meta, "meta", 0, MaxKeyMeta); err != nil {
			return err
		}
	}
	if w.Repeat != nil {
		if in.Repeat, err = integer(*w.Repeat, "repeat", 0, MaxKeyRepeat); err != nil {
			return err
		}
		if in.Repeat > 0 && in.Action != media.ActionDown {
			return fmt.Errorf("%w: repeat is for key down events", ErrInvalidInput)
		}
	}
	return nil
}

// integer validates a whole number in lo..hi.
func integer(v float64, name string, lo, hi int) (int, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v != math.Trunc(v) || v < float64(lo) || v > float64(hi) {
		return 0, fmt.Errorf("%w: %s=%g (want a whole number %d..%d)", ErrInvalidInput, name, v, lo, hi)
	}
	return int(v), nil
}

// fraction validates a finite number in 0..1.
func fraction(v float64, name string) (float64, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1 {
		return 0, fmt.Errorf("%w: %s=%g (want 0..1)", ErrInvalidInput, name, v)
	}
	return v, nil
}

// point validates a coordinate pair.
func point(x, y *float64, nx, ny string) (float64, float64, error) {
	if x == nil || y == nil {
		return 0, 0, fmt.Errorf("%w: %s and %s are required", ErrInvalidInput, nx, ny)
	}
	if _, err := fraction(*x, nx); err != nil {
		return 0, 0, err
	}
	if _, err := fraction(*y, ny); err != nil {
		return 0, 0, err
	}
	return *x, *y, nil
}

// duration validates durationMs.
func duration(ms *float64, def time.Duration) (time.Duration, error) {
	if ms == nil {
		return def, nil
	}
	v := *ms
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 1 || v > float64(MaxGestureDuration/time.Millisecond) {
		return 0, fmt.Errorf("%w: durationMs=%g (want 1..%d)", ErrInvalidInput, v, MaxGestureDuration/time.Millisecond)
	}
	return time.Duration(v * float64(time.Millisecond)), nil
}

// key validates an Android key name or code.
func key(k *string) (string, error) {
	if k == nil || *k == "" {
		return "", fmt.Errorf("%w: key is required", ErrInvalidInput)
	}
	if keyName.MatchString(*k) {
		return *k, nil
	}
	if len(*k) <= 4 {
		if n, err := strconv.Atoi(*k); err == nil && n >= 0 && n <= 1000 && strconv.Itoa(n) == *k {
			return *k, nil
		}
	}
	return "", fmt.Errorf("%w: key %s (want KEYCODE_NAME or a code 0..1000)", ErrInvalidInput, strconv.Quote(truncate(*k, 48)))
}

// text validates a text event.
func text(t *string) (string, error) {
	if t == nil || *t == "" {
		return "", fmt.Errorf("%w: text is required", ErrInvalidInput)
	}
	if len(*t) > MaxInputText {
		return "", fmt.Errorf("%w: text of %d bytes (at most %d)", ErrInvalidInput, len(*t), MaxInputText)
	}
	if err := printable(*t, false); err != nil {
		return "", err
	}
	return *t, nil
}

// clipText validates clipboard text: 1..MaxClipboardText bytes of UTF-8
// with no control characters but tabs and line breaks.
func clipText(t *string) (string, error) {
	if t == nil || *t == "" {
		return "", fmt.Errorf("%w: text is required", ErrInvalidInput)
	}
	if len(*t) > MaxClipboardText {
		return "", fmt.Errorf("%w: clipboard text of %d bytes (at most %d)", ErrInvalidInput, len(*t), MaxClipboardText)
	}
	if err := printable(*t, true); err != nil {
		return "", err
	}
	return *t, nil
}

// printable refuses control characters (and invalid UTF-8), but tabs and
// line breaks when lines is set.
func printable(t string, lines bool) error {
	for _, r := range t {
		if lines && (r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return fmt.Errorf("%w: control character %U in text", ErrInvalidInput, r)
		}
	}
	return nil
}

// inputReply is a message the server sends on the input channel.
type inputReply struct {
	Type    string          `json:"type"`
	Message string          `json:"message,omitempty"`
	State   string          `json:"state,omitempty"`
	T       json.RawMessage `json:"t,omitempty"`
}

// clipboardReply carries the device's clipboard: the answer to
// clipboard-get, or a change the device noticed.
type clipboardReply struct {
	Type string `json:"type"` // "clipboard"
	Text string `json:"text"`
}

// inputStateReply tells the page how its input reaches the device:
// {"type":"input","method":"agent","slow":false,"sdk":34}.
type inputStateReply struct {
	Type string `json:"type"` // "input"
	media.InputState
}

// Reply texts.
const (
	msgNotController = "another viewer controls this device"
	msgViewOnly      = "this token is view-only"
)
