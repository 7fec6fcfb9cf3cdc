// Package devicesim is a simulated Android device that a real adb server
// accepts over TCP (adb connect HOST:PORT). It speaks the device side of the
// ADB transport protocol — CNXN, optional RSA AUTH, and OPEN/OKAY/WRTE/CLSE
// streams with per-stream flow control — and serves the shell commands a
// screen-streaming service uses:
//
//   - screenrecord --output-format=h264|raw-frames [--size WxH]
//     [--bit-rate N|NM] [--time-limit S] -: H.264 from libx264 (through
//     package native), or RGB888 frames, emitted whenever the screen changes;
//   - screencap [-p]: PNG, or a raw RGBA dump with a 12-byte header;
//   - wm size [reset|WxH]: the physical size and any override, or set or
//     clear the override;
//   - settings get|put|delete|list NAMESPACE ...: an in-memory store, where
//     putting system user_rotation 0..3 turns the display;
//   - dumpsys input: the touch screen's viewport and SurfaceOrientation;
//   - getprop [KEY], input tap|swipe|keyevent|text|motionevent, echo, true,
//     false, exit; anything else is "inaccessible or not found";
//   - CLASSPATH=DEX app_process / com.cloudphone.agent.Main SOCKET SECRET:
//     the on-device input agent (package agent), emulated, and the
//     localabstract:SOCKET service that reaches it (see below);
//   - devicesim streams|agents|clipboard [TEXT]: the simulator's own debug
//     command, which no real device has (see below).
//
// A command line may start with VAR=value words, the environment of its
// command.
//
// # Counting screenrecord streams
//
// The device counts the screenrecord commands that are streaming the
// screen now: one counts from when it starts writing until it ends (its
// time limit, the host closing the stream, a write error, the device
// closing). Each change is logged ("screenrecord streams", key streams)
// on Options.Logger. A test in the same process reads the count with
// [Device.ScreenrecordStreams]; anyone else asks the device through adb:
//
//	adb -s SERIAL shell devicesim streams
//
// which prints the number and a newline. A fleet test uses it to prove
// that a device is captured once, by its owner only.
//
// # Size and rotation
//
// The display has a physical size (Options.Width x Height, its natural
// orientation), an override size (wm size WxH, Device.SetSize) and a
// rotation in quarter turns (settings put system user_rotation N,
// Device.SetRotation). The picture that screencap and a new screenrecord
// see, and that input coordinates are given in, is the current size with
// its sides swapped after a quarter turn; the test picture is laid out
// anew for it, as an app redraws on a configuration change. A screenrecord
// that is already running keeps its video size and shows the new picture
// scaled to fit, with black bars, as Android's does: to follow a
// rotation, a capture restarts screenrecord. Every input event records the
// geometry it arrived under (InputEvent.Display, InputEvent.OnScreen).
//
// The screen is an RGBA test picture: a moving box, a frame counter and the
// time drawn with seven-segment digits, colour bars, and the marks that
// input leaves (a dot for a tap, a line for a swipe, the key code for a
// key, coloured blocks for text, a dot per position of each finger in its
// pointer's colour ([PointerColors]; pointer 0 and taps red, a solid disc
// of radius 2.5% of the width) with a trail, a bar for a scroll, and the
// clipboard as a row of blocks above the text). With Options.Static it
// changes only on input; with the screen off (the agent's Screen) it is
// black.
//
// # Android versions and costs
//
// Options.SDK (default 34) is the API level: getprop reports it and its
// release, and the input command behaves as that release's does: from API
// 30 it has motionevent, and from API 31 it is cmd input, with the
// messages of InputShellCommand. "input text" types only what Android's
// virtual keyboard can (printable ASCII, tab, newline); anything else (é,
// 你, emoji) fails with Android's NullPointerException from sendText and a
// non-zero status, and types nothing.
//
// Input takes the time it takes on a phone unless Options.NoCosts is set
// (costs.go): each input command 25..60 ms from API 31, 0.3..1.2 s before
// (the Java VM's start), and a swipe its duration on top; app_process
// 0.15..0.4 s to start; 2..5 ms per event the agent injects. The costs are
// drawn from a random source seeded with the serial.
//
// # The input agent
//
// The service pushes agent.Dex (adb push, the sync: service) and starts
// it:
//
//	CLASSPATH=/data/local/tmp/media-agent.dex app_process / com.cloudphone.agent.Main SOCKET SECRET
//
// When that file is agent.Dex (its SHA-256 is agent.DexSHA256) the agent
// listens on the abstract socket SOCKET, prints "media-agent 1 listening
// on @SOCKET" and runs until its shell stream ends or the device closes;
// localabstract:SOCKET connects to it (and is refused when nothing
// listens there). It speaks agent's protocol as the real one does: Hello
// with SECRET first (else it closes the connection), Ready, Pong, touches
// with multi-pointer state, scrolls, keys, Unicode text, the clipboard
// both ways (a change on the device, [Device.SetClipboard] or "devicesim
// clipboard TEXT", reaches the client as Clipboard with Changed), Rotate
// and Screen; a frame of an unknown type is skipped, a malformed one
// closes the connection. Without our dex app_process aborts as Android's
// does ("Aborted"); with Options.Agent AgentRefuse the agent fails with
// Android's SecurityException for INJECT_EVENTS; see agent.go for every
// message. [Device.Agents] counts the agents listening ("devicesim
// agents" prints it), [Device.AgentClients] their connections.
//
// Every input event, from the input command or the agent, is recorded
// ([Device.Events]) and logged at info level, one line each: msg=input
// kind=touch source=agent action=down pointer=0 x=100 y=200 ...
//
// The shell never executes shell syntax beyond simple commands: command
// lines are split into words like a POSIX shell does (quotes, backslashes,
// comments, ';', '&&', '||', newlines) and nothing is ever expanded,
// substituted, globbed or redirected. Every command it ran is recorded with
// its argv ([Device.Commands]) and every input event with the time it
// arrived ([Device.Events]), so tests can check that a caller quotes hostile
// strings correctly and measure injection latency.
//
// # Differences from a real device
//
//   - The interactive shell (shell: with no command) has no terminal: it
//     prints no prompt, echoes nothing and writes "\n", not "\r\n".
//   - The banner advertises no features, so the host never uses shell_v2
//     (no exit status, stderr merged into stdout) or sync version 2 (push
//     and pull speak version 1; files are kept in memory).
//   - screenrecord writes to standard output ("-") only, in h264 or
//     raw-frames; --verbose is accepted and prints nothing.
//   - A device listening on 127.0.0.1:5555..5585 is found by an adb server
//     on its own, as emulator-5554 and so on, without adb connect.
//
// # Running by hand
//
//	go build -o bin/ ./cmd/devicesim
//	bin/devicesim --addr 127.0.0.1:5600 &
//	adb connect 127.0.0.1:5600
//	adb -s 127.0.0.1:5600 shell wm size
//	adb -s 127.0.0.1:5600 exec-out screenrecord --output-format=h264 --time-limit 5 - > out.h264
//	adb -s 127.0.0.1:5600 shell input tap 100 200
//	adb -s 127.0.0.1:5600 shell input motionevent DOWN 100 200
//	adb -s 127.0.0.1:5600 shell settings put system user_rotation 1
//	adb -s 127.0.0.1:5600 shell wm size 1080x1920
//	adb -s 127.0.0.1:5600 exec-out screencap -p > screen.png
//	adb -s 127.0.0.1:5600 shell devicesim streams
package devicesim
