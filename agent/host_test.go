package agent

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHostRun runs the real agent on the host: the embedded dex, turned
// into a jar by enjarify, on a JVM with -Xverify:all (every class
// verified), against the stub Android classes of testdata/stubs, which
// record each injected event, clipboard access and rotation as one
// "stub ..." line on stdout. It drives the agent over its socket as the
// service does, twice: as Android 5 (InputManager, old IClipboard and
// IWindowManager signatures) and as Android 15 (InputManagerGlobal, the
// newest signatures, freezeDisplayRotation only).
func TestHostRun(t *testing.T) {
	enjarify := needTool(t, "enjarify")
	java := needTool(t, "java")
	javac := needTool(t, "javac")

	dir := t.TempDir()
	dex := filepath.Join(dir, "media-agent.dex")
	if err := os.WriteFile(dex, Dex, 0o644); err != nil {
		t.Fatal(err)
	}
	jar := filepath.Join(dir, "media-agent.jar")
	cmd := exec.Command(enjarify, "-f", "-o", jar, dex)
	cmd.Env = enjarifyEnv()
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(" 0 classes had errors")) {
		t.Fatalf("enjarify: %v\n%s", err, out)
	}

	for _, api := range []struct {
		name string
		sdk  int
		via  string
	}{
		{"api21", 21, "InputManager"},
		{"api35", 35, "InputManagerGlobal"},
	} {
		t.Run(api.name, func(t *testing.T) {
			classes := compileStubs(t, javac, filepath.Join(dir, api.name), "common", api.name)
			a := startHostAgent(t, java, jar, classes, api.sdk)
			a.via = api.via
			a.api35 = api.sdk >= 34
			a.run(t)
		})
	}
}

// enjarifyEnv is the environment for Debian's enjarify, a module of the
// system's python3 whose wrapper takes the first python3 on PATH (a pyenv
// or virtualenv one lacks it) unless PYTHON names one.
func enjarifyEnv() []string {
	env := os.Environ()
	if os.Getenv("PYTHON") == "" {
		if _, err := os.Stat("/usr/bin/python3"); err == nil {
			env = append(env, "PYTHON=/usr/bin/python3")
		}
	}
	return env
}

// compileStubs compiles the stub sets (directories of testdata/stubs) into
// out.
func compileStubs(t *testing.T, javac, out string, sets ...string) string {
	t.Helper()
	args := []string{"-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-nowarn", "-encoding", "UTF-8", "-d", out}
	for _, set := range sets {
		err := filepath.WalkDir(filepath.Join("testdata", "stubs", set), func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".java") {
				args = append(args, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if b, err := exec.Command(javac, args...).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, b)
	}
	return out
}

const hostSocket = "media-agent-test"

type hostAgent struct {
	dir    string // where the socket and the test hooks are
	secret string
	sdk    int
	via    string // InputManager or InputManagerGlobal
	api35  bool
	lines  chan string // stdout
	stderr *syncBuffer
	cmd    *exec.Cmd
	stdin  io.WriteCloser // its end ends the agent, as the end of its adb shell does
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startHostAgent(t *testing.T, java, jar, classes string, sdk int) *hostAgent {
	t.Helper()
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	a := &hostAgent{dir: t.TempDir(), secret: hex.EncodeToString(key), sdk: sdk, lines: make(chan string, 4096), stderr: &syncBuffer{}}
	a.cmd = exec.Command(java, "-Xverify:all", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
		"-Dstub.socketdir="+a.dir, "-Dstub.sdk="+strconv.Itoa(sdk),
		"-cp", jar+string(os.PathListSeparator)+classes, MainClass, hostSocket, a.secret)
	stdout, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if a.stdin, err = a.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		a.cmd.Wait()
		if t.Failed() {
			t.Logf("agent stderr:\n%s", a.stderr)
		}
	})
	go func() {
		defer close(a.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			a.lines <- sc.Text()
		}
	}()

	// the looper, then the one line
	listening := "media-agent " + Version + " listening on @" + hostSocket
	looper := false
	for {
		l := a.line(t, 60*time.Second)
		if l == "stub looper prepareMainLooper" {
			looper = true
			continue
		}
		if l != listening {
			t.Fatalf("agent's stdout: %q, want %q", l, listening)
		}
		break
	}
	if !looper {
		t.Error("the agent did not call Looper.prepareMainLooper before listening")
	}
	return a
}

