package rtc

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// DefaultTURNCredentialTTL is how long derived TURN credentials stay
// valid when Config.TURNCredentialTTL is zero.
const DefaultTURNCredentialTTL = 12 * time.Hour

// TURNCredential derives short-lived TURN credentials from a shared
// secret, as coturn checks them with use-auth-secret and
// static-auth-secret (the "TURN REST API" of draft-uberti-behave-turn-rest):
// the username is the expiry in Unix seconds, a colon and user; the
// credential is the base64 of HMAC-SHA1 of the username keyed with the
// secret. The TURN server refuses the pair (401) once expires has passed,
// and whenever its secret is not this one. user may be empty: the
// username is then the timestamp alone.
func TURNCredential(secret, user string, expires time.Time) (username, credential string) {
	username = strconv.FormatInt(expires.Unix(), 10)
	if user != "" {
		username += ":" + user
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// turnUser makes user safe as the user part of a derived TURN username:
// letters, digits and . _ @ - are kept, anything else becomes '_', and it
// is cut to 64 bytes. The TURN server logs it; only the timestamp before
// the first colon means anything to it.
func turnUser(user string) string {
	if len(user) > 64 {
		user = user[:64]
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '@', r == '-':
			return r
		}
		return '_'
	}, user)
}

// ICEServers returns the ICE servers a peer uses, the service's own side
// or a viewer: STUNURLs without credentials, then TURNURLs with
// credentials. With TURNSecret those are derived for user (TURNCredential)
// and valid for TURNCredentialTTL from now, so every call hands out a
// fresh pair; otherwise they are the static TURNUsername and
// TURNPassword. Nil when no server is configured.
func (c Config) ICEServers(user string, now time.Time) []webrtc.ICEServer {
	var s []webrtc.ICEServer
	if len(c.STUNURLs) > 0 {
		s = append(s, webrtc.ICEServer{URLs: c.STUNURLs})
	}
	if len(c.TURNURLs) > 0 {
		username, credential := c.TURNUsername, c.TURNPassword
		if c.TURNSecret != "" {
			ttl := c.TURNCredentialTTL
			if ttl <= 0 {
				ttl = DefaultTURNCredentialTTL
			}
			username, credential = TURNCredential(c.TURNSecret, turnUser(user), now.Add(ttl))
		}
		s = append(s, webrtc.ICEServer{
			URLs:           c.TURNURLs,
			Username:       username,
			Credential:     credential,
			CredentialType: webrtc.ICECredentialTypePassword,
		})
	}
	return s
}
