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
//   - getprop [KEY], input tap|swipe|keyevent|text, echo, true, false,
//     exit; anything else is "inaccessible or not found";
//   - devicesim streams: the simulator's own debug command, which no real
//     device has (see below).
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
// input commands leave (a dot for a tap, a line for a swipe, the key code
// for a key, coloured blocks for text). With Options.Static it changes only
// on input.
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
//     (no exit status, stderr merged into stdout) or sync (push and pull
//     are refused).
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
//	adb -s 127.0.0.1:5600 shell settings put system user_rotation 1
//	adb -s 127.0.0.1:5600 shell wm size 1080x1920
//	adb -s 127.0.0.1:5600 exec-out screencap -p > screen.png
//	adb -s 127.0.0.1:5600 shell devicesim streams
package devicesim
