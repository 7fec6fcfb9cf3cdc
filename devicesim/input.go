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
// KEY... | text STRING | motionevent ACTION X Y. Each accepted command is
// recorded with the time it injects its event and the display's geometry
// then, and leaves a mark on the screen.
// Coordinates are in the picture's current orientation; like Android's,
// the command takes points off the screen too (InputEvent.OnScreen tells).
//
// The command takes its time first (Options.NoCosts): see costs.go. On
// API 30 and later it also has motionevent DOWN|UP|MOVE|CANCEL X Y, a
// touch of pointer 0 (CANCEL and optional coordinates from API 31).
func cmdInput(sh *shell, args []string) int {
	d := sh.d
	if !pause(d.ctx, d.inputCost()) {
		return 1 // the device is closing
	}
	now := time.Now()
	source := ""
	if len(args) > 0 && inputSources[args[0]] {
		source, args = args[0], args[1:]
	}
	if len(args) == 0 {
		inputUsage(sh.out, d.opts.SDK)
		return 1
	}
	verb, rest := args[0], args[1:]
	invalid := func() int {
		fmt.Fprintln(sh.out, inputInvalidArgs+verb)
		inputUsage(sh.out, d.opts.SDK)
		return 1
	}
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
		if !pause(d.ctx, d.swipeCost(dur)) {
			return 1
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
		if !virtualKeyboardTypes(text) {
			return textFailure(sh.out, d.opts.SDK)
		}
		d.recordEvent(InputEvent{Time: now, Kind: InputText, Source: source, Text: text, Display: disp})
		d.screen.text(text)
	case "motionevent":
		if d.opts.SDK < firstMotionCmd {
			return unknown(sh, verb)
		}
		return motionEvent(sh, source, rest, now, disp, invalid)
	default:
		return unknown(sh, verb)
	}
	return 0
}

func unknown(sh *shell, verb string) int {
	fmt.Fprintln(sh.out, inputUnknownCmd+verb)
	inputUsage(sh.out, sh.d.opts.SDK)
	return 1
}

// motionevent DOWN|UP|MOVE|CANCEL X Y: one touch of pointer 0. Android 11
// (API 30, com.android.commands.input.Input's InputMotionEvent) takes
// DOWN, UP and MOVE with both coordinates; later releases
// (InputShellCommand.runMotionEvent) take CANCEL too, whose coordinates
// are optional.
func motionEvent(sh *shell, source string, rest []string, now time.Time, disp Display, invalid func() int) int {
	d := sh.d
	if len(rest) == 0 {
		return invalid()
	}
	var action string
	switch strings.ToUpper(rest[0]) {
	case "DOWN":
		action = ActionDown
	case "UP":
		action = ActionUp
	case "MOVE":
		action = ActionMove
	case "CANCEL":
		if d.opts.SDK < firstCmdInput {
			return invalid()
		}
		action = ActionCancel
	default:
		return invalid()
	}
	x, y := 0, 0
	switch {
	case len(rest) == 3:
		var ok1, ok2 bool
		x, ok1 = parseCoord(rest[1])
		y, ok2 = parseCoord(rest[2])
		if !ok1 || !ok2 {
			return invalid()
		}
	case len(rest) == 1 && action == ActionCancel:
	default:
		return invalid()
	}
	d.touchMu.Lock()
	st := &d.shellTouch
	pressure := 1.0
	switch action {
	case ActionDown:
		st.reset()
		st.gesture = d.gestures.Add(1)
		st.press(0, x, y)
	case ActionMove:
		if st.down[0] {
			st.moveTo(0, x, y)
		}
	case ActionUp, ActionCancel:
		pressure = 0
		if action == ActionCancel && len(rest) == 1 {
			x, y = st.pos[0][0], st.pos[0][1]
		}
		if st.down[0] {
			st.moveTo(0, x, y)
		}
	}
	prev, had := st.prev[0], st.hadPrev[0]
	e := InputEvent{Time: now, Kind: InputTouch, Source: source, Action: action, X: x, Y: y,
		Pressure: pressure, Gesture: st.gesture, Display: disp}
	if action == ActionUp || action == ActionCancel {
		st.reset()
	}
	e.Pointers = st.n
	d.touchMu.Unlock()
	d.recordEvent(e)
	if action != ActionCancel {
		d.screen.touch(0, x, y, prev, had)
	}
	return 0
}

