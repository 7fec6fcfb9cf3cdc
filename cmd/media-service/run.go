package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/cloudphone/media-service/native"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// binaryVersion returns the build-time version, or the VCS revision the Go
// toolchain recorded, or "dev".
func binaryVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) >= 12 {
			return rev[:12] + dirty
		}
	}
	return "dev"
}

const usage = `usage: media-service [command]

commands:
  serve     run the service (the default)
  version   print the version, the linked FFmpeg and its encoders
  encoders  probe each encoder by encoding a few frames; print which work,
            why the others do not, and the H.264 encoder H264_HW_ACCEL selects
  config    print the effective configuration, each setting with its source
            (default, .env or environment), secrets hidden; fail if invalid
  config tokens
            print the names of the configured API tokens, one per line
  config get NAME
            print one variable's effective value
  devices check SERIAL
            start the input agent on a device (adb serial) as the service
            would, print its Android version, the input method the service
            would use and why, and the agent's round trip; inject nothing
  healthcheck
            GET /health from the service on this host's PORT; exit 0 on 200
            (the container images' health check)
  help      print this text

Configuration comes from a .env file in the working directory and from the
environment; see .env.example.
`

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if cmd == "config" {
		return configCommand(args[1:], stdout, stderr, lookup)
	}
	if cmd == "devices" {
		return devicesCommand(ctx, args[1:], stdout, stderr, lookup)
	}
	if len(args) > 1 {
		fmt.Fprintf(stderr, "media-service: %s takes no arguments\n\n%s", cmd, usage)
		return 2
	}
	switch cmd {
	case "serve":
		if err := serve(ctx, stderr, lookup); err != nil {
			fmt.Fprintf(stderr, "media-service: %v\n", err)
			return 1
		}
		return 0
	case "encoders":
		if err := encoders(ctx, stdout, stderr, lookup); err != nil {
			fmt.Fprintf(stderr, "media-service: %v\n", err)
			return 1
		}
		return 0
	case "healthcheck":
		return healthcheck(ctx, stdout, stderr, lookup)
	case "version", "-version", "--version":
		printVersion(stdout)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "media-service: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "media-service %s (%s, %s/%s)\n", binaryVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if !native.Available {
		fmt.Fprintln(w, "FFmpeg: not linked (built without cgo); pass-through only")
		return
	}
	libs := native.LibraryVersions()
	fmt.Fprintf(w, "FFmpeg %s (libavcodec %s, libavutil %s, libswscale %s)\n",
		native.FFmpegVersion(), libs["libavcodec"], libs["libavutil"], libs["libswscale"])
	fmt.Fprintf(w, "video encoders: %s\n", strings.Join(native.VideoEncoders(), " "))
}

// newLogger returns the service's logger: JSON, or text when format is
// "text" or "auto" and w is a terminal. Its level is lv, set to level
// (LOG_LEVEL) here; a reload sets it again.
func newLogger(w io.Writer, lv *slog.LevelVar, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	lv.Set(l)
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" || format == "auto" && isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
