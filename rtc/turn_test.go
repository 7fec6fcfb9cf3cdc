package rtc

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestTURNCredential checks the derivation against vectors computed apart,
// with OpenSSL (printf '%s' USERNAME | openssl dgst -sha1 -hmac SECRET
// -binary | base64), and against HMAC-SHA1 computed here from the
// definition coturn documents: password = base64(hmac-sha1(secret,
// "timestamp:user")).
func TestTURNCredential(t *testing.T) {
	for _, tc := range []struct {
		secret, user string
		expires      int64
		username     string
		credential   string
	}{
		{"north-secret", "alice", 1700000000, "1700000000:alice", "g+jb180fcj+xlpA/2mP60OdIgU0="},
		{"north-secret", "", 1700000000, "1700000000", "KSVUc7JbPzLiz2XwcNjXxFmbP04="},
		{"coturn-static-auth-secret", "token1", 1735689600, "1735689600:token1", "gzx9l0Dvuaou0502pgtV9+9EpT0="},
	} {
		u, c := TURNCredential(tc.secret, tc.user, time.Unix(tc.expires, 0))
		if u != tc.username || c != tc.credential {
			t.Errorf("TURNCredential(%q, %q, %d) = %q, %q; want %q, %q", tc.secret, tc.user, tc.expires, u, c, tc.username, tc.credential)
		}
		mac := hmac.New(sha1.New, []byte(tc.secret))
		mac.Write([]byte(u))
		if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); c != want {
			t.Errorf("credential %q, HMAC-SHA1 computed here %q", c, want)
		}
	}
}

func TestTURNUser(t *testing.T) {
	for in, want := range map[string]string{
		"token1":                "token1",
		"ops.team@x-y_z":        "ops.team@x-y_z",
		"a:b c\n\"é":            "a_b_c___",
		strings.Repeat("x", 80): strings.Repeat("x", 64),
	} {
		if got := turnUser(in); got != want {
			t.Errorf("turnUser(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestICEServers: STUN without credentials; TURN with the static pair, or
// with credentials derived for the user, expiring TURNCredentialTTL after
// now (12 h when unset), fresh at every call.
func TestICEServers(t *testing.T) {
	now := time.Unix(1700000000, 0)
	static := Config{STUNURLs: []string{"stun:stun.example.com:3478"}, TURNURLs: []string{"turn:turn.example.com:3478?transport=udp"},
		TURNUsername: "u", TURNPassword: "p"}
	s := static.ICEServers("alice", now)
	if len(s) != 2 || s[0].Username != "" || s[0].Credential != nil || s[0].URLs[0] != "stun:stun.example.com:3478" ||
		s[1].Username != "u" || s[1].Credential != "p" || s[1].CredentialType != webrtc.ICECredentialTypePassword {
		t.Fatalf("static: %+v", s)
	}

	derived := Config{TURNURLs: []string{"turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349?transport=tcp"},
		TURNSecret: "north-secret", TURNCredentialTTL: time.Hour}
	if err := derived.WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	s = derived.ICEServers("alice", now)
	if len(s) != 1 || len(s[0].URLs) != 2 {
		t.Fatalf("derived: %+v", s)
	}
	wantUser, wantCred := TURNCredential("north-secret", "alice", now.Add(time.Hour))
	if s[0].Username != wantUser || s[0].Credential != wantCred || wantUser != strconv.FormatInt(now.Unix()+3600, 10)+":alice" {
		t.Fatalf("derived: %q %q, want %q %q", s[0].Username, s[0].Credential, wantUser, wantCred)
	}
	// A session ID with characters a TURN username should not carry.
	if s := derived.ICEServers("a b:c", now); !strings.HasSuffix(s[0].Username, ":a_b_c") {
		t.Errorf("user not cleaned: %q", s[0].Username)
	}
	// Fresh: a later call expires later.
	if later := derived.ICEServers("alice", now.Add(time.Minute)); later[0].Username == s[0].Username || later[0].Credential == s[0].Credential {
		t.Errorf("a later call gave the same credentials")
	}
	derived.TURNCredentialTTL = 0
	if s := derived.ICEServers("", now); s[0].Username != strconv.FormatInt(now.Add(DefaultTURNCredentialTTL).Unix(), 10) {
		t.Errorf("default lifetime: %q", s[0].Username)
	}
	if s := (Config{}).ICEServers("alice", now); s != nil {
		t.Errorf("nothing configured: %+v", s)
	}
}

// TestTURNConfigRules: a secret excludes the static pair; TURN servers
// need one or the other.
func TestTURNConfigRules(t *testing.T) {
	turn := []string{"turn:turn.example.com:3478"}
	for name, tc := range map[string]struct {
		c   Config
		bad string
	}{
		"secret":              {c: Config{TURNURLs: turn, TURNSecret: "s"}},
		"static":              {c: Config{TURNURLs: turn, TURNUsername: "u", TURNPassword: "p"}},
		"secret and username": {c: Config{TURNURLs: turn, TURNSecret: "s", TURNUsername: "u"}, bad: "secret"},
		"secret and password": {c: Config{TURNURLs: turn, TURNSecret: "s", TURNPassword: "p"}, bad: "secret"},
		"no credentials":      {c: Config{TURNURLs: turn}, bad: "need a secret"},
		"negative lifetime":   {c: Config{TURNURLs: turn, TURNSecret: "s", TURNCredentialTTL: -time.Second}, bad: "negative"},
	} {
		err := tc.c.WithDefaults().Validate()
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%s: %v, want an error about %q", name, err, tc.bad)
		}
	}
}
