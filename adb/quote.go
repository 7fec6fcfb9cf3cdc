package adb

import (
	"fmt"
	"strings"

	"github.com/cloudphone/media-service/media"
)

// ValidSerial reports an error unless s is a plausible device serial: the
// project's one device-ID rule, media.CheckDeviceID.
func ValidSerial(s string) error { return media.CheckDeviceID(s) }

// ShellQuote quotes s for the device's POSIX shell: it comes out as one word
// with no expansion, whatever it contains.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.,/:=@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShellCommand joins a command and its arguments into a device shell
// command line, quoting every word. NUL bytes, which no shell word can
// carry, are an error.
func ShellCommand(name string, args ...string) (string, error) {
	var b strings.Builder
	for i, w := range append([]string{name}, args...) {
		if strings.IndexByte(w, 0) >= 0 {
			return "", fmt.Errorf("%w: NUL byte in shell word %d", ErrInvalidArgument, i)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ShellQuote(w))
	}
	return b.String(), nil
}

// Size is a picture's width and height in pixels.
type Size = media.Size

// ParseSize parses "WIDTHxHEIGHT" with both in 1..16384.
func ParseSize(s string) (Size, error) { return media.ParseSize(s) }
