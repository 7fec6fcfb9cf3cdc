package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// adbServer is one instance's private adb server: the real adb program in
// nodaemon mode on a port of its own, with a HOME of its own so that its
// key pair is its own.
type adbServer struct {
	bin    string
	port   int
	home   string
	env    []string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

// startADB starts a server on a free port, trying a few ports.
func startADB(ctx context.Context, home string) (*adbServer, error) {
	bin, err := exec.LookPath("adb")
	if err != nil {
		return nil, fmt.Errorf("the adb program is not installed (Debian package adb): %w", err)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	var last error
	for range 4 {
		port, err := freeTCPPort()
		if err != nil {
			return nil, err
		}
		s := &adbServer{bin: bin, port: port, home: home, env: baseEnv(home)}
		if last = s.start(ctx); last == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("adb server: %w", last)
}

// Addr returns the server's address.
func (s *adbServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *adbServer) start(ctx context.Context) error {
	logf, err := os.OpenFile(filepath.Join(s.home, "adb-server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "-P", strconv.Itoa(s.port), "nodaemon", "server")
	cmd.Env = s.env
	cmd.Dir = s.home
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	s.cmd, s.log, s.exited = cmd, logf, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.exited:
			logf.Close()
			out, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("adb server on %d exited at start: %s", s.port, out)
		case <-ctx.Done():
			s.stop()
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("adb server on %d not listening after 30s", s.port)
		}
	}
}

// stop asks the server to quit (kill-server), kills it after a bound and
// waits for it.
func (s *adbServer) stop() {
	if s.cmd == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kill := exec.CommandContext(ctx, s.bin, "-P", strconv.Itoa(s.port), "kill-server")
	kill.Env = s.env
	_ = kill.Run()
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
	}
	s.log.Close()
	s.cmd = nil
}

// baseEnv is the environment of the lab's children: the lab's, without
// anything that configures adb or the service, and with HOME set to home.
func baseEnv(home string) []string {
	env := []string{"HOME=" + home}
	for _, k := range []string{"PATH", "TMPDIR", "LANG", "LC_ALL", "TZ", "LD_LIBRARY_PATH"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// childAttr puts a child in a process group of its own, so that a Ctrl-C
// on the terminal reaches the lab only (which stops the children in
// order), and kills it when the lab's process dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// freeTCPPort returns a TCP port that was free a moment ago.
func freeTCPPort() (int, error) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// freeUDPPort returns a UDP port that was free a moment ago.
func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", ":0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
