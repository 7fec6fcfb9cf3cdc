package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/testutil"
)

// TestOnSignals: while serving, the first SIGTERM drains and a second
// SIGTERM, or a SIGINT, stops; other commands stop on either.
func TestOnSignals(t *testing.T) {
	for _, tc := range []struct {
		name       string
		serving    bool
		sigs       []os.Signal
		drain      bool
		stopAfterN int // 0: never
	}{
		{"drain", true, []os.Signal{syscall.SIGTERM}, true, 0},
		{"reload, drain", true, []os.Signal{syscall.SIGHUP, syscall.SIGHUP, syscall.SIGTERM}, true, 0},
		{"drain then SIGTERM", true, []os.Signal{syscall.SIGTERM, syscall.SIGTERM}, true, 2},
		{"drain then SIGINT", true, []os.Signal{syscall.SIGTERM, os.Interrupt}, true, 2},
		{"SIGINT", true, []os.Signal{os.Interrupt}, false, 1},
		{"another command", false, []os.Signal{syscall.SIGTERM}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signals := make(chan os.Signal)
			drain := make(chan struct{})
			reload := make(chan struct{}, 1)
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			done := make(chan struct{})
			go func() { defer close(done); onSignals(signals, tc.serving, drain, reload, stop) }()
			for i, s := range tc.sigs {
				signals <- s
				if tc.stopAfterN == i+1 {
					<-done // it returns after stopping
				}
			}
			if tc.stopAfterN == 0 {
				close(signals)
				<-done
			}
			select {
			case <-drain:
				if !tc.drain {
					t.Fatal("drained")
				}
			default:
				if tc.drain {
					t.Fatal("did not drain")
				}
			}
			reloaded := len(reload) == 1
			if wantReload := slices.Contains(tc.sigs, os.Signal(syscall.SIGHUP)); reloaded != wantReload {
				t.Fatalf("reload asked %v, want %v", reloaded, wantReload)
			}
			if stopped := ctx.Err() != nil; stopped != (tc.stopAfterN > 0) {
				t.Fatalf("stopped %v, want %v", stopped, tc.stopAfterN > 0)
			}
		})
	}
}

// running reports whether the child process has not ended yet.
func running(cmd *exec.Cmd) bool { return cmd.Process.Signal(syscall.Signal(0)) == nil }

// drainingChild runs the service as a child process with DRAIN_TIMEOUT,
// opens a session with a Pion viewer, sends SIGTERM, and checks that the
// service drains: /ready and new sessions answer 503 while the session
// keeps receiving RTP. It returns the service, the viewer and its session.
func drainingChild(t *testing.T, drainTimeout string) (string, *exec.Cmd, *client, string, *testutil.SyncBuffer) {
	t.Helper()
	testutil.Deadline(t, 3*time.Minute)
	base, sim, cmd, logs := childService(t, devicesim.Options{Width: 240, Height: 320, FPS: 15}, map[string]string{"DRAIN_TIMEOUT": drainTimeout})
	if code, _, body := call(t, "GET", base+"/ready", "", ""); code != http.StatusOK && code != http.StatusNotFound {
		t.Fatalf("/ready before SIGTERM: %d %s", code, body)
	}
	c, offer := newClient(t)
	code, _, body := call(t, "POST", base+"/api/media/sessions", "application/json", sessionBody(sim.Addr(), offer))
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var created struct{ SessionID, Answer string }
	json.Unmarshal([]byte(body), &created)
	c.play(t, created.Answer, 20)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// /ready says so (where the route exists), and a new session is refused.
	testutil.EventuallyErr(t, "a new session refused with 503", testutil.Generous, func() (bool, error) {
		_, offer := newClient(t)
		code, _, body := call(t, "POST", base+"/api/media/sessions", "application/json", sessionBody(sim.Addr(), offer))
		if code == http.StatusCreated {
			var late struct{ SessionID string }
			json.Unmarshal([]byte(body), &late)
			call(t, "DELETE", base+"/api/media/sessions/"+late.SessionID, "", "")
		}
		return code == http.StatusServiceUnavailable && strings.Contains(body, "draining"), nil
	})
	if code, _, body := call(t, "GET", base+"/ready", "", ""); code == http.StatusNotFound {
		t.Log("no /ready route in this build: checked new sessions only")
	} else if code != http.StatusServiceUnavailable {
		t.Fatalf("/ready while draining: %d %s, want 503", code, body)
	}
	// The running session keeps its stream.
	for len(c.packets) > 0 {
		<-c.packets
	}
	for i := 0; i < 20; i++ {
		select {
		case <-c.packets:
		case <-time.After(testutil.Generous):
			t.Fatalf("the running session got %d RTP packets after SIGTERM, want 20", i)
		}
	}
	if !running(cmd) {
		t.Fatal("the service exited while a session ran")
	}
	return base, cmd, c, created.SessionID, logs
}

// TestSIGTERMDrains: after SIGTERM the service takes no new session and
// keeps the running one; it exits once that session is deleted.
func TestSIGTERMDrains(t *testing.T) {
	base, cmd, _, id, logs := drainingChild(t, "1h")
	if code, _, body := call(t, "DELETE", base+"/api/media/sessions/"+id, "", ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	testutil.Eventually(t, "the service to exit after its last session", testutil.Generous, func() bool { return !running(cmd) })
	http.DefaultClient.CloseIdleConnections()
	for _, want := range []string{"draining:", "drained: no session left"} {
		if n := logs.Count(want); n != 1 {
			t.Errorf("the logs say %q %d times, want once", want, n)
		}
	}
}

// TestSIGTERMDrainTimeout: a session still running when DRAIN_TIMEOUT
// passes is closed, and the service exits.
func TestSIGTERMDrainTimeout(t *testing.T) {
	_, cmd, c, _, logs := drainingChild(t, "3s")
	testutil.Eventually(t, "the service to exit after DRAIN_TIMEOUT", testutil.Generous, func() bool { return !running(cmd) })
	http.DefaultClient.CloseIdleConnections()
	if logs.Count("drain timeout passed") != 1 {
		t.Error("the logs do not say once that the drain timed out")
	}
	t.Logf("the viewer's connection after the drain: %v", c.PC.ConnectionState())
}

// TestSecondSignalStopsAtOnce: a second SIGTERM, or a SIGINT, during the
// drain ends the service without waiting for DRAIN_TIMEOUT (an hour).
func TestSecondSignalStopsAtOnce(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			_, cmd, _, _, logs := drainingChild(t, "1h")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "the service to exit", testutil.Generous, func() bool { return !running(cmd) })
			http.DefaultClient.CloseIdleConnections()
			if logs.Count("drain cut short") != 1 {
				t.Error("the logs do not say once that the drain was cut short")
			}
		})
	}
}
