package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Instance is one instance of the service: a media-service process with
// its own ports and its own adb server. It can be stopped (Kill, Term)
// and started again on the same ports (Start).
type Instance struct {
	lab   *Lab
	name  string // media-N, its POD_NAME
	index int    // N
	node  string // its pod's node (Config.Nodes), "" without nodes
	port  int    // HTTP (PORT)
	udp   int    // ICE_UDP_MUX_PORT
	adb   *adbServer
	dir   string // its working folder and HOME
	log   string // its log file

	mu     sync.Mutex // guards cmd, exited, state, ready, starts
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current process ended
	state  *os.ProcessState
	ready  bool // its GET /ready answered 200 at the last poll
	term   bool // the lab sent SIGTERM to the current process
	starts int
}

// terminatingNow reports whether the lab sent SIGTERM to the running
// process.
func (in *Instance) terminatingNow() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.term && in.state == nil
}

// Name returns the instance's name: media-N, its POD_NAME and the name of
// its pod in its EndpointSlice's targetRef.
func (in *Instance) Name() string { return in.name }

// Index returns N of media-N (1-based).
func (in *Instance) Index() int { return in.index }

// Node is the instance's node (Config.Nodes), "" without nodes.
func (in *Instance) Node() string { return in.node }

// URL returns the instance's own base URL (http://127.0.0.1:PORT).
func (in *Instance) URL() string { return "http://127.0.0.1:" + strconv.Itoa(in.port) }

// EndpointURL returns the instance's base URL as its peers reach it, from
// its EndpointSlice (http://ENDPOINT-IP:PORT).
func (in *Instance) EndpointURL() string {
	return "http://" + net.JoinHostPort(in.lab.cfg.EndpointIP, strconv.Itoa(in.port))
}

// Port returns the instance's HTTP port (PORT).
func (in *Instance) Port() int { return in.port }

// ADBServer returns the address of the instance's own adb server.
func (in *Instance) ADBServer() string { return in.adb.Addr() }

// LogPath returns the file the instance's output goes to (every run of
// it, appended).
func (in *Instance) LogPath() string { return in.log }

// Logs returns the instance's output so far.
func (in *Instance) Logs() string {
	b, _ := os.ReadFile(in.log)
	return string(b)
}

// SliceName returns the name of the instance's EndpointSlice.
func (in *Instance) SliceName() string { return ServiceName + "-" + in.name }

// PID returns the process's id, or 0 when it is not running.
func (in *Instance) PID() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil || in.state != nil {
		return 0
	}
	return in.cmd.Process.Pid
}

// Running reports whether the process runs.
func (in *Instance) Running() bool { return in.PID() != 0 }

// Ready reports whether the instance's GET /ready answered 200 at the
// lab's last poll (every 500 ms): what its EndpointSlice says, and what
// the proxy routes by.
func (in *Instance) Ready() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.ready && in.state == nil && in.cmd != nil
}

// Exited returns a channel closed when the current process has ended
// (closed already when none runs).
func (in *Instance) Exited() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.exited == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return in.exited
}

// ExitState returns how the last process ended, or nil while it runs.
func (in *Instance) ExitState() *os.ProcessState {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.state
}

// Env returns the instance's environment (without the lab's PATH and
// the like), as NAME=VALUE.
func (in *Instance) Env() []string { return in.lab.instanceEnv(in) }

// Start starts the process, unless it runs. A stopped instance starts
// again with its name, ports and adb server.
func (in *Instance) Start() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd != nil && in.state == nil {
		return nil
	}
	if in.lab.closing() {
		return errors.New("lab: closed")
	}
	logf, err := os.OpenFile(in.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	in.starts++
	fmt.Fprintf(logf, "=== lab: start %d of %s\n", in.starts, in.name)
	var out io.Writer = logf
	if w := in.lab.cfg.Output; w != nil {
		out = io.MultiWriter(logf, &prefixWriter{w: w, prefix: "[" + in.name + "] "})
	}
	cmd := exec.Command(in.lab.bin, "serve")
	cmd.Dir = in.dir
	cmd.Env = append(baseEnv(in.dir), in.lab.instanceEnv(in)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childAttr()
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: %w", in.name, err)
	}
	exited := make(chan struct{})
	in.cmd, in.exited, in.state, in.ready, in.term = cmd, exited, nil, false, false
	in.lab.wg.Go(func() {
		err := cmd.Wait()
		in.mu.Lock()
		in.state = cmd.ProcessState
		in.ready = false
		in.mu.Unlock()
		fmt.Fprintf(logf, "=== lab: %s exited: %v\n", in.name, err)
		logf.Close()
		close(exited)
		in.lab.poke()
	})
	return nil
}

// Kill sends SIGKILL and waits for the process to end.
func (in *Instance) Kill() error {
	return in.stop(syscall.SIGKILL, 0)
}

// Term sends SIGTERM and waits for the process to end; after timeout (0:
// the lab's drain timeout and 15 s more) it sends SIGKILL. It returns an
// error when SIGKILL was needed.
func (in *Instance) Term(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = in.lab.cfg.DrainTimeout + 15*time.Second
	}
	return in.stop(syscall.SIGTERM, timeout)
}

// Signal sends sig to the process without waiting.
func (in *Instance) Signal(sig os.Signal) error {
	in.mu.Lock()
	cmd := in.cmd
	in.mu.Unlock()
	if cmd == nil {
		return errors.New("lab: " + in.name + " never started")
	}
	return cmd.Process.Signal(sig)
}

func (in *Instance) stop(sig syscall.Signal, timeout time.Duration) error {
	in.mu.Lock()
	cmd, exited := in.cmd, in.exited
	if sig == syscall.SIGTERM && in.state == nil {
		in.term = true
	}
	in.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	in.lab.poke()
	if timeout > 0 {
		select {
		case <-exited:
			return nil
		case <-time.After(timeout):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			return fmt.Errorf("lab: %s did not exit %v after SIGTERM; killed", in.name, timeout)
		}
	}
	<-exited
	return nil
}

// pollReady asks GET /ready once and records the answer; it returns it.
func (in *Instance) pollReady(ctx context.Context, client *http.Client) bool {
	if !in.Running() {
		return false
	}
	ok := false
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.URL()+"/ready", nil)
	if resp, err := client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64*1024))
		resp.Body.Close()
		ok = resp.StatusCode == http.StatusOK
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.ready = ok && in.state == nil
	return in.ready
}

// prefixWriter writes each whole line with a prefix.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		_, _ = io.WriteString(p.w, p.prefix+string(p.buf[:i+1]))
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) > 64*1024 { // a very long line: out with it
		_, _ = io.WriteString(p.w, p.prefix+string(p.buf)+"\n")
		p.buf = p.buf[:0]
	}
	return len(b), nil
}

// instanceDir makes an instance's folder.
func instanceDir(root, name string) (string, error) {
	dir := filepath.Join(root, name)
	return dir, os.MkdirAll(dir, 0o700)
}
