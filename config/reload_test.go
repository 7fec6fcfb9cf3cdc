package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadFile writes content to the test's CONFIG_FILE and loads it as the
// service does, with env on top.
func loadFile(t *testing.T, content string, envVars map[string]string) (Config, error) {
	t.Helper()
	file := filepath.Join(os.TempDir(), "media-service-"+strings.ReplaceAll(t.Name(), "/", "-")+".env")
	t.Cleanup(func() { os.Remove(file) })
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"CONFIG_FILE": file}
	for k, v := range envVars {
		vars[k] = v
	}
	return FromEnvironment(env(vars))
}

func TestFromEnvironmentReadsConfigFile(t *testing.T) {
	c, err := loadFile(t, "PORT=31001\nLOG_LEVEL=debug\n", map[string]string{"LOG_LEVEL": "warn"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 31001 || c.LogLevel != "warn" || !strings.HasSuffix(c.ConfigFile, ".env") {
		t.Fatalf("port %d, level %q (the environment wins), file %q", c.Port, c.LogLevel, c.ConfigFile)
	}
	// A CONFIG_FILE that does not exist is an error naming it; the
	// default .env may be missing.
	_, err = FromEnvironment(env(map[string]string{"CONFIG_FILE": filepath.Join(t.TempDir(), "missing.env")}))
	if err == nil || !strings.Contains(err.Error(), "CONFIG_FILE") {
		t.Fatalf("missing CONFIG_FILE: %v", err)
	}
	t.Chdir(t.TempDir())
	if c, err := FromEnvironment(env(nil)); err != nil || c.ConfigFile != ".env" {
		t.Fatalf("no .env: %q, %v", c.ConfigFile, err)
	}
	// The file cannot name another file.
	if _, err := loadFile(t, "CONFIG_FILE=/etc/other.env\n", nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "environment only") {
		t.Fatalf("CONFIG_FILE in the file: %v", err)
	}
	if _, err := FromEnvironment(env(map[string]string{"CONFIG_FILE": " "})); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty CONFIG_FILE: %v", err)
	}
}

func TestReloadAppliesLiveSettingsOnly(t *testing.T) {
	const a, b = "alice=aaaaaaaaaaaaaaaaaaaa", "bob=bbbbbbbbbbbbbbbbbbbb;view"
	cur, err := loadFile(t, "API_TOKENS="+a+","+b+"\nLOG_LEVEL=info\nPORT=31002\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := loadFile(t, "API_TOKENS="+a+",carol=cccccccccccccccccccc\nLOG_LEVEL=debug\nPORT=31003\nH264_PRESET=ultrafast\nCAPTURE_MODE=raw-frames\n",
		map[string]string{"RATE_LIMIT": "50"})
	if err != nil {
		t.Fatal(err)
	}
	got, changes, err := cur.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	// Live: applied, with their source.
	if got.LogLevel != "debug" || got.H264Preset != "ultrafast" || got.RateLimit != 50 || len(got.Tokens) != 2 || got.Tokens[1].Name != "carol" {
		t.Fatalf("live settings not applied: %+v", got)
	}
	if s := got.src["RATE_LIMIT"]; s != "environment" {
		t.Fatalf("RATE_LIMIT source %q", s)
	}
	// Restart-only: kept.
	if got.Port != 31002 || got.ICEUDPMuxPort != 31002 || got.CaptureMode != "screenrecord" || got.IsSet("CAPTURE_MODE") {
		t.Fatalf("restart-only settings changed: port %d mux %d mode %q", got.Port, got.ICEUDPMuxPort, got.CaptureMode)
	}
	want := map[string]bool{"LOG_LEVEL": true, "PORT": false, "ICE_UDP_MUX_PORT": false, "H264_PRESET": true,
		"CAPTURE_MODE": false, "API_TOKENS": true, "RATE_LIMIT": true}
	if len(changes) != len(want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	for _, ch := range changes {
		live, ok := want[ch.Name]
		if !ok || live != ch.Live {
			t.Errorf("change %v: want live=%v (listed: %v)", ch, live, ok)
		}
		if strings.Contains(ch.String(), "aaaa") || strings.Contains(ch.String(), "cccc") {
			t.Errorf("change %q shows a secret", ch)
		}
		if ch.Name == "PORT" && ch.String() != "PORT: 31002 -> 31003 (restart needed)" {
			t.Errorf("PORT change reads %q", ch)
		}
	}
	// The snapshot says which is which.
	for _, s := range got.Settings() {
		if s.Live != Live(s.Name) {
			t.Errorf("%s: Live %v", s.Name, s.Live)
		}
	}
	if !Live("API_TOKENS") || Live("PORT") || Live("CAPTURE_MODE") || Live("CONFIG_FILE") {
		t.Fatal("liveness of API_TOKENS, PORT, CAPTURE_MODE, CONFIG_FILE")
	}
	// cur is a value: untouched.
	if cur.LogLevel != "info" || len(cur.Tokens) != 2 || cur.Tokens[1].Name != "bob" {
		t.Fatalf("Reload changed its receiver: %+v", cur)
	}
}

func TestReloadSeesChangedSecretAndRejectsInvalidResult(t *testing.T) {
	cur, err := loadFile(t, "API_TOKENS=alice=aaaaaaaaaaaaaaaaaaaa\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := loadFile(t, "API_TOKENS=alice=zzzzzzzzzzzzzzzzzzzz\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, changes, err := cur.Reload(next)
	if err != nil || len(changes) != 1 || !strings.Contains(changes[0].New, "secret changed") || got.Tokens[0].Same(cur.Tokens[0]) {
		t.Fatalf("changed secret: %v, %v", changes, err)
	}
	if strings.Contains(changes[0].String(), "zzzz") {
		t.Fatalf("the change shows the secret: %s", changes[0])
	}
	// A live MIN_BITRATE above a VIDEO_BITRATE is caught by Load; one that
	// only the merge makes invalid is caught by Reload. Here the merge of
	// live bit rates is valid whatever the restart-only values are, so
	// check the guard with a crafted next.
	bad := next
	bad.MinBitRate = bad.MaxBitRate + 1
	if _, _, err := cur.Reload(bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid merge: %v", err)
	}
}
