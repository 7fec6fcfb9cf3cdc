package media

import (
	"fmt"
	"regexp"
	"strconv"
	"unicode/utf8"
)

// MaxDeviceID and MaxUserID bound the length of a device ID and a user ID
// in bytes.
const (
	MaxDeviceID = 128
	MaxUserID   = 128
)

// deviceIDPattern is what a device ID may contain: USB serials, host:port
// addresses and emulator names all fit; nothing that a shell or the adb
// server's request syntax would interpret does.
var deviceIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// CheckDeviceID is the one device-ID rule (an adb serial): 1 to 128 of
// A-Z a-z 0-9 . _ : -. The error wraps ErrInvalidDeviceID.
func CheckDeviceID(id string) error {
	if len(id) == 0 || len(id) > MaxDeviceID || !deviceIDPattern.MatchString(id) {
		return fmt.Errorf("%w: %s (want 1 to %d of A-Z a-z 0-9 . _ : -)", ErrInvalidDeviceID, strconv.Quote(truncate(id, 64)), MaxDeviceID)
	}
	return nil
}

// userIDPattern is what a user ID may contain: platform user names,
// numbers, e-mail-like names; nothing that needs quoting in a log line.
var userIDPattern = regexp.MustCompile(`^[A-Za-z0-9._@:-]+$`)

// CheckUserID is the one user-ID rule: 1 to 128 of A-Z a-z 0-9 . _ @ : -.
// The error wraps ErrInvalidUserID.
func CheckUserID(id string) error {
	if len(id) == 0 || len(id) > MaxUserID || !userIDPattern.MatchString(id) {
		return fmt.Errorf("%w: %s (want 1 to %d of A-Z a-z 0-9 . _ @ : -)", ErrInvalidUserID, strconv.Quote(truncate(id, 64)), MaxUserID)
	}
	return nil
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
