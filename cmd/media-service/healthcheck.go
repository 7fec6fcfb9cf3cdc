package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudphone/media-service/config"
)

// healthcheckTimeout bounds the whole request: a container runtime's own
// timeout (HEALTHCHECK --timeout) is longer.
const healthcheckTimeout = 3 * time.Second

// healthcheck asks the service running on this host, on PORT from the
// same configuration serve reads, for GET /health, and succeeds (0) only on
// 200. The images' HEALTHCHECK runs it: they carry no curl or wget.
func healthcheck(ctx context.Context, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	cfg, err := config.FromEnvironment(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "media-service: healthcheck: %v\n", err)
		return 1
	}
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)) + "/health"
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "media-service: healthcheck: %v\n", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "media-service: healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "media-service: healthcheck: GET %s: %s %s\n", url, resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintln(stdout, strings.TrimSpace(string(body)))
	return 0
}
