// Package capture turns a device's screen into media: the screenrecord
// source (the device's own H.264, framed into access units by
// capture/annexb, with seamless restarts), and the screencap and
// raw-frames sources (pictures written into pooled frames for an encoder
// here). It reaches devices through package adb.
package capture
