package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/service"
)

// serve reads the configuration, builds the logger and the listener, and
// runs the service until ctx ends. A reload (SIGHUP: the channel
// service.WithReload put in ctx; or, with CONFIG_WATCH, a change of
// CONFIG_FILE's content) reads the configuration again the same way.
func serve(ctx context.Context, logw io.Writer, lookup func(string) (string, bool)) error {
	load := func() (config.Config, error) { return config.FromEnvironment(lookup) }
	cfg, err := load()
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	log := newLogger(logw, level, cfg.LogLevel, cfg.LogFormat)
	runtime.SetBlockProfileRate(cfg.PprofBlockRate)
	runtime.SetMutexProfileFraction(cfg.PprofMutexFraction)
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d (PORT): %w", cfg.Port, err)
	}
	reload := service.ReloadOf(ctx)
	if cfg.ConfigWatch {
		ch := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go forward(ctx, reload, ch)
		go watchFile(ctx, cfg.ConfigFile, 2*time.Second, ch)
		reload = ch
	}
	return service.Run(ctx, service.Options{Config: cfg, Log: log, LogLevel: level, Listener: ln, Version: binaryVersion(),
		Reload: reload, Load: load})
}

// forward passes every receive from in on to out, until ctx ends.
func forward(ctx context.Context, in <-chan struct{}, out chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-in: // a nil in blocks: nothing to forward
			poke(out)
		}
	}
}

// poke asks for a reload without waiting: one pending is enough.
func poke(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// watchFile pokes ch whenever file's content differs from the last seen,
// checked every interval until ctx ends. It reads the content, not the
// modification time: a Kubernetes ConfigMap is updated by swapping a
// symbolic link, and editors may keep the time. A file that cannot be
// read counts as a change only once it can be read again.
func watchFile(ctx context.Context, file string, interval time.Duration, ch chan<- struct{}) {
	last, _ := os.ReadFile(file)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(file)
		if err != nil || bytes.Equal(data, last) {
			continue
		}
		last = data
		poke(ch)
	}
}
