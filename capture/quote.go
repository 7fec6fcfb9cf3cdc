package capture

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// serialPattern is what a device serial may contain: USB serials, host:port
// addresses and emulator names all fit; nothing that a shell or the adb
// server's request syntax would interpret does.
var serialPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// maxSerial bounds a serial's length.
const maxSerial = 128

// ValidSerial reports an error unless s is a plausible device serial.
func ValidSerial(s string) error {
	if len(s) == 0 || len(s) > maxSerial || !serialPattern.MatchString(s) {
		return fmt.Errorf("%w: %q (want 1 to %d of A-Z a-z 0-9 . _ : -)", ErrInvalidSerial, s, maxSerial)
	}
	return nil
}

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

// Size is a width and height in pixels.
type Size struct{ Width, Height int }

func (s Size) String() string { return strconv.Itoa(s.Width) + "x" + strconv.Itoa(s.Height) }

// ParseSize parses "WIDTHxHEIGHT" with both in 1..16384.
func ParseSize(s string) (Size, error) {
	w, h, ok := strings.Cut(s, "x")
	if !ok {
		return Size{}, fmt.Errorf("%w: size %q (want WIDTHxHEIGHT)", ErrInvalidArgument, s)
	}
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	sz := Size{wi, hi}
	if err1 != nil || err2 != nil || sz.Validate() != nil {
		return Size{}, fmt.Errorf("%w: size %q (want WIDTHxHEIGHT, each 1..16384)", ErrInvalidArgument, s)
	}
	return sz, nil
}

// Validate reports an error for a size outside 1..16384 in either axis.
func (s Size) Validate() error {
	if s.Width < 1 || s.Height < 1 || s.Width > 16384 || s.Height > 16384 {
		return fmt.Errorf("%w: size %dx%d (each 1..16384)", ErrInvalidArgument, s.Width, s.Height)
	}
	return nil
}
