package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// healthServer serves /health with status code on 127.0.0.1 and returns
// its port.
func healthServer(t *testing.T, code int) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	}))
	t.Cleanup(s.Close)
	_, port, err := net.SplitHostPort(s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func TestHealthcheck(t *testing.T) {
	inDir(t, "")
	var out, errw bytes.Buffer
	port := healthServer(t, http.StatusOK)
	if code := run(context.Background(), []string{"healthcheck"}, &out, &errw, env(map[string]string{"PORT": port})); code != 0 || !strings.Contains(out.String(), `"ok"`) {
		t.Fatalf("healthy: %d %q %q", code, out.String(), errw.String())
	}

	errw.Reset()
	port = healthServer(t, http.StatusServiceUnavailable)
	if code := run(context.Background(), []string{"healthcheck"}, &out, &errw, env(map[string]string{"PORT": port})); code != 1 || !strings.Contains(errw.String(), "503") {
		t.Fatalf("unhealthy: %d %q", code, errw.String())
	}

	// Nothing listening: a closed port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	errw.Reset()
	if code := run(context.Background(), []string{"healthcheck"}, &out, &errw, env(map[string]string{"PORT": port})); code != 1 || errw.Len() == 0 {
		t.Fatalf("no service: %d %q", code, errw.String())
	}

	// An invalid configuration fails, naming the variable.
	errw.Reset()
	if code := run(context.Background(), []string{"healthcheck"}, &out, &errw, env(map[string]string{"PORT": "0"})); code != 1 || !strings.Contains(errw.String(), "PORT") {
		t.Fatalf("invalid PORT: %d %q", code, errw.String())
	}
}
