// Command fleetlab runs a fleet of the service on this machine (package
// lab): a real kube-apiserver, simulated devices, instances of the service
// behind a proxy. It is what `make fleet` runs:
//
//	cd test/fleet && ../../third_party/with-ffmpeg.sh go run ./cmd/fleetlab -repo ../..
//
// It writes REPO/.fleet/env (PROXY, INSTANCES, DEVICES, TOKEN, PID_N,
// KUBECONFIG, NAMESPACE, DIR), keeps the lab's files under REPO/.fleet/lab
// (each instance's log, the kubeconfig, the API server's log) and prints
// every instance's output prefixed with its name. Ctrl-C (or SIGTERM)
// stops everything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cloudphone/media-service/test/fleet/lab"
	"k8s.io/klog/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleetlab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	repo := fs.String("repo", "../..", "the service's repository root")
	instances := fs.Int("instances", 3, "instances of the service")
	devices := fs.Int("devices", 6, "simulated devices")
	source := fs.String("source", lab.SourceKubernetes, "the instances' DEVICE_SOURCE: kubernetes or static")
	lease := fs.Duration("lease", 10*time.Second, "LEASE_DURATION")
	drain := fs.Duration("drain", 5*time.Second, "DRAIN_TIMEOUT")
	level := fs.String("log-level", "debug", "the instances' LOG_LEVEL")
	quiet := fs.Bool("quiet", false, "do not print the instances' output (it stays in their log files)")
	token := fs.String("token", "", "the API token (default: a random one)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	root, err := filepath.Abs(*repo)
	if err != nil {
		fmt.Fprintln(stderr, "fleetlab:", err)
		return 2
	}
	state := filepath.Join(root, ".fleet")
	dir := filepath.Join(state, "lab")
	if err := os.RemoveAll(dir); err != nil { // the last run's
		fmt.Fprintln(stderr, "fleetlab:", err)
		return 1
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(stderr, "fleetlab:", err)
		return 1
	}
	quietKlog(filepath.Join(dir, "klog.log"))

	cfg := lab.Config{
		Repo: root, Dir: dir, Instances: *instances, Devices: *devices, DeviceSource: *source,
		LeaseDuration: *lease, DrainTimeout: *drain, LogLevel: *level, Token: *token,
		Output: stderr, StartTimeout: 3 * time.Minute,
	}
	if *quiet {
		cfg.Output = nil
	}
	l, err := lab.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "fleetlab:", err)
		return 1
	}
	envFile := filepath.Join(state, "env")
	code := 0
	if err := l.WriteEnv(envFile); err != nil {
		fmt.Fprintln(stderr, "fleetlab:", err)
		code = 1
	} else {
		fmt.Fprintf(stdout, "\nfleetlab: a fleet of %d instances and %d devices is up.\n", *instances, *devices)
		fmt.Fprintf(stdout, "  proxy (the Service):  %s\n", l.ProxyURL())
		for _, in := range l.Instances() {
			fmt.Fprintf(stdout, "  %-20s  %s  pid %d  log %s\n", in.Name()+":", in.URL(), in.PID(), in.LogPath())
		}
		fmt.Fprintf(stdout, "  token:                %s\n", l.Token())
		fmt.Fprintf(stdout, "  devices:              %v\n", l.DeviceIDs())
		fmt.Fprintf(stdout, "  kubeconfig:           %s (namespace %s)\n", l.Kubeconfig(), l.Namespace())
		fmt.Fprintf(stdout, "  env file:             %s\n", envFile)
		fmt.Fprintf(stdout, "  try: curl -H 'Authorization: Bearer %s' %s/api/media/devices\n", l.Token(), l.ProxyURL())
		fmt.Fprintf(stdout, "Ctrl-C stops everything.\n\n")
		<-ctx.Done()
		fmt.Fprintln(stderr, "fleetlab: stopping")
	}
	if err := l.Close(); err != nil {
		fmt.Fprintln(stderr, "fleetlab:", err)
		code = 1
	}
	_ = os.Remove(envFile)
	return code
}

// quietKlog sends the API server's global klog output to a file instead
// of the terminal.
func quietKlog(file string) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	if f, err := os.Create(file); err == nil {
		klog.SetOutput(f)
	}
}
