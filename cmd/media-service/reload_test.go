package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/testutil"
)

// TestReloadOnSIGHUP: the service reads CONFIG_FILE again on SIGHUP and
// applies the live settings while a viewer keeps receiving frames: a
// removed token is refused and its session ends, a new token works, the
// log level changes; a restart-only change is named once and left; a
// file that does not load changes nothing and says why.
func TestReloadOnSIGHUP(t *testing.T) {
	testutil.Deadline(t, 4*time.Minute)
	const keep, gone, added = "keep-token-0123456789", "gone-token-0123456789", "new-token-0123456789"
	file := filepath.Join(t.TempDir(), "media-service.env")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("API_TOKENS=keep=" + keep + ",gone=" + gone + "\nH264_PRESET=faster\nWORKER_COUNT=1\n")
	base, sim, cmd, logs := childService(t, devicesim.Options{Width: 240, Height: 320, FPS: 15}, map[string]string{
		"CONFIG_FILE": file, "API_TOKENS": unsetVar, "LOG_LEVEL": unsetVar,
		// Encoded here, on the worker pool: the reload reaches encoders.
		"CAPTURE_MODE": "raw-frames", "VIDEO_ENCODER_TYPE": "h264", "USE_WORKER_POOL": "true",
	})
	status := func(token string) int {
		code, _, _ := callAs(t, token, "GET", base+"/api/media/devices", "", "")
		return code
	}
	open := func(token, user string) (*lightViewer, string) {
		t.Helper()
		v, offer := newLightViewer(t)
		r := createSessionAs(t, base, token, sim.Addr(), user, offer)
		if r.status != http.StatusCreated {
			t.Fatalf("%s: %d %s", user, r.status, r.body)
		}
		v.Answer(t, r.answer)
		return v, r.id
	}
	frames := func(v *lightViewer, what string, n int64) {
		t.Helper()
		from := v.Frames()
		testutil.Eventually(t, what, testutil.Generous, func() bool { return v.Frames() >= from+n })
	}
	hup := func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	kept, _ := open(keep, "alice")
	doomed, doomedID := open(gone, "bob")
	frames(kept, "frames for the kept token's viewer", 10)
	frames(doomed, "frames for the other viewer", 10)
	if status(added) != http.StatusUnauthorized {
		t.Fatal("a token not yet configured is accepted")
	}
	if strings.Contains(logs.String(), `level=DEBUG msg="api request"`) {
		t.Fatal("GET requests logged at LOG_LEVEL=info")
	}

	// A valid reload: live changes applied, SESSION_SHARDS named and
	// left; LOG_FORMAT is set in the environment, which keeps winning.
	write("API_TOKENS=keep=" + keep + ",new=" + added + "\nLOG_LEVEL=debug\nH264_PRESET=ultrafast\nWORKER_COUNT=3\nRATE_LIMIT=40\nSESSION_SHARDS=32\nLOG_FORMAT=json\n")
	from := kept.Frames()
	hup()
	testutil.Eventually(t, "the reload logged", testutil.Generous, func() bool {
		return strings.Contains(logs.String(), "configuration reloaded")
	})
	text := logs.String()
	for _, want := range []string{"LOG_LEVEL: info -> debug", "H264_PRESET: faster -> ultrafast", "WORKER_COUNT: 1 -> 3",
		"RATE_LIMIT: 20 -> 40", "API_TOKENS: keep,gone -> keep,new", "sessions_ended=1"} {
		if !strings.Contains(text, want) {
			t.Errorf("the reload's log line lacks %q", want)
		}
	}
	if n := strings.Count(text, "need a restart"); n != 1 || !strings.Contains(text, "SESSION_SHARDS: 16 -> 32 (restart needed)") {
		t.Errorf("the restart-only change is named %d times (want once, with SESSION_SHARDS)", n)
	}
	if strings.Contains(text, "LOG_FORMAT:") {
		t.Error("LOG_FORMAT changed although the environment sets it")
	}
	if strings.Contains(text, keep) || strings.Contains(text, added) {
		t.Fatal("a token's secret is in the log")
	}
	if status(gone) != http.StatusUnauthorized || status(added) != http.StatusOK || status(keep) != http.StatusOK {
		t.Fatalf("after the reload: removed %d, new %d, kept %d", status(gone), status(added), status(keep))
	}
	testutil.Eventually(t, "the removed token's session ended", testutil.Generous, func() bool {
		var st struct{ Sessions []struct{ ID string } }
		code, _, body := callAs(t, keep, "GET", base+"/api/media/stats", "", "")
		if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
			return false
		}
		return len(st.Sessions) == 1 && st.Sessions[0].ID != doomedID
	})
	testutil.Eventually(t, "no more frames for the ended session", testutil.Generous, func() bool {
		n := doomed.Frames()
		time.Sleep(500 * time.Millisecond)
		return doomed.Frames() == n
	})
	frames(kept, "frames for the kept viewer after the reload", 10)
	if kept.Frames() <= from {
		t.Fatal("no frame across the reload")
	}
	testutil.Eventually(t, "a GET logged at LOG_LEVEL=debug", testutil.Generous, func() bool {
		status(keep)
		return strings.Contains(logs.String(), `level=DEBUG msg="api request"`)
	})

	// An invalid file: nothing changes, and the log says why.
	write("API_TOKENS=keep=" + keep + "\nRATE_LIMIT=many\n")
	hup()
	testutil.Eventually(t, "the failed reload logged", testutil.Generous, func() bool {
		return strings.Contains(logs.String(), "configuration reload failed: nothing changed") && strings.Contains(logs.String(), "RATE_LIMIT")
	})
	if status(added) != http.StatusOK {
		t.Fatal("a failed reload removed a token")
	}
	frames(kept, "frames after the failed reload", 10)
	_, _, metrics := callAs(t, keep, "GET", base+"/metrics", "", "")
	for _, want := range []string{`media_service_config_reloads_total{result="applied"} 1`, `media_service_config_reloads_total{result="failed"} 1`,
		"media_service_config_last_reload_successful 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestWatchFile: a change of the file's content asks for one reload; a
// rewrite with the same content, or a file gone for a while, does not.
func TestWatchFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "watched.env")
	if err := os.WriteFile(file, []byte("A=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); watchFile(ctx, file, 5*time.Millisecond, ch) }()
	defer func() { cancel(); <-done }()
	quiet := func(what string) {
		t.Helper()
		select {
		case <-ch:
			t.Fatalf("%s asked for a reload", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Writes are ConfigMap-style updates: a new file renamed over the
	// old path. (os.WriteFile in place empties the file first: a read
	// in between sees a change, and then another, which a loaded
	// machine makes likely.)
	replace := func(content string) {
		t.Helper()
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	quiet("nothing")
	replace("A=1\n")
	quiet("the same content")
	os.Remove(file)
	quiet("a missing file")
	replace("A=2\n")
	select {
	case <-ch:
	case <-time.After(testutil.Generous):
		t.Fatal("a changed file asked for no reload")
	}
	quiet("no further change")
}

// TestReloadOnFileChange: with CONFIG_WATCH=true a change of the file's
// content reloads without a signal, and SIGHUP still works beside it.
func TestReloadOnFileChange(t *testing.T) {
	testutil.Deadline(t, 3*time.Minute)
	const token = "watch-token-0123456789"
	file := filepath.Join(t.TempDir(), "watched.env")
	if err := os.WriteFile(file, []byte("API_TOKENS=ops="+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, cmd, logs := childService(t, devicesim.Options{Width: 120, Height: 160, FPS: 5}, map[string]string{
		"CONFIG_FILE": file, "CONFIG_WATCH": "true", "API_TOKENS": unsetVar, "LOG_LEVEL": unsetVar,
	})
	// A ConfigMap-style update: a new file renamed over the old one.
	tmp := file + ".new"
	if err := os.WriteFile(tmp, []byte("API_TOKENS=ops="+token+"\nRATE_LIMIT=25\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the reload on the file's change", testutil.Generous, func() bool {
		return strings.Contains(logs.String(), "RATE_LIMIT: 20 -> 25")
	})
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the reload on SIGHUP", testutil.Generous, func() bool {
		return strings.Contains(logs.String(), "configuration reloaded: no live setting changed")
	})
	if n := strings.Count(logs.String(), "RATE_LIMIT: 20 -> 25"); n != 1 {
		t.Fatalf("the change was applied %d times, want once", n)
	}
}
