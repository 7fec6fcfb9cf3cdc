package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	jwtSecretA = "jwt-secret-a-0123456789abcdef0123456789"
	jwtSecretB = "jwt-secret-b-0123456789abcdef0123456789"
)

// TestJWTSettings: the signed access token variables, their defaults,
// their checks (each naming its variable), their redaction, and their
// live reload.
func TestJWTSettings(t *testing.T) {
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTEnabled() || c.JWTJWKSRefresh != 5*time.Minute || c.JWTLeeway != 30*time.Second {
		t.Fatalf("defaults: enabled %v, refresh %v, leeway %v", c.JWTEnabled(), c.JWTJWKSRefresh, c.JWTLeeway)
	}
	keys := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(keys, []byte("-----BEGIN PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load("", env(map[string]string{
		"JWT_HS256_SECRETS": jwtSecretA + " , " + jwtSecretB, "JWT_KEYS_FILE": keys, "JWT_JWKS_URL": "https://idp.example/.well-known/jwks.json",
		"JWT_JWKS_REFRESH": "1m", "JWT_AUDIENCE": "media", "JWT_ISSUER": "https://idp.example", "JWT_LEEWAY": "10s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.JWTEnabled() || len(c.JWTHS256Secrets) != 2 || c.JWTHS256Secrets[1] != jwtSecretB || c.JWTKeysFile != keys ||
		c.JWTJWKSRefresh != time.Minute || c.JWTAudience != "media" || c.JWTIssuer != "https://idp.example" || c.JWTLeeway != 10*time.Second {
		t.Fatalf("parsed %+v", c)
	}
	for _, s := range c.Settings() {
		if strings.Contains(s.Value, "jwt-secret") {
			t.Errorf("%s shows a secret: %q", s.Name, s.Value)
		}
		if s.Name == "JWT_HS256_SECRETS" && (s.Value != "(2 set)" || !s.Secret || !s.Live) {
			t.Errorf("JWT_HS256_SECRETS shown as %+v", s)
		}
		if strings.HasPrefix(s.Name, "JWT_") && !s.Live {
			t.Errorf("%s is not live", s.Name)
		}
	}

	for _, bad := range []struct{ name, value, want string }{
		{"JWT_HS256_SECRETS", jwtSecretA + ",too-short-a-secret", "JWT_HS256_SECRETS: secret 2 has 18 bytes (want at least 32"},
		{"JWT_KEYS_FILE", filepath.Join(t.TempDir(), "missing.pem"), "JWT_KEYS_FILE="},
		{"JWT_KEYS_FILE", t.TempDir(), "is a directory"},
		{"JWT_JWKS_URL", "ftp://idp.example/jwks", "JWT_JWKS_URL="},
		{"JWT_JWKS_URL", "https://", "JWT_JWKS_URL="},
		{"JWT_JWKS_REFRESH", "1s", "JWT_JWKS_REFRESH=1s (want 10s..24h)"},
		{"JWT_JWKS_REFRESH", "often", "JWT_JWKS_REFRESH="},
		{"JWT_LEEWAY", "10m", "JWT_LEEWAY=10m0s (want 0s..5m)"},
		{"JWT_LEEWAY", "-1s", "JWT_LEEWAY="},
	} {
		_, err := Load("", env(map[string]string{bad.name: bad.value}))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s=%q: %v, want an error with %q", bad.name, bad.value, err, bad.want)
		}
		if err != nil && strings.Contains(err.Error(), "too-short-a-secret") {
			t.Errorf("the error shows the secret: %v", err)
		}
	}

	// Reload: the secrets change live, shown as changed, never in clear.
	cur, err := loadFile(t, "JWT_HS256_SECRETS="+jwtSecretA+"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := loadFile(t, "JWT_HS256_SECRETS="+jwtSecretB+"\nJWT_AUDIENCE=media\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, changes, err := cur.Reload(next)
	if err != nil || len(got.JWTHS256Secrets) != 1 || got.JWTHS256Secrets[0] != jwtSecretB || got.JWTAudience != "media" {
		t.Fatalf("reload: %+v, %v", got.JWTHS256Secrets, err)
	}
	var names []string
	for _, ch := range changes {
		names = append(names, ch.String())
		if !ch.Live || strings.Contains(ch.String(), "jwt-secret") {
			t.Errorf("change %s", ch)
		}
	}
	if s := strings.Join(names, "; "); !strings.Contains(s, "JWT_HS256_SECRETS: (1 set) -> (1 set) (secret changed)") || !strings.Contains(s, "JWT_AUDIENCE") {
		t.Fatalf("changes: %s", s)
	}
}