// virtualKeyboardTypes reports whether Android's virtual keyboard key
// character map (Virtual.kcm, KeyCharacterMap.VIRTUAL_KEYBOARD) can type
// every character of s: printable ASCII, tab and newline. For anything
// else (é, 你, emoji) KeyCharacterMap.getEvents returns null.
func virtualKeyboardTypes(s string) bool {
	for _, r := range s {
		if (r < 0x20 || r > 0x7e) && r != '\t' && r != '\n' {
			return false
		}
	}
	return true
}

// textFailure prints what "input text" prints for a character the
// virtual keyboard cannot type, and returns its exit status. sendText
// dereferences the null that KeyCharacterMap.getEvents returns, and the
// NullPointerException escapes. Outputs as reported from devices:
//
//   - API 31 and later (cmd input; BasicShellCommandHandler.exec prints
//     an empty line, "Exception occurred while executing '<cmd>':" and the
//     stack trace, and returns -1, exit status 255):
//     github.com/TencentQQGYLab/AppAgent/issues/34 (2024),
//     github.com/mobile-next/mobile-mcp/issues/78 (2025);
//   - API 30 and before (app_process com.android.commands.input.Input;
//     the exception escapes main): github.com/matthijskooijman/scripts/issues/1
//     (2020), where another device printed only "Killed".
func textFailure(w io.Writer, sdk int) int {
	const npe = "java.lang.NullPointerException: Attempt to get length of null array\n"
	if sdk >= firstCmdInput {
		fmt.Fprint(w, "\nException occurred while executing 'text':\n"+npe+
			"\tat com.android.server.input.InputShellCommand.sendText(InputShellCommand.java:338)\n"+
			"\tat com.android.server.input.InputShellCommand.runText(InputShellCommand.java:310)\n"+
			"\tat com.android.server.input.InputShellCommand.onCommand(InputShellCommand.java:251)\n"+
			"\tat com.android.modules.utils.BasicShellCommandHandler.exec(BasicShellCommandHandler.java:97)\n"+
			"\tat android.os.ShellCommand.exec(ShellCommand.java:38)\n"+
			"\tat com.android.server.input.InputManagerService.onShellCommand(InputManagerService.java:3441)\n"+
			"\tat android.os.Binder.shellCommand(Binder.java:1075)\n"+
			"\tat android.os.Binder.onTransact(Binder.java:895)\n"+
			"\tat android.hardware.input.IInputManager$Stub.onTransact(IInputManager.java:1339)\n"+
			"\tat android.os.Binder.execTransactInternal(Binder.java:1351)\n"+
			"\tat android.os.Binder.execTransact(Binder.java:1282)\n")
		return 255
	}
	fmt.Fprint(w, npe+
		"\tat com.android.commands.input.Input$InputText.sendText(Input.java:168)\n"+
		"\tat com.android.commands.input.Input$InputText.run(Input.java:140)\n"+
		"\tat com.android.commands.input.Input.onRun(Input.java:107)\n"+
		"\tat com.android.internal.os.BaseCommand.run(BaseCommand.java:56)\n"+
		"\tat com.android.commands.input.Input.main(Input.java:71)\n"+
		"\tat com.android.internal.os.RuntimeInit.nativeFinishInit(Native Method)\n"+
		"\tat com.android.internal.os.RuntimeInit.main(RuntimeInit.java:338)\n")
	return 1
}

func inputUsage(w io.Writer, sdk int) {
	motion := ""
	if sdk >= firstMotionCmd {
		motion = "      motionevent <DOWN|UP|MOVE|CANCEL> <x> <y> (Default: touchscreen)\n"
	}
	fmt.Fprint(w, "Usage: input [<source>] <command> [<arg>...]\n\n"+
		"The sources are: \n      keyboard\n      mouse\n      touchscreen\n      ...\n\n"+
		"The commands and default sources are:\n"+
		"      text <string> (Default: touchscreen)\n"+
		"      keyevent [--longpress] <key code number or name> ... (Default: keyboard)\n"+
		"      tap <x> <y> (Default: touchscreen)\n"+
		"      swipe <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)\n"+
		motion)
}
