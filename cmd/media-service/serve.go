package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"

	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/service"
)

// serve reads the configuration, builds the logger and the listener, and
// runs the service until ctx ends.
func serve(ctx context.Context, logw io.Writer, lookup func(string) (string, bool)) error {
	cfg, err := config.Load(".env", lookup)
	if err != nil {
		return err
	}
	log := newLogger(logw, cfg.LogLevel, cfg.LogFormat)
	runtime.SetBlockProfileRate(cfg.PprofBlockRate)
	runtime.SetMutexProfileFraction(cfg.PprofMutexFraction)
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d (PORT): %w", cfg.Port, err)
	}
	return service.Run(ctx, service.Options{Config: cfg, Log: log, Listener: ln, Version: binaryVersion()})
}
