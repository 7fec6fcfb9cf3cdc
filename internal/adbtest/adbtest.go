// Package adbtest starts a private instance of the real adb server for
// tests: on a free port of its own, with a temporary HOME (so its key pair
// and state are the test's own), never touching a server on the default
// port or the user's keys.
package adbtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
)

// Generous bounds every wait on adb or a device. It catches hangs; no test
// asserts anything about how fast something happened.
const Generous = 30 * time.Second

// Server is a running adb server (the adb program in nodaemon mode).
type Server struct {
	Port int
	Home string
	bin  string
	env  []string
}

// Addr returns the server's address.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// String describes the server for failure messages.
func (s *Server) String() string { return fmt.Sprintf("adb server on %d", s.Port) }

// Start starts a server and stops it when the test ends. When the adb
// program is missing it skips the test, or fails it under CI=true
// (testutil.SkipOrFail).
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("adb")
	if err != nil {
		testutil.SkipOrFail(tb, "the adb program is not installed (Debian package adb)")
	}
	home := tb.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || strings.HasPrefix(k, "ANDROID_") || strings.HasPrefix(k, "ADB_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home)
	for attempt := 0; ; attempt++ {
		s := &Server{Port: freePort(tb), Home: home, bin: bin, env: env}
		err := s.start(tb)
		if err == nil {
			return s
		}
		if attempt == 3 {
			tb.Fatalf("adb server: %v", err)
		}
		tb.Logf("adb server on port %d: %v; trying another port", s.Port, err)
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *Server) start(tb testing.TB) error {
	logPath := filepath.Join(s.Home, "adb-server-"+strconv.Itoa(s.Port)+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "-P", strconv.Itoa(s.Port), "nodaemon", "server")
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{}) // this process's: a restart starts another
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		// kill-server also stops a server that a client started by itself
		// had this one died; it never starts one.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Command(ctx, "kill-server").Run()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	}
	for deadline := time.Now().Add(Generous); ; {
		if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			logf.Close()
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("exited at start: %s", out)
		case <-time.After(5 * time.Millisecond): // fine-grained: ServeAgain times the return
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("not listening after %v", Generous)
		}
	}
	tb.Cleanup(func() {
		stop()
		if tb.Failed() {
			out, _ := os.ReadFile(logPath)
			tb.Logf("adb server log:\n%s", out)
		}
	})
	return nil
}

// Stop stops the server (kill-server), as an operator's `adb
// kill-server` does, and waits until its port refuses connections.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.Run(tb, "kill-server")
	testutil.Eventually(tb, "the adb server gone", Generous, func() bool {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
}

// ServeAgain starts a new server on the port and HOME of one that Stop
// stopped, and returns when it listens; it is stopped when the test ends.
func (s *Server) ServeAgain(tb testing.TB) time.Time {
	tb.Helper()
	if err := s.start(tb); err != nil {
		tb.Fatalf("adb server again on port %d: %v", s.Port, err)
	}
	return time.Now()
}

// Restart stops the server, waits down, and starts a new one on its port
// and HOME, as `adb kill-server; adb start-server` does; it returns when
// the new one listens.
func (s *Server) Restart(tb testing.TB, down time.Duration) time.Time {
	tb.Helper()
	s.Stop(tb)
	time.Sleep(down)
	return s.ServeAgain(tb)
}

// Command returns an adb client command for this server.
func (s *Server) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"-P", strconv.Itoa(s.Port)}, args...)...)
	cmd.Env = s.env
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// TryRun runs an adb client command and returns its standard output.
func (s *Server) TryRun(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Generous)
	defer cancel()
	cmd := s.Command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out, nil
}

// Run is TryRun that fails the test if adb fails.
func (s *Server) Run(tb testing.TB, args ...string) []byte {
	tb.Helper()
	out, err := s.TryRun(args...)
	if err != nil {
		tb.Fatalf("adb %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Connect runs adb connect and waits until the server lists the device as
// "device". It returns the serial to pass to -s.
func (s *Server) Connect(tb testing.TB, addr string) string {
	tb.Helper()
	s.Run(tb, "connect", addr)
	s.WaitState(tb, addr, "device")
	return addr
}

// WaitState waits until `adb devices` lists serial in state.
func (s *Server) WaitState(tb testing.TB, serial, state string) {
	tb.Helper()
	var out []byte
	for deadline := time.Now().Add(Generous); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out = s.Run(tb, "devices")
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == serial && f[1] == state {
				return
			}
		}
	}
	tb.Fatalf("%s not %q after %v; adb devices:\n%s", serial, state, Generous, out)
}

// Shell runs `adb -s serial shell ARGS` and returns the output.
func (s *Server) Shell(tb testing.TB, serial string, args ...string) string {
	tb.Helper()
	return string(s.Run(tb, append([]string{"-s", serial, "shell"}, args...)...))
}

// ExecOut runs `adb -s serial exec-out ARGS` and returns the output.
func (s *Server) ExecOut(tb testing.TB, serial string, args ...string) []byte {
	tb.Helper()
	return s.Run(tb, append([]string{"-s", serial, "exec-out"}, args...)...)
}

// Sentinel listens where an adb server would and counts connections,
// to prove that rejected requests never reach adb.
func Sentinel(t testing.TB) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), &n
}
