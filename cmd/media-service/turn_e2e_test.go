package main

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/chromium"
	"github.com/cloudphone/media-service/internal/testutil"

	"github.com/pion/stun/v4"
)

// coturn is Debian's TURN server (turnserver), run by a test on loopback
// with the TURN REST API's shared secret (use-auth-secret).
type coturn struct {
	url string // turn:127.0.0.1:PORT?transport=udp
	log *testutil.SyncBuffer
}

// startCoturn starts turnserver on free loopback ports, listening and
// relaying on 127.0.0.1, with static-auth-secret secret, and stops it
// (its whole process group) when the test ends. Loopback peers are
// allowed: the service's candidates are on this host. Without coturn the
// test is skipped, or fails under CI=true.
func startCoturn(t *testing.T, secret string) *coturn {
	t.Helper()
	bin, err := exec.LookPath("turnserver")
	if err != nil {
		testutil.SkipOrFail(t, "turnserver is not installed (Debian package coturn)")
	}
	port := freeUDPAndTCPPort(t)
	lo, hi := freeUDPRange(t, 32)
	dir := t.TempDir()
	c := &coturn{url: fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", port), log: &testutil.SyncBuffer{}}
	cmd := exec.Command(bin, "-n", "--no-cli", "-v",
		"--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--allow-loopback-peers",
		"--use-auth-secret", "--static-auth-secret="+secret, "--realm=test",
		"--listening-port="+strconv.Itoa(port), "--min-port="+strconv.Itoa(lo), "--max-port="+strconv.Itoa(hi),
		"--no-tls", "--no-dtls", "--relay-threads=1", "--log-file=stdout", "--simple-log",
		"--pidfile="+dir+"/turnserver.pid", "--db="+dir+"/turndb")
	cmd.Stdout, cmd.Stderr = c.log, c.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start turnserver: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Error("turnserver did not exit after SIGKILL")
		}
		if t.Failed() {
			t.Logf("turnserver log:\n%s", c.log.String())
		}
	})
	// Ready when it answers a STUN binding request on its port.
	testutil.EventuallyErr(t, "turnserver to answer STUN", testutil.Generous, func() (bool, error) {
		select {
		case err := <-exited:
			exited <- err
			return false, fmt.Errorf("turnserver exited (%v): %s", err, c.log.String())
		default:
		}
		return stunAnswers(fmt.Sprintf("127.0.0.1:%d", port)), nil
	})
	return c
}

// stunAnswers reports whether a STUN server answers a binding request at
// addr within a second.
func stunAnswers(addr string) bool {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	m := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := conn.Write(m.Raw); err != nil {
		return false
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		return false
	}
	var resp stun.Message
	resp.Raw = buf[:n]
	return resp.Decode() == nil && resp.Type == stun.BindingSuccess && resp.TransactionID == m.TransactionID
}

// freeUDPAndTCPPort returns a loopback port free for UDP and TCP alike
// (coturn listens on both).
func freeUDPAndTCPPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

