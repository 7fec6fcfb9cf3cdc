package devicesim

import (
	"bufio"
	"errors"
	"fmt"
	"image/color"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/agent"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/testutil"
)

// hostService opens service on the device through the adb server's host
// protocol, as the service's adb client does: the returned connection is
// the stream.
func hostService(adb *adbtest.Server, serial, service string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", adb.Addr(), generous)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(generous))
	for _, req := range []string{"host:transport:" + serial, service} {
		if _, err := fmt.Fprintf(c, "%04x%s", len(req), req); err != nil {
			c.Close()
			return nil, err
		}
		status := make([]byte, 4)
		if _, err := io.ReadFull(c, status); err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", req, err)
		}
		if string(status) != "OKAY" {
			msg := make([]byte, 4)
			io.ReadFull(c, msg)
			n, _ := strconv.ParseUint(string(msg), 16, 16)
			body := make([]byte, n)
			io.ReadFull(c, body)
			c.Close()
			return nil, fmt.Errorf("%s: %s %s", req, status, body)
		}
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// agentCommand is the command line the service starts the agent with.
func agentCommand(classpath, socket, secret string) string {
	return "shell:CLASSPATH=" + classpath + " app_process / " + agent.MainClass + " " + socket + " " + secret
}

// startAgent runs the agent on the device over a shell stream and returns
// the stream (closing it stops the agent) and its first line.
func startAgent(t *testing.T, adb *adbtest.Server, serial, classpath, socket, secret string) (net.Conn, string) {
	t.Helper()
	return firstLine(t, adb, serial, agentCommand(classpath, socket, secret))
}

// firstLine opens service and reads the first line of its output.
func firstLine(t *testing.T, adb *adbtest.Server, serial, service string) (net.Conn, string) {
	t.Helper()
	c, err := hostService(adb, serial, service)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(generous))
	line, err := bufio.NewReader(c).ReadString('\n')
	c.SetReadDeadline(time.Time{})
	if err != nil && line == "" {
		c.Close()
		t.Fatalf("agent's output: %v", err)
	}
	return c, line
}

// wire is a client of the agent that speaks frames.
type wire struct {
	t *testing.T
	c net.Conn
}

