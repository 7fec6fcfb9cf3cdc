// Command media-service streams Android screens to browsers over WebRTC.
// See the README for configuration and operation.
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
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	args := os.Args[1:]
	serving := len(args) == 0 || args[0] == "serve"
	go onSignals(signals, serving, drain, stop)
	code := run(service.WithDrain(ctx, drain), args, os.Stdout, os.Stderr, os.LookupEnv)
	signal.Stop(signals)
	stop()
	os.Exit(code)
}

// onSignals turns signals into the service's ways to stop. While serving,
// the first SIGTERM starts the drain (closes drain): no new sessions, the
// running ones kept for DRAIN_TIMEOUT, so that a rolling upgrade drops no
// viewer; a second SIGTERM, or SIGINT, stops at once (stop ends run's
// context). Any other command stops at once on either. The service logs
// each step.
func onSignals(signals <-chan os.Signal, serving bool, drain chan<- struct{}, stop func()) {
	draining := false
	for sig := range signals {
		if serving && sig == syscall.SIGTERM && !draining {
			draining = true
			close(drain)
			continue
		}
		stop()
		return
	}
}
