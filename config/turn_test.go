package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestTURNSecret: TURN_SECRET and TURN_CREDENTIAL_TTL load, the secret is
// never shown, and the rules hold: the secret excludes the static pair,
// and TURN_URLS needs one or the other.
func TestTURNSecret(t *testing.T) {
	c, err := Load("", env(map[string]string{"TURN_URLS": "turn:turn.example.com:3478?transport=udp", "TURN_SECRET": "coturn-secret-0123"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.TURNSecret != "coturn-secret-0123" || c.TURNCredentialTTL != 12*time.Hour {
		t.Fatalf("TURN_SECRET %q, TURN_CREDENTIAL_TTL %v; want the secret and 12h", c.TURNSecret, c.TURNCredentialTTL)
	}
	for _, s := range c.Settings() {
		if strings.Contains(s.Value, "coturn-secret") {
			t.Errorf("%s shows the secret: %q", s.Name, s.Value)
		}
		if s.Name == "TURN_SECRET" && (s.Value != "(set)" || !s.Secret || s.Live) {
			t.Errorf("TURN_SECRET setting %+v, want (set), secret, restart", s)
		}
	}
	// A reload that changes it says so without showing it.
	next, err := Load("", env(map[string]string{"TURN_URLS": "turn:turn.example.com:3478?transport=udp", "TURN_SECRET": "coturn-secret-4567"}))
	if err != nil {
		t.Fatal(err)
	}
	_, changes, err := c.Reload(next)
	if err != nil || len(changes) != 1 || changes[0].Name != "TURN_SECRET" || strings.Contains(changes[0].String(), "coturn-secret") || changes[0].Live {
		t.Errorf("reload: %v %v", changes, err)
	}
	if c, err := Load("", env(map[string]string{"TURN_CREDENTIAL_TTL": "30m"})); err != nil || c.TURNCredentialTTL != 30*time.Minute {
		t.Errorf("TURN_CREDENTIAL_TTL=30m: %v %v", c.TURNCredentialTTL, err)
	}

	for name, tc := range map[string]struct {
		vars map[string]string
		want []string // in the error
	}{
		"secret and username": {map[string]string{"TURN_SECRET": "s", "TURN_USERNAME": "u"}, []string{"TURN_SECRET", "TURN_USERNAME", "use-auth-secret"}},
		"secret and password": {map[string]string{"TURN_SECRET": "s", "TURN_PASSWORD": "p"}, []string{"TURN_SECRET", "TURN_PASSWORD"}},
		"no credentials":      {map[string]string{"TURN_URLS": "turn:turn.example.com"}, []string{"TURN_URLS", "TURN_SECRET", "TURN_USERNAME"}},
		"password only":       {map[string]string{"TURN_URLS": "turn:turn.example.com", "TURN_PASSWORD": "p"}, []string{"TURN_URLS"}},
		"ttl too short":       {map[string]string{"TURN_CREDENTIAL_TTL": "30s"}, []string{"TURN_CREDENTIAL_TTL"}},
		"ttl too long":        {map[string]string{"TURN_CREDENTIAL_TTL": "200h"}, []string{"TURN_CREDENTIAL_TTL"}},
		"ttl not a duration":  {map[string]string{"TURN_CREDENTIAL_TTL": "12"}, []string{"TURN_CREDENTIAL_TTL"}},
	} {
		_, err := Load("", env(tc.vars))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not name %s", name, err, w)
			}
		}
	}
	// The static pair still works alone.
	if _, err := Load("", env(map[string]string{"TURN_URLS": "turn:turn.example.com", "TURN_USERNAME": "u", "TURN_PASSWORD": "p"})); err != nil {
		t.Errorf("static credentials: %v", err)
	}
}
