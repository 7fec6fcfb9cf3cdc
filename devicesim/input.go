package devicesim

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Messages of Android's input command.
const (
	inputInvalidArgs = "Error: Invalid arguments for command: "
	inputUnknownCmd  = "Error: Unknown command: "
)

// inputSources are the optional first word of an input command.
var inputSources = map[string]bool{
	"keyboard": true, "mouse": true, "joystick": true, "touchnavigation": true,
	"touchpad": true, "trackball": true, "stylus": true, "dpad": true,
	"gesture": true, "touchscreen": true, "gamepad": true,
}

// maxKeyCode is KEYCODE_PROFILE_SWITCH, the last key code of API 29.
const maxKeyCode = 288

// keyCodes maps KEYCODE_ names to their values (KeyEvent.java).
var keyCodes = map[string]int{
	"UNKNOWN": 0, "SOFT_LEFT": 1, "SOFT_RIGHT": 2, "HOME": 3, "BACK": 4,
	"CALL": 5, "ENDCALL": 6, "STAR": 17, "POUND": 18, "DPAD_UP": 19,
	"DPAD_DOWN": 20, "DPAD_LEFT": 21, "DPAD_RIGHT": 22, "DPAD_CENTER": 23,
	"VOLUME_UP": 24, "VOLUME_DOWN": 25, "POWER": 26, "CAMERA": 27,
	"CLEAR": 28, "COMMA": 55, "PERIOD": 56, "ALT_LEFT": 57, "ALT_RIGHT": 58,
	"SHIFT_LEFT": 59, "SHIFT_RIGHT": 60, "TAB": 61, "SPACE": 62, "SYM": 63,
	"EXPLORER": 64, "ENVELOPE": 65, "ENTER": 66, "DEL": 67, "GRAVE": 68,
	"MINUS": 69, "EQUALS": 70, "LEFT_BRACKET": 71, "RIGHT_BRACKET": 72,
	"BACKSLASH": 73, "SEMICOLON": 74, "APOSTROPHE": 75, "SLASH": 76,
	"AT": 77, "NUM": 78, "HEADSETHOOK": 79, "FOCUS": 80, "PLUS": 81,
	"MENU": 82, "NOTIFICATION": 83, "SEARCH": 84, "MEDIA_PLAY_PAUSE": 85,
	"MEDIA_STOP": 86, "MEDIA_NEXT": 87, "MEDIA_PREVIOUS": 88,
	"MEDIA_REWIND": 89, "MEDIA_FAST_FORWARD": 90, "MUTE": 91, "PAGE_UP": 92,
	"PAGE_DOWN": 93, "ESCAPE": 111, "FORWARD_DEL": 112, "CTRL_LEFT": 113,
	"CTRL_RIGHT": 114, "CAPS_LOCK": 115, "MOVE_HOME": 122, "MOVE_END": 123,
	"INSERT": 124, "VOLUME_MUTE": 164, "APP_SWITCH": 187, "SLEEP": 223,
	"WAKEUP": 224,
}

func init() {
	for i := range 10 {
		keyCodes[strconv.Itoa(i)] = 7 + i // KEYCODE_0..KEYCODE_9
	}
	for c := 'A'; c <= 'Z'; c++ {
		keyCodes[string(c)] = 29 + int(c-'A') // KEYCODE_A..KEYCODE_Z
	}
}

// parseKeyCode takes a number or a KEYCODE_ name, with or without the
// prefix, as the input command does.
func parseKeyCode(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 0 && n <= maxKeyCode
	}
	if n, ok := keyCodes[strings.TrimPrefix(s, "KEYCODE_")]; ok {
		return n, true
	}
	return 0, false
}

// parseCoord parses a coordinate as Java's Float.parseFloat would accept
// it, finite only, and rounds it to a pixel.
func parseCoord(s string) (int, bool) {
	s = strings.TrimSuffix(strings.TrimSuffix(s, "f"), "F")
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 32)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e6 {
		return 0, false
	}
	return int(math.Round(v)), true
}

// input [SOURCE] tap X Y | swipe X1 Y1 X2 Y2 [MS] | keyevent [--longpress]
// KEY... | text STRING. Each accepted command is recorded with its arrival
// time and the display's geometry then, and leaves a mark on the screen.
// Coordinates are in the picture's current orientation; like Android's,
// the command takes points off the screen too (InputEvent.OnScreen tells).
func cmdInput(sh *shell, args []string) int {
	now := time.Now()
	source := ""
	if len(args) > 0 && inputSources[args[0]] {
		source, args = args[0], args[1:]
	}
	if len(args) == 0 {
		inputUsage(sh.out)
		return 1
	}
	verb, rest := args[0], args[1:]
	invalid := func() int {
		fmt.Fprintln(sh.out, inputInvalidArgs+verb)
		inputUsage(sh.out)
		return 1
	}
	d := sh.d
	disp := d.Display()
	switch verb {
	case "tap":
		if len(rest) != 2 {
			return invalid()
		}
		x, ok1 := parseCoord(rest[0])
		y, ok2 := parseCoord(rest[1])
		if !ok1 || !ok2 {
			return invalid()
		}
		d.recordEvent(InputEvent{Time: now, Kind: InputTap, Source: source, X: x, Y: y, X2: x, Y2: y, Display: disp})
		d.screen.tap(x, y)
	case "swipe":
		if len(rest) != 4 && len(rest) != 5 {
			return invalid()
		}
		var p [4]int
		for i := range p {
			v, ok := parseCoord(rest[i])
			if !ok {
				return invalid()
			}
			p[i] = v
		}
		var dur time.Duration
		if len(rest) == 5 {
			ms, err := strconv.Atoi(rest[4])
			if err != nil || ms < 0 || ms > 3_600_000 {
				return invalid()
			}
			dur = time.Duration(ms) * time.Millisecond
		}
		d.recordEvent(InputEvent{Time: now, Kind: InputSwipe, Source: source, X: p[0], Y: p[1], X2: p[2], Y2: p[3], Duration: dur, Display: disp})
		if p[0] == p[2] && p[1] == p[3] {
			d.screen.longPress(p[0], p[1])
		} else {
			d.screen.swipe(p[0], p[1], p[2], p[3])
		}
	case "keyevent":
		if len(rest) > 0 && rest[0] == "--longpress" {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return invalid()
		}
		codes := make([]int, len(rest))
		for i, k := range rest {
			code, ok := parseKeyCode(k)
			if !ok {
				return invalid()
			}
			codes[i] = code
		}
		for _, code := range codes {
			d.recordEvent(InputEvent{Time: now, Kind: InputKeyEvent, Source: source, KeyCode: code, Display: disp})
			d.screen.key(code)
		}
	case "text":
		if len(rest) != 1 {
			return invalid()
		}
		text := strings.ReplaceAll(rest[0], "%s", " ")
		d.recordEvent(InputEvent{Time: now, Kind: InputText, Source: source, Text: text, Display: disp})
		d.screen.text(text)
	default:
		fmt.Fprintln(sh.out, inputUnknownCmd+verb)
		inputUsage(sh.out)
		return 1
	}
	return 0
}

func inputUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: input [<source>] <command> [<arg>...]\n\n"+
		"The sources are: \n      keyboard\n      mouse\n      touchscreen\n      ...\n\n"+
		"The commands and default sources are:\n"+
		"      text <string> (Default: touchscreen)\n"+
		"      keyevent [--longpress] <key code number or name> ... (Default: keyboard)\n"+
		"      tap <x> <y> (Default: touchscreen)\n"+
		"      swipe <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)\n")
}
