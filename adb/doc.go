// Package adb is the service's client of the adb server: device listing
// and watching, keeping network devices connected, streaming exec and
// shell connections, the display's size and rotation, and input
// injection over one persistent shell per device. Every serial is checked
// by the project's device-ID rule (media.CheckDeviceID) and every word of
// a device command is quoted for the device's shell (ShellCommand) before
// anything reaches the adb server. The capture sources (package capture)
// are built on it.
package adb
