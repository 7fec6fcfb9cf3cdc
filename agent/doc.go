// Package agent is the on-device input agent: its wire format, the dex
// that implements it on Android (assembled from smali/ in this directory
// and embedded here), and the service's client.
//
// The agent is a small Java program started from the device's shell with
// app_process:
//
//	CLASSPATH=/data/local/tmp/media-agent.dex app_process / com.cloudphone.agent.Main SOCKET SECRET
//
// It listens on the abstract local socket SOCKET (a name chosen at random
// at each start), prints one line "media-agent VERSION listening on
// @SOCKET" on its standard output, and serves one connection at a time.
// Any app on the phone can reach an abstract socket, so the first frame
// of a connection must be a [Hello] carrying SECRET, within 10 s; on any
// other first frame the agent closes the connection, and the connection
// it serves is not disturbed. A connection with a good Hello replaces the
// one served before (whose gesture, if a finger is down, is cancelled).
// The service reaches the socket through the adb server's localabstract:
// service. The agent exits when its standard input ends: the service
// never writes to it, and adbd closes it when the shell that started the
// agent ends, so the agent does not outlive the service's hold on the
// device.
//
// # Frames
//
// Both directions carry frames:
//
//	u32 length (big endian) | u8 type | payload (length-1 bytes)
//
// length counts the type byte and the payload: 1..[MaxFrame]. Integers are
// big endian (Java's DataInputStream), strings are UTF-8 taking the rest of
// the payload, floats are IEEE 754 single precision. A frame of an unknown
// type is skipped, so a newer service can talk to an older agent. The
// payloads are:
//
//	service → agent
//	0x01 Hello          secret (bytes, 1..64)
//	0x02 Ping           u32 seq
//	0x10 Touch          u8 action, u8 pointer, i32 x, i32 y, u16 pressure
//	0x11 Scroll         i32 x, i32 y, f32 h, f32 v
//	0x12 Key            u8 action, i32 code, i32 repeat, i32 meta
//	0x13 Text           text
//	0x14 SetClipboard   u8 paste, text
//	0x15 GetClipboard   (empty)
//	0x16 Rotate         i8 rotation (0..3, or -1: back to the sensor)
//	0x17 Screen         u8 on (0 off, 1 on)
//
//	agent → service
//	0x81 Ready          i32 sdk, version (after a good Hello)
//	0x82 Pong           u32 seq, i64 device uptime ms, version
//	0x83 Clipboard      u8 changed (1: the device's clipboard changed; 0: the answer to GetClipboard), text
//	0x84 Error          u8 the request's type, message
//
// Touch coordinates are device pixels in the display's current
// orientation; pressure is 0..65535 for 0..1. The agent keeps the state of
// up to [MaxPointers] pointers: a down while other pointers are down is
// ACTION_POINTER_DOWN, so two fingers make one gesture. Actions are
// [ActionDown], [ActionUp], [ActionMove] and [ActionCancel] (touch) and
// [ActionDown], [ActionUp] (keys). Scroll amounts are AXIS_HSCROLL and
// AXIS_VSCROLL (-1..1 a wheel notch, at most ±16). Text goes through the
// virtual keyboard's key character map; what it cannot type is set on
// the clipboard and pasted. The agent stamps every event with its own
// uptime clock and injects it in ASYNC mode, except the up of a paste key,
// which waits until the app has pasted (WAIT_FOR_FINISH), so that the
// next clipboard set cannot be pasted in its place.
package agent
