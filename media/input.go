package media

import "time"

// Kinds of input a viewer sends to its device.
const (
	InputTap       = "tap"
	InputSwipe     = "swipe"
	InputLongPress = "longpress"
	InputKey       = "key"
	InputText      = "text"
	// InputTouch is one pointer's event of a streamed gesture: Action
	// (down, move, up, cancel), Pointer, X, Y and Pressure.
	InputTouch = "touch"
	// InputScroll is a wheel turn at X, Y by DX, DY notches.
	InputScroll = "scroll"
	// InputClipboard sets the device's clipboard to Text, and pastes it
	// with Paste.
	InputClipboard = "clipboard"
	// InputRotate sets the display's rotation (Rotation 0..3) or gives it
	// back to the sensor (RotationAuto).
	InputRotate = "rotate"
	// InputScreen turns the display on (On) or off.
	InputScreen = "screen"
)

// Actions of InputTouch and InputKey. A key without an action is a press:
// down, then up.
const (
	ActionDown   = "down"
	ActionMove   = "move"
	ActionUp     = "up"
	ActionCancel = "cancel"
)

// Limits of input.
const (
	// MaxPointers is how many fingers a gesture may have.
	MaxPointers = 10
	// MaxScroll bounds a scroll's DX and DY, in notches.
	MaxScroll = 16
	// RotationAuto gives the rotation back to the sensor.
	RotationAuto = -1
)

// Input is one validated input event for a device. X, Y, X2 and Y2 are
// fractions (0..1) of the displayed picture's width and height, from its
// top left; the device's owner maps them to device pixels.
type Input struct {
	// Type is one of the Input kinds above.
	Type string
	// X, Y: tap, swipe start, long press, touch, scroll. X2, Y2: swipe end.
	X, Y, X2, Y2 float64
	// Duration of a swipe or long press.
	Duration time.Duration
	// Key is an Android key: "KEYCODE_BACK" or a key code number ("4").
	Key string
	// Text to type or to set as the clipboard: printable UTF-8.
	Text string
	// Action of a touch or key event (ActionDown, ...); "" for a key
	// press.
	Action string
	// Pointer is the finger of a touch event: 0..MaxPointers-1.
	Pointer int
	// Pressure of a touch event, 0..1.
	Pressure float64
	// DX and DY of a scroll, in wheel notches (positive: right, down).
	DX, DY float64
	// Meta is a key event's Android meta state (KeyEvent.META_*); Repeat
	// its repeat count.
	Meta, Repeat int
	// Paste pastes the clipboard after setting it.
	Paste bool
	// Rotation of InputRotate: 0..3 or RotationAuto.
	Rotation int
	// On of InputScreen.
	On bool
}

// InputState tells a device's viewers how their input reaches it.
type InputState struct {
	// Method is "agent" (the on-device agent) or "shell" (the input
	// command); "" while the agent starts.
	Method string `json:"method"`
	// Slow is set when input is slow on this device: the input command
	// of Android 11 and older, which starts a Java VM per event.
	Slow bool `json:"slow"`
	// Reason says why the agent is not used, if it is not.
	Reason string `json:"reason,omitempty"`
	// SDK is the device's Android API level, when known.
	SDK int `json:"sdk,omitempty"`
}

// InputNotice is something the device tells its viewers: a new
// InputState, or its clipboard (Clipboard set).
type InputNotice struct {
	State     *InputState
	Clipboard *string
}
