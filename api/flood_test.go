package api

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
)

// slowBodies opens n connections that each send a request's headers and
// the start of a body promised much longer, then nothing more: a slow
// body. Half carry a valid token, so that their body is read by a
// handler; the others are refused before their body is read. It returns
// the connections that the server accepted.
func slowBodies(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		auth := ""
		if i%2 == 0 {
			auth = "Authorization: Bearer " + testToken + "\r\n"
		}
		// A write to a connection the server closed at once (past the
		// cap) may fail: that connection is not held, which is the point.
		_, _ = fmt.Fprintf(c, "POST /api/media/sessions HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"deviceId\":", auth)
		conns = append(conns, c)
	}
	return conns
}

// waitClosed waits until the server has closed every connection (a read
// ends in EOF or a reset rather than the guard's timeout), and reports
// how many it had not closed within the guard.
func waitClosed(conns []net.Conn, guard time.Duration) (open int) {
	end := time.Now().Add(guard)
	for _, c := range conns {
		c.SetReadDeadline(end)
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			open++
		}
		c.Close()
	}
	return open
}

// floodSize is how many slow connections the test opens: 2000, or fewer
// when the open-file limit (the test holds both ends of each) is lower.
func floodSize(t *testing.T, want, floods int) int {
	fds := openFileLimit()
	if fds == 0 {
		return want
	}
	if n := (fds - 512) / (2 * floods); n < want {
		t.Logf("open-file limit %d: %d slow connections instead of %d", fds, n, want)
		return max(n, 64)
	}
	return want
}

// TestSlowBodiesCannotHoldTheServer: 2000 connections trickling bodies
// do not keep /health from answering. Once with room for them all, once
// with MAX_CONNECTIONS far below them, where the health reserve lets the
// probe in and reaching the cap is logged once per episode. (That they
// are cut by the body deadline is TestSlowRequestsAreCut's.)
func TestSlowBodiesCannotHoldTheServer(t *testing.T) {
	n := floodSize(t, 2000, 2)
	for _, tc := range []struct {
		name     string
		maxConns int
	}{
		{"under the cap", 4096},
		{"over the cap", 256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := &testutil.SyncBuffer{}
			s := New(Options{Tokens: []Token{{Name: "test", Secret: testToken}}, RateLimit: 1_000_000, MaxConnections: tc.maxConns,
				Log: slog.New(slog.NewTextHandler(logs, nil))}, Deps{Sessions: &recordingSessions{}})
			// Deadlines that outlast the test: the slow connections stay
			// until the test closes them.
			s.t.header, s.t.body, s.t.reserve = time.Hour, time.Hour, time.Second
			base := serve(t, s)
			addr := base[len("http://"):]
			testutil.Eventually(t, "Serve running", time.Minute, func() bool { return s.conns.Load() != nil })
			cl := s.conns.Load()

			conns := slowBodies(t, addr, n)
			t.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
			})
			held := min(n, cl.normal)
			// Every slow connection accepted, those past the normal slots
			// turned away: what is left is held by slow bodies.
			testutil.Eventually(t, "the slow connections held", time.Minute, func() bool {
				open, accepted := cl.counts()
				return accepted >= n && open == held
			})

			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
			for _, p := range []string{"/health", "/ready"} {
				resp, err := client.Get(base + p)
				if err != nil {
					t.Fatalf("%s while %d slow bodies are open: %v", p, n, err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("%s while %d slow bodies are open: %d", p, n, resp.StatusCode)
				}
			}
			if open, _ := cl.counts(); open < held {
				t.Fatalf("%d connections open after the probes, want the %d slow ones still there", open, held)
			}
			reached, relieved := "connection limit reached", "connections below the limit again"
			if tc.maxConns >= n {
				for _, c := range conns {
					c.Close()
				}
				testutil.Eventually(t, "every connection released", time.Minute, func() bool { open, _ := cl.counts(); return open == 0 })
				if logs.Count(reached) != 0 {
					t.Fatalf("the cap was logged without being reached:\n%s", logs)
				}
				return
			}

			// An API call over the cap is answered at once, with why.
			resp, err := client.Get(base + "/api/media/devices")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "MAX_CONNECTIONS") {
				t.Fatalf("an API call over the cap: %d %v %s", resp.StatusCode, resp.Header, body)
			}
			// Reaching the cap, and its relief, each logged once however
			// many connections were turned away; and again for a second
			// episode.
			for episode := 1; episode <= 2; episode++ {
				if episode == 2 {
					conns = slowBodies(t, addr, cl.normal+8)
				}
				testutil.Eventually(t, "the cap reached", time.Minute, func() bool { return logs.Count(reached) == episode })
				for _, c := range conns {
					c.Close()
				}
				testutil.Eventually(t, "the cap relieved", time.Minute, func() bool { return logs.Count(relieved) == episode })
				testutil.Eventually(t, "every connection released", time.Minute, func() bool { open, _ := cl.counts(); return open == 0 })
				if logs.Count(reached) != episode || logs.Count(relieved) != episode {
					t.Fatalf("episode %d: want the cap and its relief logged once each:\n%s", episode, logs)
				}
			}
		})
	}
}

// TestSlowRequestsAreCut: a body (refused before it is read, or read by
// a handler) or headers that never end are cut by their deadline.
func TestSlowRequestsAreCut(t *testing.T) {
	s := New(Options{Tokens: []Token{{Name: "test", Secret: testToken}}, RateLimit: 1_000_000, Log: slog.New(slog.DiscardHandler)},
		Deps{Sessions: &recordingSessions{}})
	s.t.header, s.t.body = time.Second, time.Second
	base := serve(t, s)
	addr := base[len("http://"):]
	conns := slowBodies(t, addr, 40)
	for range 10 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		conns = append(conns, c)
	}
	// A handler reading a body that stops arriving answers 408.
	for _, r := range []string{
		"POST /whep/dev1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testToken + "\r\nContent-Type: application/sdp\r\nContent-Length: 1000\r\n\r\nv=0\r\n",
		"POST /api/media/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testToken + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, r)
		c.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("%.20s: %d, want 408", r, resp.StatusCode)
		}
	}
	if open := waitClosed(conns, time.Minute); open > 0 {
		t.Fatalf("%d of %d slow requests still open", open, len(conns))
	}
	// Headers past MaxHeaderBytes are refused.
	if resp := do(t, "GET", base+"/health", "", "", "", map[string]string{"X-Big": strings.Repeat("a", 2*maxHeaderBytes)}, nil); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("%d KiB of headers: %d", 2*maxHeaderBytes>>10, resp.StatusCode)
	}
	if resp := do(t, "GET", base+"/health", "", "", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("health: %d", resp.StatusCode)
	}
}
