//go:build cgo && linux

package native

import "syscall"

// threadID identifies the calling OS thread, to tell which thread an FFmpeg
// log line comes from.
func threadID() int { return syscall.Gettid() }