func dialAgent(t *testing.T, adb *adbtest.Server, serial, socket string) *wire {
	t.Helper()
	c, err := hostService(adb, serial, "localabstract:"+socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wire{t, c}
}

// on returns the client for use in test t (a subtest).
func (w *wire) on(t *testing.T) *wire { return &wire{t, w.c} }

func (w *wire) send(ms ...agent.Message) {
	w.t.Helper()
	var b []byte
	for _, m := range ms {
		b = agent.AppendFrame(b, m)
	}
	if _, err := w.c.Write(b); err != nil {
		w.t.Fatal(err)
	}
}

// recv reads the next frame of a known type.
func (w *wire) recv() (agent.Message, error) {
	w.c.SetReadDeadline(time.Now().Add(generous))
	defer w.c.SetReadDeadline(time.Time{})
	return agent.ReadMessage(w.c)
}

func (w *wire) must() agent.Message {
	w.t.Helper()
	m, err := w.recv()
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

// closed checks that the agent closes the connection.
func (w *wire) closed() {
	w.t.Helper()
	if m, err := w.recv(); err == nil {
		w.t.Fatalf("the agent answered %#v, want the connection closed", m)
	} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		w.t.Fatalf("read: %v, want the connection closed", err)
	}
}

// hello opens the conversation and checks Ready.
func (w *wire) hello(secret string, sdk int) {
	w.t.Helper()
	w.send(agent.Hello{Secret: []byte(secret)})
	if m := w.must(); m != (agent.Ready{SDK: int32(sdk), Version: agent.Version}) {
		w.t.Fatalf("after Hello: %#v", m)
	}
}

// sync sends a Ping and waits for its Pong: every request before it has
// been handled.
func (w *wire) sync(seq uint32) {
	w.t.Helper()
	w.send(agent.Ping{Seq: seq})
	for {
		m := w.must()
		if p, ok := m.(agent.Pong); ok {
			if p.Seq != seq || p.Version != agent.Version || p.Uptime < 0 {
				w.t.Fatalf("Pong %+v for Ping %d", p, seq)
			}
			return
		}
		w.t.Fatalf("waiting for Pong %d: %#v", seq, m)
	}
}

// pushDex pushes the agent's dex to where the service puts it.
func pushDex(t *testing.T, adb *adbtest.Server, serial string) {
	t.Helper()
	local := filepath.Join(t.TempDir(), "media-agent.dex")
	if err := os.WriteFile(local, agent.Dex, 0o644); err != nil {
		t.Fatal(err)
	}
	adb.Run(t, "-s", serial, "push", local, agent.DevicePath)
}

func rgbaAt(d *Device, x, y int) color.RGBA { return d.Screen().RGBAAt(x, y) }

// TestAgent starts the agent as the service does, through a real adb
// server, and speaks its protocol.
func TestAgent(t *testing.T) {
	t.Parallel()
	testutil.Deadline(t, testDeadline)
	adb := startADB(t)
	var logs logBuffer
	d := newDevice(t, Options{Width: 360, Height: 640, Static: true, NoCosts: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	serial := adb.Connect(t, d.Addr())
	const socket, secret = "media-agent-test", "s3cr3t"

	t.Run("no class", func(t *testing.T) {
		for _, line := range []string{
			agentCommand(agent.DevicePath, socket, secret), // not pushed yet
			"shell:app_process / " + agent.MainClass + " " + socket + " " + secret,
		} {
			c, out := firstLine(t, adb, serial, line)
			c.Close()
			if out != "Aborted \n" {
				t.Errorf("%s printed %q, want app_process's abort", line, out)
			}
		}
		d.PutFile("/data/local/tmp/other.dex", []byte("dex\n035\x00 not ours"), 0o644)
		c, out := startAgent(t, adb, serial, "/data/local/tmp/other.dex", socket, secret)
		c.Close()
		if out != "Aborted \n" || d.Agents() != 0 {
			t.Errorf("another dex: %q, %d agents", out, d.Agents())
		}
		if !strings.Contains(logs.String(), "ClassNotFoundException") {
			t.Error("no ClassNotFoundException in the device's log")
		}
	})

	pushDex(t, adb, serial)
	sh, line := startAgent(t, adb, serial, agent.DevicePath, socket, secret)
	defer sh.Close()
	if line != "media-agent "+agent.Version+" listening on @"+socket+"\n" {
		t.Fatalf("the agent printed %q", line)
	}
	if d.Agents() != 1 {
		t.Fatalf("%d agents listening, want 1", d.Agents())
	}

	t.Run("one name, one agent", func(t *testing.T) {
		c, out := startAgent(t, adb, serial, agent.DevicePath, socket, "other")
		c.Close()
		if out != "media-agent: java.io.IOException: Address already in use\n" {
			t.Fatalf("a second agent on @%s printed %q", socket, out)
		}
		if _, err := hostService(adb, serial, "localabstract:nobody-listens"); err == nil {
			t.Fatal("localabstract: to a name nobody listens on was accepted")
		}
	})

	t.Run("handshake", func(t *testing.T) {
		w := dialAgent(t, adb, serial, socket)
		w.send(agent.Hello{Secret: []byte("wrong")})
		w.closed()
		w = dialAgent(t, adb, serial, socket)
		w.send(agent.Ping{Seq: 1})
		w.closed()
		w = dialAgent(t, adb, serial, socket)
		w.hello(secret, DefaultSDK)
		w.sync(1)
		testutil.Eventually(t, "one agent client", generous, func() bool { return d.AgentClients() == 1 })
		// An unknown type is skipped; a malformed frame ends the connection.
		if _, err := w.c.Write([]byte{0, 0, 0, 3, 0x7f, 1, 2}); err != nil {
			t.Fatal(err)
		}
		w.sync(2)
		if _, err := w.c.Write([]byte{0, 0, 0, 3, agent.TypeTouch, 1, 2}); err != nil {
			t.Fatal(err)
		}
		w.closed()
		testutil.Eventually(t, "no agent client", generous, func() bool { return d.AgentClients() == 0 })
	})

	client := dialAgent(t, adb, serial, socket)
	client.hello(secret, DefaultSDK)

	t.Run("pinch", func(t *testing.T) {
		w := client.on(t)
		n := len(d.Events())
		w.send(
			agent.Touch{Action: agent.ActionDown, Pointer: 0, X: 100, Y: 150, Pressure: 65535},
			agent.Touch{Action: agent.ActionDown, Pointer: 1, X: 260, Y: 150, Pressure: 32768},
			agent.Touch{Action: agent.ActionMove, Pointer: 0, X: 120, Y: 150, Pressure: 65535},
			agent.Touch{Action: agent.ActionMove, Pointer: 1, X: 240, Y: 150, Pressure: 65535},
			agent.Touch{Action: agent.ActionUp, Pointer: 1, X: 240, Y: 150},
			agent.Touch{Action: agent.ActionUp, Pointer: 0, X: 120, Y: 150},
		)
		w.sync(3)
		ev := d.Events()[n:]
		want := []struct {
			action            string
			pointer, pointers int
		}{
			{ActionDown, 0, 1}, {ActionPointerDown, 1, 2}, {ActionMove, 0, 2},
			{ActionMove, 1, 2}, {ActionPointerUp, 1, 1}, {ActionUp, 0, 0},
		}
		if len(ev) != len(want) {
			t.Fatalf("%d events, want %d: %+v", len(ev), len(want), ev)
		}
		for i, e := range ev {
			if e.Kind != InputTouch || e.Source != SourceAgent || e.Action != want[i].action ||
				e.Pointer != want[i].pointer || e.Pointers != want[i].pointers || e.Gesture != ev[0].Gesture || e.Gesture == 0 {
				t.Errorf("event %d = %+v, want %s of pointer %d in gesture %d", i, e, want[i].action, want[i].pointer, ev[0].Gesture)
			}
		}
		if ev[0].Pressure != 1 || ev[1].Pressure < 0.49 || ev[1].Pressure > 0.51 || !ev[0].OnScreen() {
			t.Errorf("pressures %v, %v", ev[0].Pressure, ev[1].Pressure)
		}
		if got := rgbaAt(d, 120, 150); got != PointerColors[0] {
			t.Errorf("pixel at pointer 0 = %v, want %v", got, PointerColors[0])
		}
		if got := rgbaAt(d, 240, 150); got != PointerColors[1] {
			t.Errorf("pixel at pointer 1 = %v, want %v", got, PointerColors[1])
		}
		if !strings.Contains(logs.String(), "kind=touch source=agent action=pointer-down pointer=1 x=260 y=150") {
			t.Error("no log line for the second finger")
		}
		// A finger that is not down is an error, reported and ignored.
		w.send(agent.Touch{Action: agent.ActionMove, Pointer: 5, X: 1, Y: 1})
		if m := w.must(); m != (agent.Error{Request: agent.TypeTouch, Message: "pointer 5 is not down"}) {
			t.Fatalf("a move of a finger that is not down: %#v", m)
		}
	})

	t.Run("text and keys", func(t *testing.T) {
		w := client.on(t)
		n := len(d.Events())
		const text = "héllo 你好 🙂"
		w.send(agent.Text{Text: text},
			agent.Key{Action: agent.ActionDown, Code: 29, Meta: 1},
			agent.Key{Action: agent.ActionUp, Code: 29, Meta: 1},
			agent.Scroll{X: 180, Y: 320, V: -1.5})
		w.sync(4)
		ev := d.Events()[n:]
		if len(ev) != 4 || ev[0].Kind != InputText || ev[0].Text != text ||
			ev[1].Kind != InputKey || ev[1].Action != ActionDown || ev[1].KeyCode != 29 || ev[1].Meta != 1 ||
			ev[2].Action != ActionUp || ev[3].Kind != InputScroll || ev[3].ScrollV != -1.5 || ev[3].X != 180 {
			t.Fatalf("events %+v", ev)
		}
	})

	t.Run("clipboard", func(t *testing.T) {
		w := client.on(t)
		n := len(d.Events())
		w.send(agent.SetClipboard{Paste: true, Text: "copied ✓"}, agent.GetClipboard{})
		if m := w.must(); m != (agent.Clipboard{Changed: false, Text: "copied ✓"}) {
			t.Fatalf("GetClipboard: %#v", m)
		}
		if d.Clipboard() != "copied ✓" {
			t.Fatalf("the device's clipboard is %q", d.Clipboard())
		}
		if ev := d.Events()[n:]; len(ev) != 1 || ev[0].Kind != InputClipboard || !ev[0].Paste || ev[0].Text != "copied ✓" {
			t.Fatalf("events %+v", ev)
		}
		d.SetClipboard("from an app")
		if m := w.must(); m != (agent.Clipboard{Changed: true, Text: "from an app"}) {
			t.Fatalf("after a copy on the device: %#v", m)
		}
		adb.Shell(t, serial, "devicesim", "clipboard", quote("from the shell"))
		if m := w.must(); m != (agent.Clipboard{Changed: true, Text: "from the shell"}) {
			t.Fatalf("after devicesim clipboard: %#v", m)
		}
		if got := adb.Shell(t, serial, "devicesim", "clipboard"); got != "from the shell\n" {
			t.Fatalf("devicesim clipboard printed %q", got)
		}
	})

	t.Run("rotate and screen", func(t *testing.T) {
		w := client.on(t)
		w.send(agent.Rotate{Rotation: 1})
		w.sync(5)
		if d.Rotation() != 1 {
			t.Fatalf("rotation %d after Rotate 1", d.Rotation())
		}
		w.send(agent.Rotate{Rotation: -1})
		w.sync(6)
		if d.Rotation() != 0 {
			t.Fatalf("rotation %d after Rotate -1, want the start's 0", d.Rotation())
		}
		w.send(agent.Screen{On: false})
		w.sync(7)
		black := color.RGBA{0, 0, 0, 255}
		if got := rgbaAt(d, 180, 100); got != black {
			t.Fatalf("pixel %v with the screen off", got)
		}
		w.send(agent.Screen{On: true})
		w.sync(8)
		if got := rgbaAt(d, 180, 100); got == black {
			t.Fatal("the screen is still black after Screen on")
		}
		ev := d.Events()
		if last := ev[len(ev)-1]; last.Kind != InputScreen || !last.On {
			t.Fatalf("last event %+v", last)
		}
	})

	t.Run("killed", func(t *testing.T) {
		c, line := startAgent(t, adb, serial, agent.DevicePath, "to-kill", secret)
		defer c.Close()
		if !strings.HasSuffix(line, "@to-kill\n") || d.Agents() != 2 {
			t.Fatalf("second agent: %q, %d listening", line, d.Agents())
		}
		k := dialAgent(t, adb, serial, "to-kill")
		k.hello(secret, DefaultSDK)
		if n := d.KillAgents(); n != 2 {
			t.Fatalf("KillAgents killed %d, want 2", n)
		}
		k.on(t).closed()
		client.on(t).closed()
		c.SetReadDeadline(time.Now().Add(generous))
		if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
			t.Fatalf("the killed agent's stream: %q, %v; want it ended", rest, err)
		}
		testutil.Eventually(t, "no agent listening", generous, func() bool { return d.Agents() == 0 })
		sh.Close()
	})

	t.Run("the agent dies with its stream", func(t *testing.T) {
		sh, line := startAgent(t, adb, serial, agent.DevicePath, socket, secret)
		if !strings.HasSuffix(line, "@"+socket+"\n") {
			t.Fatalf("agent: %q", line)
		}
		client := dialAgent(t, adb, serial, socket)
		client.hello(secret, DefaultSDK)
		w := client.on(t)
		w.send(agent.Touch{Action: agent.ActionDown, Pointer: 2, X: 10, Y: 10})
		w.sync(9)
		n := len(d.Events())
		sh.Close()
		w.closed()
		// The gesture under way when the connection ended is cancelled.
		testutil.Eventually(t, "the cancel", generous, func() bool { return len(d.Events()) > n })
		if e := d.Events()[n]; e.Kind != InputTouch || e.Action != ActionCancel || e.Pointer != 2 || e.Pointers != 0 {
			t.Fatalf("after the connection ended: %+v", e)
		}
		testutil.Eventually(t, "no agent listening", generous, func() bool { return d.Agents() == 0 })
		if _, err := hostService(adb, serial, "localabstract:"+socket); err == nil {
			t.Fatal("localabstract: reached a dead agent")
		}
	})
}

// TestAgentRefused is a device whose vendor forbids injecting input.
func TestAgentRefused(t *testing.T) {
	t.Parallel()
	testutil.Deadline(t, testDeadline)
	adb := startADB(t)
	d := newDevice(t, Options{Width: 64, Height: 64, Static: true, NoCosts: true, Agent: AgentRefuse, SDK: 30})
	serial := adb.Connect(t, d.Addr())
	pushDex(t, adb, serial)
	c, out := startAgent(t, adb, serial, agent.DevicePath, "refused", "x")
	defer c.Close()
	const want = "media-agent: java.lang.SecurityException: Injecting input events requires the caller " +
		"(or the source of the instrumentation, if any) to have the INJECT_EVENTS permission.\n"
	if out != want || d.Agents() != 0 {
		t.Fatalf("the agent printed %q (%d listening), want %q", out, d.Agents(), want)
	}
	if got := adb.Shell(t, serial, "getprop", "ro.build.version.release"); got != "11\n" {
		t.Fatalf("release %q at SDK 30", got)
	}
}
