package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Lease name rules: a Lease's name is a DNS subdomain (at most 253
// characters of a-z 0-9 - and ., starting and ending alphanumeric), and a
// device ID is not (it may hold ':', '_', capitals). LeaseName keeps it
// short and readable, and a hash of the whole ID keeps two IDs that
// sanitize alike apart.
const (
	devicePrefix = "msdev-"
	memberPrefix = "msmember-"
	maxReadable  = 40
)

// LeaseName returns the name of a device's Lease: "msdev-", the ID in
// lower case with every character outside a-z 0-9 turned into '-' (at
// most 40, trimmed of '-'), '-', and the first 10 hex digits of the ID's
// SHA-256. The ID itself goes in the Lease's annotation
// (AnnotationDevice).
func LeaseName(deviceID string) string { return readableName(devicePrefix, deviceID) }

// MemberLeaseName returns the name of a member's own Lease (the one that
// carries its load): "msmember-", then the identity as LeaseName writes
// a device ID (at most 40 of a-z 0-9 -, then '-' and 10 hex digits of its
// SHA-256). The identity itself is the Lease's holder.
func MemberLeaseName(identity string) string { return readableName(memberPrefix, identity) }

// MemberTag returns a member's tag: the first 8 hex digits of the
// SHA-256 of its identity. Session IDs start with their owner's tag, so
// that any member can tell (Members.ByTag) where to route a session's
// requests.
func MemberTag(identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return hex.EncodeToString(sum[:4])
}

// readableName is prefix, s in lower case with every character outside
// a-z 0-9 turned into '-' (at most 40, trimmed of '-'), '-', and the
// first 10 hex digits of s's SHA-256.
func readableName(prefix, s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() >= maxReadable {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	readable := strings.Trim(b.String(), "-")
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:5])
	if readable == "" {
		return prefix + h
	}
	return prefix + readable + "-" + h
}
