// Command devicesim runs a simulated Android device that a real adb server
// accepts over TCP:
//
//	devicesim --addr 127.0.0.1:5555 [--size 720x1280] [--rotation 0] [--fps 30] [--static] [--auth]
//	          [--sdk 34] [--costs=true|false] [--agent run|refuse]
//	adb connect 127.0.0.1:5555
//	adb -s 127.0.0.1:5555 exec-out screenrecord --output-format=h264 - > out.h264
//
// The display turns and resizes at run time through adb, as a phone's does:
//
//	adb -s 127.0.0.1:5555 shell settings put system user_rotation 1
//	adb -s 127.0.0.1:5555 shell wm size 1080x1920
//	adb -s 127.0.0.1:5555 shell wm size reset
//
// --sdk sets the Android API level the device reports and behaves as
// (the input command's costs and commands). --costs=false drops the time
// input takes on a phone (tens of milliseconds per input command on API 31
// and later, up to 1.2 s before, a swipe's duration, a few milliseconds
// per agent event). --agent refuse makes a device whose vendor forbids the
// on-device input agent. Every input event is logged at info level, one
// line each (msg=input kind=... x=... y=...).
//
// It stops cleanly on SIGINT or SIGTERM. See package devicesim.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/cloudphone/media-service/devicesim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("devicesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", devicesim.DefaultAddr, "TCP address to listen on (HOST:PORT; port 0 picks one)")
	size := fs.String("size", fmt.Sprintf("%dx%d", devicesim.DefaultWidth, devicesim.DefaultHeight), "screen size WIDTHxHEIGHT (even, portrait)")
	rotation := fs.Int("rotation", 0, "display rotation at start in quarter turns (0..3; 1 and 3 are landscape)")
	fps := fs.Int("fps", devicesim.DefaultFPS, "animation frame rate (1..240)")
	static := fs.Bool("static", false, "keep the screen still except for input")
	auth := fs.Bool("auth", false, "require adb RSA authentication (any offered key is accepted)")
	serial := fs.String("serial", "", "ro.serialno (default devicesimPORT)")
	model := fs.String("model", devicesim.DefaultModel, "ro.product.model")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	sdk := fs.Int("sdk", devicesim.DefaultSDK, "Android API level (21..36)")
	costs := fs.Bool("costs", true, "spend the time input takes on a phone (--costs=false for speed)")
	agentMode := fs.String("agent", devicesim.AgentRun, "the on-device input agent: run, or refuse (a device that forbids it)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devicesim: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	w, h, err := parseSize(*size)
	if err != nil {
		fmt.Fprintf(stderr, "devicesim: --size: %v\n", err)
		return 2
	}
	if *fps < 1 || *fps > 240 {
		fmt.Fprintf(stderr, "devicesim: --fps %d out of range (1..240)\n", *fps)
		return 2
	}
	if *rotation < 0 || *rotation > 3 {
		fmt.Fprintf(stderr, "devicesim: --rotation %d out of range (0..3)\n", *rotation)
		return 2
	}
	if *sdk < 21 || *sdk > 36 {
		fmt.Fprintf(stderr, "devicesim: --sdk %d out of range (21..36)\n", *sdk)
		return 2
	}
	if *agentMode != devicesim.AgentRun && *agentMode != devicesim.AgentRefuse {
		fmt.Fprintf(stderr, "devicesim: --agent %q (want run or refuse)\n", *agentMode)
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "devicesim: --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	d, err := devicesim.New(devicesim.Options{
		Addr: *addr, Width: w, Height: h, Rotation: *rotation, FPS: *fps, Static: *static, Auth: *auth,
		Serial: *serial, Model: *model, Logger: log,
		SDK: *sdk, NoCosts: !*costs, Agent: *agentMode,
	})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	d.Start()
	log.Info("ready", "addr", d.Addr(), "serial", d.Serial(), "connect", "adb connect "+d.Addr())
	<-ctx.Done()
	log.Info("shutting down")
	_ = d.Close()
	return 0
}

func parseSize(s string) (int, int, error) {
	ws, hs, ok := strings.Cut(s, "x")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not WIDTHxHEIGHT", s)
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("%q is not WIDTHxHEIGHT", s)
	}
	return w, h, nil
}