// freeUDPRange returns n consecutive UDP ports, all free on loopback, for
// coturn's relay endpoints; the high range above the ephemeral ports the
// system hands out, and away from the service's defaults.
func freeUDPRange(t *testing.T, n int) (lo, hi int) {
	t.Helper()
	for base := 61000 + int(time.Now().UnixNano()%2000); base+n < 65535; base += n {
		var held []net.PacketConn
		ok := true
		for p := base; p < base+n; p++ {
			c, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
		if ok {
			return base, base + n - 1
		}
	}
	t.Fatal("no free UDP port range")
	return 0, 0
}

// turnViewer opens the viewer page in relay-only mode (?relay=1): the
// browser gathers TURN relay candidates only, with the ICE servers and
// credentials the service hands out.
func turnViewer(t *testing.T, base string, sim *devicesim.Device) *viewerPage {
	t.Helper()
	p := &viewerPage{tb: t, b: chromium.Launch(t), base: base, sim: sim}
	if err := p.b.Navigate(fmt.Sprintf("%s/?device=%s&token=%s&relay=1", base, sim.Addr(), e2eToken)); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTURNRelayWithSharedSecret runs the service with TURN_SECRET against
// a real coturn that has the same static-auth-secret, and the viewer page
// in headless Chromium with relay-only ICE: it plays through the relay
// (the selected pair's local candidate is a relay one; frames keep
// arriving), a click lands on the device, and coturn logged allocations
// with the derived credentials of the page (its token's) and of the
// service's own side (the session's). With a TURN_SECRET that is not
// coturn's, the page does not play and says why: the 401 of its
// icecandidateerror.
func TestTURNRelayWithSharedSecret(t *testing.T) {
	testutil.Deadline(t, 5*time.Minute)
	const secret = "coturn-shared-secret-4711"
	turn := startCoturn(t, secret)

	t.Run("relay", func(t *testing.T) {
		base, sim, logs := startService(t, map[string]string{"TURN_URLS": turn.url, "TURN_SECRET": secret, "TURN_CREDENTIAL_TTL": "10m"})
		defer func() {
			if strings.Contains(logs.String(), secret) {
				t.Error("the TURN secret appears in the service's logs")
			}
		}()
		p := turnViewer(t, base, sim)
		p.waitJS("the page to play through the TURN relay", `viewer.connected && viewer.framesDecoded >= 10 &&
			viewer.path && viewer.path.local === "relay"`)
		var st struct {
			Frames int `json:"frames"`
			Path   struct {
				Local, Remote, RelayProtocol string
			} `json:"path"`
			Error any `json:"error"`
		}
		p.eval(`({frames: viewer.framesDecoded, path: viewer.path, error: viewer.iceError})`, &st)
		t.Logf("playing through %+v, %d frames", st.Path, st.Frames)
		if st.Error != nil {
			t.Errorf("an ICE error while playing: %v", st.Error)
		}
		// Frames keep arriving through the relay.
		p.waitJS("more frames through the relay", fmt.Sprintf(`viewer.framesDecoded >= %d && viewer.path.local === "relay"`, st.Frames+15))

		// Input goes the same way, over the data channel: a click is a
		// touch on the device.
		waitInputMethod(t, base, "agent")
		p.locate()
		mark := p.mark()
		if err := p.b.Click(p.rect.X+0.25*p.rect.W, p.rect.Y+0.5*p.rect.H); err != nil {
			t.Fatal(err)
		}
		touches := waitTouchUp(t, sim, mark, "the click to reach the device through the relay")
		if down := touches[0]; down.Action != devicesim.ActionDown || !nearPixel(down.X, 0.25, 360) || !nearPixel(down.Y, 0.5, 640) {
			t.Errorf("the click arrived as:\n%s", describeEvents(touches))
		}

		// coturn allocated relays with credentials derived from its
		// secret: the page's (its token, token1) and the service's own
		// (the session ID).
		var session string
		p.eval(`viewer.session`, &session)
		testutil.Eventually(t, "coturn to log the allocations", testutil.Generous, func() bool {
			l := turn.log.String()
			return allocatedFor(l, "token1") && allocatedFor(l, session)
		})
		t.Logf("coturn: %s", sessionLine(turn.log.String(), "token1", "ALLOCATE processed, success"))
		t.Logf("coturn: %s", sessionLine(turn.log.String(), session, "ALLOCATE processed, success"))
	})

	t.Run("wrong secret", func(t *testing.T) {
		base, sim, _ := startService(t, map[string]string{"TURN_URLS": turn.url, "TURN_SECRET": "not-the-coturn-secret"})
		p := turnViewer(t, base, sim)
		p.waitJS("the page to say why it cannot relay", `viewer.iceError && /401/.test(viewer.iceError.text)`)
		var st struct {
			Text   string `json:"text"`
			Errors []struct {
				URL       string
				ErrorCode int
			}
			Box       string `json:"box"`
			Frames    int    `json:"frames"`
			Connected bool   `json:"connected"`
			Session   any    `json:"session"`
		}
		p.eval(`({text: viewer.iceError.text, errors: viewer.iceError.errors.map((e) => ({url: e.url, errorCode: e.errorCode})),
			box: document.getElementById("refusal").hidden ? "" : document.getElementById("refusal").textContent,
			frames: viewer.framesDecoded, connected: viewer.connected, session: viewer.session})`, &st)
		t.Logf("the page says: %s", st.Text)
		if !strings.Contains(st.Text, "refused the credentials") || !strings.Contains(st.Text, "TURN_SECRET") || st.Box != st.Text {
			t.Errorf("the page says %q (box %q); want the TURN server's refusal of the credentials, shown", st.Text, st.Box)
		}
		if len(st.Errors) == 0 || st.Errors[0].ErrorCode != 401 || !strings.HasPrefix(st.Errors[0].URL, "turn:127.0.0.1:") {
			t.Errorf("icecandidateerror events %+v, want a 401 from the TURN server", st.Errors)
		}
		if st.Frames != 0 || st.Connected || st.Session != nil {
			t.Errorf("it played: %d frames, connected %v, session %v", st.Frames, st.Connected, st.Session)
		}
		// coturn refused the page's derived username.
		testutil.Eventually(t, "coturn to log the refusal", testutil.Generous, func() bool {
			return refusedFor(turn.log.String(), "token1")
		})
		t.Logf("coturn: %s", sessionLine(turn.log.String(), "token1", "error 401"))
	})
}

// allocatedFor reports whether coturn's log shows a successful ALLOCATE
// in a session whose derived username ends with ":user".
func allocatedFor(log, user string) bool {
	return sessionLine(log, user, "ALLOCATE processed, success") != ""
}

// refusedFor reports whether coturn's log shows a request of a session
// whose derived username ends with ":user" refused for its credentials
// (401).
func refusedFor(log, user string) bool {
	return sessionLine(log, user, "error 401") != ""
}

// sessionLine returns the first line of coturn's log that is about a
// session whose username ends with ":user" and contains what. coturn
// names the session (its ID) on every line, and its username on some:
// "session 001000000000000001: realm <test> user <1700000000:token1>:
// incoming packet ALLOCATE processed, success".
func sessionLine(log, user, what string) string {
	if user == "" {
		return ""
	}
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, ":"+user+">") && strings.Contains(line, what) {
			return line
		}
	}
	return ""
}
