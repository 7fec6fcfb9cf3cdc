package agent

import (
	"strconv"
	"strings"
)

// keyCodes are Android's KEYCODE_ names without the prefix, in code order
// from 0 (KeyEvent.java); "" where the code is not named here.
var keyCodes = [...]string{
	"UNKNOWN", "SOFT_LEFT", "SOFT_RIGHT", "HOME", "BACK", "CALL", "ENDCALL",
	"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "STAR", "POUND",
	"DPAD_UP", "DPAD_DOWN", "DPAD_LEFT", "DPAD_RIGHT", "DPAD_CENTER",
	"VOLUME_UP", "VOLUME_DOWN", "POWER", "CAMERA", "CLEAR",
	"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N",
	"O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z",
	"COMMA", "PERIOD", "ALT_LEFT", "ALT_RIGHT", "SHIFT_LEFT", "SHIFT_RIGHT",
	"TAB", "SPACE", "SYM", "EXPLORER", "ENVELOPE", "ENTER", "DEL", "GRAVE",
	"MINUS", "EQUALS", "LEFT_BRACKET", "RIGHT_BRACKET", "BACKSLASH",
	"SEMICOLON", "APOSTROPHE", "SLASH", "AT", "NUM", "HEADSETHOOK", "FOCUS",
	"PLUS", "MENU", "NOTIFICATION", "SEARCH", "MEDIA_PLAY_PAUSE", "MEDIA_STOP",
	"MEDIA_NEXT", "MEDIA_PREVIOUS", "MEDIA_REWIND", "MEDIA_FAST_FORWARD",
	"MUTE", "PAGE_UP", "PAGE_DOWN", "PICTSYMBOLS", "SWITCH_CHARSET",
	"BUTTON_A", "BUTTON_B", "BUTTON_C", "BUTTON_X", "BUTTON_Y", "BUTTON_Z",
	"BUTTON_L1", "BUTTON_R1", "BUTTON_L2", "BUTTON_R2", "BUTTON_THUMBL",
	"BUTTON_THUMBR", "BUTTON_START", "BUTTON_SELECT", "BUTTON_MODE",
	"ESCAPE", "FORWARD_DEL", "CTRL_LEFT", "CTRL_RIGHT", "CAPS_LOCK",
	"SCROLL_LOCK", "META_LEFT", "META_RIGHT", "FUNCTION", "SYSRQ", "BREAK",
	"MOVE_HOME", "MOVE_END", "INSERT", "FORWARD", "MEDIA_PLAY", "MEDIA_PAUSE",
	"MEDIA_CLOSE", "MEDIA_EJECT", "MEDIA_RECORD", "F1", "F2", "F3", "F4",
	"F5", "F6", "F7", "F8", "F9", "F10", "F11", "F12", "NUM_LOCK",
	"NUMPAD_0", "NUMPAD_1", "NUMPAD_2", "NUMPAD_3", "NUMPAD_4", "NUMPAD_5",
	"NUMPAD_6", "NUMPAD_7", "NUMPAD_8", "NUMPAD_9", "NUMPAD_DIVIDE",
	"NUMPAD_MULTIPLY", "NUMPAD_SUBTRACT", "NUMPAD_ADD", "NUMPAD_DOT",
	"NUMPAD_COMMA", "NUMPAD_ENTER", "NUMPAD_EQUALS", "NUMPAD_LEFT_PAREN",
	"NUMPAD_RIGHT_PAREN", "VOLUME_MUTE", "INFO", "CHANNEL_UP", "CHANNEL_DOWN",
	"ZOOM_IN", "ZOOM_OUT",
}

// namedKeyCodes are names past the list above.
var namedKeyCodes = map[string]int{
	"APP_SWITCH": 187, "LANGUAGE_SWITCH": 204, "BRIGHTNESS_DOWN": 220,
	"BRIGHTNESS_UP": 221, "SLEEP": 223, "WAKEUP": 224, "ASSIST": 219,
	"VOICE_ASSIST": 231, "SOFT_SLEEP": 276, "CUT": 277, "COPY": 278,
	"PASTE": 279, "ALL_APPS": 284, "REFRESH": 285,
}

// Key codes the service itself sends.
const (
	KeyCodePaste  = 279
	KeyCodeWakeup = 224
	KeyCodeSleep  = 223
	KeyCodePower  = 26
)

// KeyCode returns the Android key code of a key given as a number
// ("4") or a name ("KEYCODE_BACK").
func KeyCode(key string) (int, bool) {
	if n, err := strconv.Atoi(key); err == nil {
		return n, n >= 0 && n <= 1000
	}
	name, ok := strings.CutPrefix(key, "KEYCODE_")
	if !ok {
		return 0, false
	}
	if n, ok := namedKeyCodes[name]; ok {
		return n, true
	}
	for i, s := range keyCodes {
		if s == name {
			return i, true
		}
	}
	return 0, false
}
