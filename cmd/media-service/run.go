package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/capture"
	"github.com/cloudphone/media-service/config"
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

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func serve(ctx context.Context, logw io.Writer, lookup func(string) (string, bool)) error {
	cfg, err := config.Load(".env", lookup)
	if err != nil {
		return err
	}
	log := newLogger(logw, cfg.LogLevel)
	native.SetLogger(log)
	defer native.SetLogger(nil)

	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d (PORT): %w", cfg.Port, err)
	}
	log.Info("starting", "version", binaryVersion(), "ffmpeg", native.FFmpegVersion(),
		"capture_mode", cfg.CaptureMode, "encoder_type", cfg.VideoEncoderType, "hw_accel", cfg.H264HWAccel,
		"adb_server", cfg.ADBServer, "adb_devices", cfg.ADBDevices)
	adb, err := capture.NewClient(cfg.ADBServer)
	if err != nil {
		ln.Close()
		return fmt.Errorf("ADB_SERVER: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { adb.KeepConnected(ctx, log, cfg.ADBDevices, 0) })
	wg.Go(func() {
		adb.Watch(ctx, log, 0, func(list []capture.DeviceInfo) {
			for _, d := range list {
				log.Info("device", "device", d.Serial, "state", d.State)
			}
		})
	})

	if cfg.AuthDisabled {
		log.Warn("authentication is disabled (AUTH_DISABLED=true): anyone who can reach the port can use the API")
	}
	srv := api.New(api.Options{
		Info:         api.Info{Version: binaryVersion(), FFmpeg: native.FFmpegVersion()},
		Tokens:       cfg.APITokens,
		AuthDisabled: cfg.AuthDisabled,
		CORSOrigins:  cfg.CORSAllowOrigins,
		RateLimit:    cfg.RateLimit,
		Log:          log,
	}, api.Deps{
		Devices: func(ctx context.Context) (any, error) { return adb.Devices(ctx) },
	})
	return srv.Serve(ctx, ln)
}
