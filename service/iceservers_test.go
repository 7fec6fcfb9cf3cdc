package service

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/rtc"
)

// TestICEServersForViewers: the API's ICE servers are the configuration's,
// TURN with credentials derived for the viewer at every call.
func TestICEServersForViewers(t *testing.T) {
	cfg := config.Default()
	cfg.STUNURLs = []string{"stun:stun.example.net:3478"}
	cfg.TURNURLs = []string{"turn:turn.example.net:3478?transport=udp"}
	cfg.TURNSecret, cfg.TURNCredentialTTL = "coturn-secret", time.Hour
	before := time.Now()
	s := iceServers(cfg)("backend")
	if len(s) != 2 || s[0].URLs[0] != "stun:stun.example.net:3478" || s[0].Username != "" || s[0].Credential != "" ||
		s[1].URLs[0] != "turn:turn.example.net:3478?transport=udp" {
		t.Fatalf("%+v", s)
	}
	exp, user, _ := strings.Cut(s[1].Username, ":")
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || user != "backend" || n < before.Add(time.Hour).Unix() || n > time.Now().Add(time.Hour).Unix() {
		t.Fatalf("username %q: want an hour from now, then :backend", s[1].Username)
	}
	if _, cred := rtc.TURNCredential("coturn-secret", "backend", time.Unix(n, 0)); s[1].Credential != cred {
		t.Errorf("credential %q, want %q", s[1].Credential, cred)
	}
	// Static credentials; nothing configured.
	cfg.TURNSecret, cfg.TURNUsername, cfg.TURNPassword = "", "u", "p"
	if s := iceServers(cfg)("backend"); s[1].Username != "u" || s[1].Credential != "p" {
		t.Errorf("static: %+v", s)
	}
	if s := iceServers(config.Default())("backend"); len(s) != 0 {
		t.Errorf("none configured: %+v", s)
	}
}
