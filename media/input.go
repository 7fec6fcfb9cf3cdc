package media

import "time"

// Kinds of input a viewer sends to its device.
const (
	InputTap       = "tap"
	InputSwipe     = "swipe"
	InputLongPress = "longpress"
	InputKey       = "key"
	InputText      = "text"
)

// Input is one validated input event for a device. X, Y, X2 and Y2 are
// fractions (0..1) of the displayed picture's width and height, from its
// top left; the device's owner maps them to device pixels.
type Input struct {
	// Type is one of the Input kinds above.
	Type string
	// X, Y: tap, swipe start, long press. X2, Y2: swipe end.
	X, Y, X2, Y2 float64
	// Duration of a swipe or long press.
	Duration time.Duration
	// Key is an Android key: "KEYCODE_BACK" or a key code number ("4").
	Key string
	// Text to type: printable UTF-8.
	Text string
}