// line is the agent's next line of stdout.
func (a *hostAgent) line(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-a.lines:
		if !ok {
			t.Fatalf("the agent exited (%v)", a.cmd.Wait())
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("no line from the agent in %v", timeout)
	}
	return ""
}

// stub is the next stub line, without "stub ".
func (a *hostAgent) stub(t *testing.T) string {
	t.Helper()
	l := a.line(t, 10*time.Second)
	s, ok := strings.CutPrefix(l, "stub ")
	if !ok {
		t.Fatalf("agent's stdout: %q, want a stub line", l)
	}
	return s
}

// step marks the end of a step with a key event of code 0 and returns the
// stub lines before it: all that the frames sent since the last step did.
func (a *hostAgent) step(t *testing.T, c *hostConn) []string {
	t.Helper()
	c.send(t, Key{Action: ActionUp, Code: 0})
	var got []string
	for {
		l := a.stub(t)
		if strings.Contains(l, " key action=1 code=0 ") {
			return got
		}
		got = append(got, l)
	}
}

type hostConn struct{ net.Conn }

func (a *hostAgent) dial(t *testing.T) *hostConn {
	t.Helper()
	c, err := net.DialTimeout("unix", filepath.Join(a.dir, hostSocket), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &hostConn{c}
}

// hello opens a connection with a good Hello.
func (a *hostAgent) hello(t *testing.T) *hostConn {
	t.Helper()
	c := a.dial(t)
	c.send(t, Hello{Secret: []byte(a.secret)})
	c.expect(t, Ready{SDK: int32(a.sdk), Version: Version})
	return c
}

func (c *hostConn) send(t *testing.T, ms ...Message) {
	t.Helper()
	var b []byte
	for _, m := range ms {
		b = AppendFrame(b, m)
	}
	c.raw(t, b)
}

func (c *hostConn) raw(t *testing.T, b []byte) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (c *hostConn) recv(t *testing.T, timeout time.Duration) Message {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(timeout))
	m, err := ReadMessage(c)
	if err != nil {
		t.Fatalf("reading from the agent: %v", err)
	}
	return m
}

func (c *hostConn) expect(t *testing.T, want Message) {
	t.Helper()
	if got := c.recv(t, 10*time.Second); !reflect.DeepEqual(got, want) {
		t.Fatalf("agent sent %#v, want %#v", got, want)
	}
}

// ping checks that the agent answers a Ping.
func (c *hostConn) ping(t *testing.T, seq uint32) Pong {
	t.Helper()
	c.send(t, Ping{Seq: seq})
	m := c.recv(t, 10*time.Second)
	p, ok := m.(Pong)
	if !ok || p.Seq != seq || p.Version != Version || p.Uptime < 1000 {
		t.Fatalf("agent sent %#v, want a Pong with seq %d, version %q and the stub's uptime (>= 1000)", m, seq, Version)
	}
	return p
}

// expectClosed checks that the agent closes the connection without a frame.
func (c *hostConn) expectClosed(t *testing.T) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, p, err := ReadFrame(c)
	if err == nil {
		t.Fatalf("agent sent a frame (type 0x%02x, %q), want the connection closed", typ, p)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the agent did not close the connection")
	}
}

// fields parses a stub line: its words and its key=value pairs.
func fields(l string) ([]string, map[string]string) {
	var words []string
	kv := map[string]string{}
	for _, f := range strings.Fields(l) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		} else {
			words = append(words, f)
		}
	}
	return words, kv
}

// unhex decodes a stub's hex text ("-" null, "=" empty).
func unhex(t *testing.T, s string) string {
	t.Helper()
	if s == "=" {
		return ""
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("stub text %q: %v", s, err)
	}
	return string(b)
}

// motion checks an injected touch or mouse MotionEvent: action, source and
// pointers (id:x:y:pressure:tool, comma separated).
func (a *hostAgent) motion(t *testing.T, l string, action, source int, ptrs string) map[string]string {
	t.Helper()
	words, kv := fields(l)
	want := map[string]string{
		"via": a.via, "mode": "0", "action": strconv.Itoa(action), "source": strconv.Itoa(source),
		"n": strconv.Itoa(strings.Count(ptrs, ",") + 1), "ptrs": ptrs,
		"meta": "0", "buttons": "0", "device": "0", "flags": "0",
	}
	if len(words) != 2 || words[0] != "inject" || words[1] != "motion" {
		t.Fatalf("stub: %q, want an injected MotionEvent", l)
	}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("stub: %q: %s=%s, want %s", l, k, kv[k], v)
		}
	}
	return kv
}

