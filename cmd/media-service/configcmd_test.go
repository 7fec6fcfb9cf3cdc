package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// inDir runs the test in a fresh directory, where the command reads .env.
func inDir(t *testing.T, dotenv string) {
	t.Helper()
	dir := t.TempDir()
	if dotenv != "" {
		if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
}

func TestConfigCommand(t *testing.T) {
	// The .env form "export NAME=value" that the Makefile's grep once
	// missed: the service's own parser reads it, and so does make run now.
	inDir(t, "export API_TOKENS=ops=0123456789abcdef0123\nH264_PRESET=fast\n")
	var out, errw bytes.Buffer
	if code := run(context.Background(), []string{"config", "tokens"}, &out, &errw, env(nil)); code != 0 || out.String() != "ops\n" {
		t.Fatalf("config tokens: %d %q %q", code, out.String(), errw.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"config"}, &out, &errw, env(map[string]string{"PORT": "31000"})); code != 0 {
		t.Fatalf("config: %d %s", code, errw.String())
	}
	text := out.String()
	for _, want := range []string{"PORT", "31000", "environment", "H264_PRESET", "fast", ".env", "API_TOKENS", "ops", "VIDEO_BITRATE", "2000000", "default", "RELOAD", "live", "restart"} {
		if !strings.Contains(text, want) {
			t.Errorf("config output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "0123456789abcdef") {
		t.Fatalf("config shows a token's secret:\n%s", text)
	}
	out.Reset()
	if code := run(context.Background(), []string{"config", "get", "H264_PRESET"}, &out, &errw, env(nil)); code != 0 || out.String() != "fast\n" {
		t.Fatalf("config get: %d %q", code, out.String())
	}
}

func TestConfigCommandNoTokensAndErrors(t *testing.T) {
	inDir(t, "")
	var out, errw bytes.Buffer
	if code := run(context.Background(), []string{"config", "tokens"}, &out, &errw, env(nil)); code != 0 || out.Len() != 0 {
		t.Fatalf("no tokens: %d %q", code, out.String())
	}
	if code := run(context.Background(), []string{"config"}, &out, &errw, env(map[string]string{"VIDEO_RUNGS": "0.5"})); code != 1 || !strings.Contains(errw.String(), "VIDEO_RUNGS") {
		t.Fatalf("invalid config: %d %q", code, errw.String())
	}
	errw.Reset()
	if code := run(context.Background(), []string{"config", "bogus"}, &out, &errw, env(nil)); code != 2 {
		t.Fatalf("bad argument: %d", code)
	}
}
