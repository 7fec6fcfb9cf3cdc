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
	// MaxInputMessage is the largest message accepted, in bytes.
	MaxInputMessage = 4096
	// MaxInputText is the longest text event, in bytes (capture's limit).
	MaxInputText = 1000
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
}

var keyName = regexp.MustCompile(`^KEYCODE_[A-Z0-9_]{1,40}$`)

// ParseInputMessage parses and validates one message: a JSON object of at
// most MaxInputMessage bytes with a known "type", every field that type
// needs, finite coordinates in 0..1, durations in 1ms..60s, a key name or
// code, and printable text. Hostile input yields an error wrapping
// ErrInvalidInput, never a panic.
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
	case InputKey:
		m.Key, err = key(w.Key)
	case InputText:
		m.Text, err = text(w.Text)
	case InputControl, InputRelease:
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
	case InputTap, InputSwipe, InputLongPress, InputKey, InputText:
		return true
	}
	return false
}

// point validates a coordinate pair.
func point(x, y *float64, nx, ny string) (float64, float64, error) {
	if x == nil || y == nil {
		return 0, 0, fmt.Errorf("%w: %s and %s are required", ErrInvalidInput, nx, ny)
	}
	for _, c := range []struct {
		v    float64
		name string
	}{{*x, nx}, {*y, ny}} {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) || c.v < 0 || c.v > 1 {
			return 0, 0, fmt.Errorf("%w: %s=%g (want 0..1)", ErrInvalidInput, c.name, c.v)
		}
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
	for _, r := range *t {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return "", fmt.Errorf("%w: control character %U in text", ErrInvalidInput, r)
		}
	}
	return *t, nil
}

// inputReply is a message the server sends on the input channel.
type inputReply struct {
	Type    string          `json:"type"`
	Message string          `json:"message,omitempty"`
	State   string          `json:"state,omitempty"`
	T       json.RawMessage `json:"t,omitempty"`
}

// Reply texts.
const (
	msgNotController = "another viewer controls this device"
	msgViewOnly      = "this token is view-only"
)
