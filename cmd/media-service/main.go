// Command media-service streams Android screens to browsers over WebRTC.
// See the README, docs/configuration.md and docs/deployment.md for
// configuration and operation.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cloudphone/media-service/service"
)

func main() {
	ctx, stop := context.WithCancel(context.Background())
	drain := make(chan struct{})
	reload := make(chan struct{}, 1)
	signals := make(chan os.Signal, 2)
	args := os.Args[1:]
	serving := len(args) == 0 || args[0] == "serve"
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	if serving {
		signal.Notify(signals, syscall.SIGHUP)
	}
	go onSignals(signals, serving, drain, reload, stop)
	ctx = service.WithReload(service.WithDrain(ctx, drain), reload)
	code := run(ctx, args, os.Stdout, os.Stderr, os.LookupEnv)
	signal.Stop(signals)
	stop()
	os.Exit(code)
}

// onSignals turns signals into the service's ways to stop. While serving,
// the first SIGTERM starts the drain (closes drain): no new sessions, the
// running ones kept for DRAIN_TIMEOUT, so that a rolling upgrade drops no
// viewer; a second SIGTERM, or SIGINT, stops at once (stop ends run's
// context). SIGHUP, while serving, asks for a configuration reload (a
// send on reload, which holds one pending). Any other command stops at
// once on SIGTERM or SIGINT. The service logs each step.
func onSignals(signals <-chan os.Signal, serving bool, drain, reload chan<- struct{}, stop func()) {
	draining := false
	for sig := range signals {
		if sig == syscall.SIGHUP {
			poke(reload)
			continue
		}
		if serving && sig == syscall.SIGTERM && !draining {
			draining = true
			close(drain)
			continue
		}
		stop()
		return
	}
}
