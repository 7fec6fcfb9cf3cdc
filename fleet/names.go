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
	maxReadable  = 40
)

// LeaseName returns the name of a device's Lease: "msdev-", the ID in
// lower case with every character outside a-z 0-9 turned into '-' (at
// most 40, trimmed of '-'), '-', and the first 10 hex digits of the ID's
// SHA-256. The ID itself goes in the Lease's annotation
// (AnnotationDevice).
func LeaseName(deviceID string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(deviceID) {
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
	sum := sha256.Sum256([]byte(deviceID))
	h := hex.EncodeToString(sum[:5])
	if readable == "" {
		return devicePrefix + h
	}
	return devicePrefix + readable + "-" + h
}