// touch checks an injected touchscreen MotionEvent.
func (a *hostAgent) touch(t *testing.T, l string, action int, ptrs string) map[string]string {
	t.Helper()
	return a.motion(t, l, action, 0x1002, ptrs)
}

// key checks an injected KeyEvent.
func (a *hostAgent) key(t *testing.T, l string, action, code, repeat, meta, mode int) map[string]string {
	t.Helper()
	words, kv := fields(l)
	if len(words) != 2 || words[0] != "inject" || words[1] != "key" {
		t.Fatalf("stub: %q, want an injected KeyEvent", l)
	}
	want := map[string]string{
		"via": a.via, "mode": strconv.Itoa(mode), "action": strconv.Itoa(action), "code": strconv.Itoa(code),
		"repeat": strconv.Itoa(repeat), "meta": strconv.Itoa(meta),
		"device": "-1", "scancode": "0", "flags": "0", "source": "257",
	}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("stub: %q: %s=%s, want %s", l, k, kv[k], v)
		}
	}
	return kv
}

// press checks a key's down and up: lines l[0] and l[1].
func (a *hostAgent) press(t *testing.T, l []string, code, upMode int) {
	t.Helper()
	if len(l) != 2 {
		t.Fatalf("stub: %q, want the down and up of key %d", l, code)
	}
	down := a.key(t, l[0], 0, code, 0, 0, 0)
	up := a.key(t, l[1], 1, code, 0, 0, upMode)
	if up["down"] != down["down"] {
		t.Errorf("key %d: up's down time %s, want %s", code, up["down"], down["down"])
	}
}

// clipSet checks that the agent set the clipboard to text, as the shell.
func (a *hostAgent) clipSet(t *testing.T, l, text string) {
	t.Helper()
	words, kv := fields(l)
	if strings.Join(words, " ") != "clip set" {
		t.Fatalf("stub: %q, want the clipboard set", l)
	}
	if got := unhex(t, kv["text"]); got != text {
		t.Errorf("clipboard set to %q, want %q", got, text)
	}
	if got := unhex(t, kv["label"]); got != "media-service" {
		t.Errorf("clip label %q, want media-service", got)
	}
	want := map[string]string{"pkg": "com.android.shell"}
	if a.api35 {
		want = map[string]string{"pkg": "com.android.shell", "tag": "null", "user": "0", "device": "0"}
	}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("stub: %q: %s=%s, want %s", l, k, kv[k], v)
		}
	}
}

// lines checks the number of stub lines of a step.
func lines(t *testing.T, got []string, n int, what string) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s: the stubs saw %d calls, want %d:\n%s", what, len(got), n, strings.Join(got, "\n"))
	}
}

