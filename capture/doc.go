// Package capture turns a device's screen into media: the screenrecord
// source (the device's own H.264, framed into access units by
// capture/annexb, with seamless restarts), and the screencap and
// raw-frames sources (pictures written into pooled frames for an encoder
// here). It reaches devices through package adb.
//
// The sources follow the device's picture size: a screenshot has the
// size it has, and a screenrecord-based source (which keeps the size it
// started with, as Android's does) checks the size every
// SizeCheckInterval and restarts screenrecord at a new one. Each tells
// its OnSize callback of the first size and of every change, before the
// first unit of that size. FrameRate caps the rate of the picture sources:
// screencap spaces its captures; raw-frames paces the frames the device
// sends (pacer.go: the newest frame wins, nothing queues).
package capture
