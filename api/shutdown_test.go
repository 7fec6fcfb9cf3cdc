package api

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/labstack/echo/v4"
)

// stopping serves s on a free loopback port; stop ends Serve's context
// and returns Serve's error and how long it took to return.
func stopping(t *testing.T, s *Server) (addr string, stop func() (time.Duration, error)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	stopped := false
	stop = func() (time.Duration, error) {
		stopped = true
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			return time.Since(start), err
		case <-time.After(testutil.Generous):
			t.Fatalf("Serve did not return %v after its context ended", testutil.Generous)
			return 0, nil
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return ln.Addr().String(), stop
}

// dialRaw opens a TCP connection to addr and writes what (nothing when
// empty); it is closed when the test ends.
func dialRaw(t *testing.T, addr, what string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if what != "" {
		if _, err := io.WriteString(c, what); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// closedByServer reports whether the server has closed c: a read ends
// with EOF or a reset, not with a timeout.
func closedByServer(t *testing.T, c net.Conn, r io.Reader) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testutil.Generous))
	_, err := io.ReadAll(r)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// TestServeStopsCleanlyWithIdleConnections: a browser keeps keep-alive
// connections idle between requests, and opens spare ones that send
// nothing until needed. When Serve stops, it closes them all and returns
// no error (an error fails the command's exit status), logging no error
// nor warning, without waiting for Go's five seconds on a connection
// that never sent a request.
func TestServeStopsCleanlyWithIdleConnections(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	logs := &testutil.SyncBuffer{}
	s := New(Options{AuthDisabled: true, Log: slog.New(slog.NewTextHandler(logs, nil))}, Deps{})
	addr, stop := stopping(t, s)

	// A keep-alive connection that has had its answer and stays idle.
	idle := dialRaw(t, addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	idleR := bufio.NewReader(idle)
	resp, err := http.ReadResponse(idleR, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /health: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	// A spare connection that sent nothing, and one that sent half a
	// request's headers.
	unsent := dialRaw(t, addr, "")
	half := dialRaw(t, addr, "GET /health HTTP/1.1\r\nHost: x\r\n")
	// All three are the server's before it stops.
	testutil.Eventually(t, "the server to hold the three connections", testutil.Generous, func() bool {
		cl := s.conns.Load()
		if cl == nil {
			return false
		}
		open, _ := cl.counts()
		return open == 3
	})

	took, err := stop()
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	t.Logf("Serve returned %v after its context ended (unsent grace %v, shutdown grace %v)", took, s.t.unsent, s.t.shutdown)
	for name, c := range map[string]net.Conn{"idle": idle, "unsent": unsent, "half": half} {
		var r io.Reader = c
		if c == idle {
			r = idleR
		}
		if !closedByServer(t, c, r) {
			t.Errorf("the %s connection is still open after Serve returned", name)
		}
	}
	if open, _ := s.conns.Load().counts(); open != 0 {
		t.Errorf("%d connections still counted open", open)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
			t.Errorf("logged: %s", line)
		}
	}
	if logs.Count("msg=stopped") != 1 {
		t.Errorf("the logs do not say once that the server stopped:\n%s", logs.String())
	}
}

// TestServeCutsRequestsPastTheGrace: a request still in flight when the
// shutdown grace has passed is cut short, and that is Serve's error,
// while an idle connection beside it is not.
func TestServeCutsRequestsPastTheGrace(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	s := New(Options{AuthDisabled: true, Log: slog.New(slog.DiscardHandler)}, Deps{})
	s.t.shutdown, s.t.unsent = 300*time.Millisecond, 100*time.Millisecond
	arrived := make(chan struct{}, 1)
	s.echo.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Method == http.MethodPost {
				arrived <- struct{}{}
			}
			return next(c)
		}
	})
	addr, stop := stopping(t, s)

	// A request whose body stops arriving: in flight until ReadTimeout.
	slow := dialRaw(t, addr, "POST /api/media/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Length: 1000\r\n\r\n{\"deviceId\":")
	idle := dialRaw(t, addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	idleR := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(idleR, nil); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	select {
	case <-arrived: // its headers are read: it is in flight
	case <-time.After(testutil.Generous):
		t.Fatal("the slow request did not reach the handlers")
	}

	took, err := stop()
	if err == nil || !strings.Contains(err.Error(), "1 requests still running") {
		t.Fatalf("Serve = %v, want the request cut short", err)
	}
	t.Logf("Serve returned %v after %v", err, took)
	if !closedByServer(t, slow, slow) || !closedByServer(t, idle, idleR) {
		t.Error("a connection is still open after Serve returned")
	}
}

// TestServeFinishesRequestsInFlight: a request in flight when Serve stops
// gets its answer, within the grace, and that is no error.
func TestServeFinishesRequestsInFlight(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	s := New(Options{AuthDisabled: true, Log: slog.New(slog.DiscardHandler)}, Deps{})
	arrived, release := make(chan struct{}), make(chan struct{})
	s.echo.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().Header.Get("X-Hold") != "" {
				close(arrived)
				<-release
			}
			return next(c)
		}
	})
	addr, stop := stopping(t, s)
	held := dialRaw(t, addr, "GET /health HTTP/1.1\r\nHost: x\r\nX-Hold: 1\r\n\r\n")
	<-arrived
	type result struct {
		err  error
		took time.Duration
	}
	stopped := make(chan result, 1)
	go func() { took, err := stop(); stopped <- result{err, took} }()
	// Once the listener is closed, the shutdown is under way.
	testutil.Eventually(t, "the listener to close", testutil.Generous, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(held), nil)
	if err != nil {
		t.Fatalf("the request in flight got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("the request in flight: %d, close %v; want 200 and the connection closed after it", resp.StatusCode, resp.Close)
	}
	if r := <-stopped; r.err != nil {
		t.Errorf("Serve: %v", r.err)
	}
}