func (a *hostAgent) run(t *testing.T) {
	// Connections that do not start with a good Hello are closed.
	bad := a.dial(t)
	bad.send(t, Hello{Secret: []byte(strings.Repeat("0", len(a.secret)))})
	bad.expectClosed(t)
	bad = a.dial(t)
	bad.send(t, Ping{Seq: 1})
	bad.expectClosed(t)

	c := a.hello(t)
	c.ping(t, 7)
	c.ping(t, 0xfffffffe)

	// ... and do not disturb the current connection.
	bad = a.dial(t)
	bad.send(t, Hello{Secret: []byte("not the secret")})
	bad.expectClosed(t)
	c.ping(t, 8)

	t.Run("pinch", func(t *testing.T) {
		c.send(t,
			Touch{Action: ActionDown, Pointer: 0, X: 100, Y: 200, Pressure: 65535},
			Touch{Action: ActionDown, Pointer: 1, X: 300, Y: 400, Pressure: 65535},
			Touch{Action: ActionMove, Pointer: 0, X: 110, Y: 210, Pressure: 65535},
			Touch{Action: ActionMove, Pointer: 1, X: 290, Y: 390, Pressure: 65535},
			Touch{Action: ActionMove, Pointer: 7, X: 1, Y: 1, Pressure: 1}, // not down: ignored
			Touch{Action: ActionUp, Pointer: 1, X: 290, Y: 390},
			Touch{Action: ActionUp, Pointer: 0, X: 110, Y: 210},
		)
		got := a.step(t, c)
		lines(t, got, 6, "a pinch")
		kv := []map[string]string{
			a.touch(t, got[0], 0, "0:100:200:1:1"),
			a.touch(t, got[1], 0x105, "0:100:200:1:1,1:300:400:1:1"),
			a.touch(t, got[2], 2, "0:110:210:1:1,1:300:400:1:1"),
			a.touch(t, got[3], 2, "0:110:210:1:1,1:290:390:1:1"),
			a.touch(t, got[4], 0x106, "0:110:210:1:1,1:290:390:0:1"),
			a.touch(t, got[5], 1, "0:110:210:0:1"),
		}
		for i, e := range kv {
			if e["down"] != kv[0]["down"] {
				t.Errorf("event %d: down time %s, want the gesture's %s", i, e["down"], kv[0]["down"])
			}
			if i > 0 && atoi(e["time"]) < atoi(kv[i-1]["time"]) {
				t.Errorf("event %d: time %s before %s", i, e["time"], kv[i-1]["time"])
			}
		}
	})

	t.Run("three fingers, the middle one up, cancel", func(t *testing.T) {
		c.send(t,
			Touch{Action: ActionDown, Pointer: 2, X: 10, Y: 10, Pressure: 65535},
			Touch{Action: ActionDown, Pointer: 5, X: 20, Y: 20, Pressure: 65535},
			Touch{Action: ActionDown, Pointer: 9, X: 30, Y: 30, Pressure: 65535},
			Touch{Action: ActionUp, Pointer: 5, X: 21, Y: 21},
			Touch{Action: ActionDown, Pointer: 9, X: 31, Y: 31, Pressure: 65535}, // already down: a move
			Touch{Action: ActionCancel},
			Touch{Action: ActionCancel}, // nothing down: nothing
			Touch{Action: ActionDown, Pointer: 4, X: 40, Y: 40, Pressure: 65535},
			Touch{Action: ActionUp, Pointer: 4, X: 40, Y: 40},
		)
		got := a.step(t, c)
		lines(t, got, 8, "three fingers")
		first := a.touch(t, got[0], 0, "2:10:10:1:1")
		a.touch(t, got[1], 0x105, "2:10:10:1:1,5:20:20:1:1")
		a.touch(t, got[2], 0x205, "2:10:10:1:1,5:20:20:1:1,9:30:30:1:1")
		a.touch(t, got[3], 0x106, "2:10:10:1:1,5:21:21:0:1,9:30:30:1:1")
		a.touch(t, got[4], 2, "2:10:10:1:1,9:31:31:1:1")
		a.touch(t, got[5], 3, "2:10:10:1:1,9:31:31:1:1")
		next := a.touch(t, got[6], 0, "4:40:40:1:1")
		a.touch(t, got[7], 1, "4:40:40:0:1")
		for _, down := range []map[string]string{first, next} {
			if down["down"] != down["time"] {
				t.Errorf("a gesture's first down at %s has down time %s", down["time"], down["down"])
			}
		}
	})

	t.Run("scroll", func(t *testing.T) {
		c.send(t, Scroll{X: 50, Y: 60, H: -1, V: 2.5})
		got := a.step(t, c)
		lines(t, got, 1, "a scroll")
		kv := a.motion(t, got[0], 8, 0x2002, "0:50:60:0:3")
		if kv["h"] != "-1" || kv["v"] != "2.5" {
			t.Errorf("scroll h=%s v=%s, want -1 and 2.5", kv["h"], kv["v"])
		}
	})

	t.Run("key", func(t *testing.T) {
		c.send(t,
			Key{Action: ActionDown, Code: 29, Meta: 0x41},
			Key{Action: ActionDown, Code: 29, Repeat: 1, Meta: 0x41},
			Key{Action: ActionUp, Code: 29, Meta: 0x41},
		)
		got := a.step(t, c)
		lines(t, got, 3, "a key")
		down := a.key(t, got[0], 0, 29, 0, 0x41, 0)
		repeat := a.key(t, got[1], 0, 29, 1, 0x41, 0)
		up := a.key(t, got[2], 1, 29, 0, 0x41, 0)
		if repeat["down"] != down["down"] || up["down"] != down["down"] {
			t.Errorf("key down times %s %s %s, want the first down's for all", down["down"], repeat["down"], up["down"])
		}

		// a failed injection is an Error, and the agent goes on
		c.send(t, Key{Action: ActionDown, Code: 999})
		c.expect(t, Error{Request: TypeKey, Message: "java.lang.IllegalStateException: injectInputEvent refused the event"})
		c.send(t, Key{Action: ActionDown, Code: 998})
		c.expect(t, Error{Request: TypeKey, Message: "java.lang.SecurityException: stub: injection denied"})
		got = a.step(t, c)
		lines(t, got, 2, "failed keys")
		a.key(t, got[0], 0, 999, 0, 0, 0)
		a.key(t, got[1], 0, 998, 0, 0, 0)
	})

	t.Run("text", func(t *testing.T) {
		const text = "héllo 你好 👋"
		c.send(t, Text{Text: text})
		got := a.step(t, c)
		// what arrives: keys for what the virtual keyboard types, the
		// clipboard and a paste for the rest, in order
		var segs []string
		var typed strings.Builder
		clip := ""
		for i := 0; i < len(got); i++ {
			words, kv := fields(got[i])
			if strings.Join(words, " ") == "clip set" {
				a.clipSet(t, got[i], unhex(t, kv["text"]))
				clip = unhex(t, kv["text"])
				continue
			}
			if kv["code"] == "279" {
				if i+1 >= len(got) {
					t.Fatalf("a paste down without its up: %q", got)
				}
				a.press(t, got[i:i+2], 279, 2)
				i++
				typed.WriteString(clip)
				segs = append(segs, "paste "+clip)
				continue
			}
			kv = a.key(t, got[i], atoi(kv["action"]), atoi(kv["code"]), 0, 0, 0)
			if kv["action"] != "0" {
				continue
			}
			var ch string
			switch code := atoi(kv["code"]); {
			case code >= 29 && code <= 54:
				ch = string(rune('a' + code - 29))
			case code == 62:
				ch = " "
			default:
				t.Fatalf("unexpected key %d", code)
			}
			typed.WriteString(ch)
			if n := len(segs); n > 0 && strings.HasPrefix(segs[n-1], "keys ") {
				segs[n-1] += ch
			} else {
				segs = append(segs, "keys "+ch)
			}
		}
		if typed.String() != text {
			t.Errorf("typed %q, want %q", typed.String(), text)
		}
		want := []string{"keys h", "paste é", "keys llo ", "paste 你好", "keys  ", "paste 👋"}
		if !reflect.DeepEqual(segs, want) {
			t.Errorf("typed as %q, want %q", segs, want)
		}
	})

	t.Run("clipboard", func(t *testing.T) {
		c.send(t, SetClipboard{Paste: true, Text: "copied ✓"})
		got := a.step(t, c)
		lines(t, got, 3, "SetClipboard with paste")
		a.clipSet(t, got[0], "copied ✓")
		a.press(t, got[1:], 279, 2)

		c.send(t, SetClipboard{Text: "second"}, GetClipboard{})
		c.expect(t, Clipboard{Text: "second"})
		got = a.step(t, c)
		lines(t, got, 1, "SetClipboard")
		a.clipSet(t, got[0], "second")

		// Let the poller see the service's text (it must not echo it),
		// then copy on the "device".
		time.Sleep(1200 * time.Millisecond)
		const copied = "from the phone 📱"
		hook := filepath.Join(a.dir, "clip-external")
		if err := os.WriteFile(hook+".tmp", []byte(copied), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(hook+".tmp", hook); err != nil {
			t.Fatal(err)
		}
		c.expect(t, Clipboard{Changed: true, Text: copied})
		c.send(t, GetClipboard{})
		c.expect(t, Clipboard{Text: copied})
		got = a.step(t, c)
		lines(t, got, 1, "a copy on the device")
		if _, kv := fields(got[0]); !strings.HasPrefix(got[0], "clip external ") || unhex(t, kv["text"]) != copied {
			t.Errorf("stub: %q, want the external copy", got[0])
		}
	})

	t.Run("rotate", func(t *testing.T) {
		c.send(t, Rotate{Rotation: 1}, Rotate{Rotation: -1}, Rotate{Rotation: 3})
		got := a.step(t, c)
		want := []string{"wm freezeRotation rotation=1", "wm thawRotation", "wm freezeRotation rotation=3"}
		if a.api35 {
			want = []string{
				"wm freezeDisplayRotation display=0 rotation=1 caller=media-service",
				"wm thawDisplayRotation display=0 caller=media-service",
				"wm freezeDisplayRotation display=0 rotation=3 caller=media-service",
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("rotations: %q, want %q", got, want)
		}
	})

	t.Run("screen", func(t *testing.T) {
		c.send(t, Screen{On: true}, Screen{On: false})
		got := a.step(t, c)
		lines(t, got, 4, "screen on and off")
		a.press(t, got[:2], 224, 0)
		a.press(t, got[2:], 223, 0)
	})

	t.Run("unknown and malformed frames", func(t *testing.T) {
		c.raw(t, []byte{0, 0, 0, 4, 0x7f, 1, 2, 3}) // an unknown type: skipped
		c.ping(t, 9)
		c.raw(t, []byte{0, 0, 0, 4, TypeTouch, 1, 2, 3})
		c.expect(t, Error{Request: TypeTouch, Message: "java.lang.IllegalArgumentException: malformed payload of 3 bytes"})

		// values Parse rejects (the service never sends them): refused too
		touch := AppendFrame(nil, Touch{Action: ActionDown})
		touch[6] = MaxPointers
		c.raw(t, touch)
		c.expect(t, Error{Request: TypeTouch, Message: "java.lang.IllegalArgumentException: touch action or pointer out of range"})
		key := AppendFrame(nil, Key{Action: ActionDown})
		binary.BigEndian.PutUint32(key[6:], 1001)
		c.raw(t, key)
		c.expect(t, Error{Request: TypeKey, Message: "java.lang.IllegalArgumentException: key action, code or repeat out of range"})
		c.raw(t, []byte{0, 0, 0, 2, TypeRotate, 5})
		c.expect(t, Error{Request: TypeRotate, Message: "java.lang.IllegalArgumentException: rotation out of -1..3"})
		lines(t, a.step(t, c), 0, "refused frames")
		c.ping(t, 10)
	})

	t.Run("a dropped connection", func(t *testing.T) {
		// a gesture left down is cancelled, and the next connection served
		c.send(t, Touch{Action: ActionDown, Pointer: 3, X: 10, Y: 20, Pressure: 65535})
		lines(t, a.step(t, c), 1, "a touch down")
		c.Close()
		a.touch(t, a.stub(t), 3, "3:10:20:1:1")

		c2 := a.hello(t)
		c2.ping(t, 11)

		// a new connection takes over: the old one is closed, its gesture cancelled
		c2.send(t, Touch{Action: ActionDown, Pointer: 4, X: 1, Y: 2, Pressure: 65535})
		lines(t, a.step(t, c2), 1, "a touch down")
		c3 := a.hello(t)
		c2.expectClosed(t)
		got := a.step(t, c3)
		lines(t, got, 1, "a takeover")
		a.touch(t, got[0], 3, "4:1:2:1:1")
		c3.ping(t, 12)

		// a frame of length 0, or over 1 MiB, closes the connection
		c3.raw(t, []byte{0, 0, 0, 0})
		c3.expectClosed(t)
		c4 := a.hello(t)
		c4.raw(t, binary.BigEndian.AppendUint32(nil, MaxFrame+1))
		c4.expectClosed(t)

		// and the agent still serves
		c5 := a.hello(t)
		c5.ping(t, 13)
		c5.send(t, Key{Action: ActionDown, Code: 4})
		got = a.step(t, c5)
		lines(t, got, 1, "a key")
		a.key(t, got[0], 0, 4, 0, 0, 0)

		// a frame as large as allowed goes through
		big := strings.Repeat("x", MaxText)
		c5.send(t, SetClipboard{Text: big}, GetClipboard{})
		if m := c5.recv(t, 20*time.Second); !reflect.DeepEqual(m, Clipboard{Text: big}) {
			t.Errorf("GetClipboard after a %d-byte SetClipboard: %T", len(big), m)
		}
		got = a.step(t, c5)
		lines(t, got, 1, "a large SetClipboard")
		if _, kv := fields(got[0]); !strings.HasPrefix(got[0], "clip set ") || kv["big"] != strconv.Itoa(MaxText) {
			t.Errorf("stub: %q, want the clipboard set to %d bytes", got[0], MaxText)
		}
		c5.ping(t, 14)
	})

	// nothing else happened
	select {
	case l := <-a.lines:
		t.Errorf("agent's stdout: %q, want nothing more", l)
	case <-time.After(300 * time.Millisecond):
	}
	if a.cmd.ProcessState != nil {
		t.Errorf("the agent exited: %v", a.cmd.ProcessState)
	}

	// the end of its standard input (its adb shell closed) ends it
	a.stdin.Close()
	if l := a.line(t, 10*time.Second); l != "media-agent: standard input closed; exiting" {
		t.Errorf("agent's stdout after its standard input closed: %q", l)
	}
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the agent exited with %v after its standard input closed, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the agent still runs 10 s after its standard input closed")
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
