package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cloudphone/media-service/service"

	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/native"
)

// encoders probes every encoder by really encoding a few frames and prints
// one line per encoder in priority order, then the H.264 encoder that
// H264_HW_ACCEL selects. It fails when no H.264 encoder works.
func encoders(ctx context.Context, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	cfg, err := config.FromEnvironment(lookup)
	if err != nil {
		return err
	}
	// The table says what FFmpeg logged while probing; its log lines go to
	// stderr only at LOG_LEVEL=debug, with each probe's result.
	log := slog.New(slog.DiscardHandler)
	if cfg.LogLevel == "debug" {
		log = newLogger(stderr, new(slog.LevelVar), cfg.LogLevel, cfg.LogFormat)
	}
	native.SetLogger(log)
	defer native.SetLogger(nil)

	res := native.NewProber(0, "").All(ctx)
	for _, r := range res {
		status, detail := "available", fmt.Sprintf("(%s)", roundMillis(r.Elapsed))
		if native.MediaCodecOf(r.Encoder) == native.MediaCodecVP8 {
			detail = "VP8 " + detail
		}
		if !r.Available {
			status, detail = "unavailable", r.Reason
		}
		fmt.Fprintf(stdout, "%-12s %-12s %s\n", r.Encoder, status, detail)
	}
	selected, note := selectH264(cfg.H264HWAccel, res)
	if selected == "" {
		fmt.Fprintf(stdout, "selected H.264 encoder: none (%s)\n", note)
		return fmt.Errorf("no H.264 encoder works here (%s)", note)
	}
	if note != "" {
		fmt.Fprintf(stdout, "selected H.264 encoder: %s (%s)\n", selected, note)
	} else {
		fmt.Fprintf(stdout, "selected H.264 encoder: %s\n", selected)
	}
	return nil
}

// selectH264 applies H264_HW_ACCEL to the probe results: auto takes the
// first available H.264 encoder, a named accelerator its encoder when
// available and libx264 otherwise, none libx264. note explains a fallback.
func selectH264(accel string, res []native.ProbeResult) (selected, note string) {
	avail := make(map[string]native.ProbeResult, len(res))
	for _, r := range res {
		avail[r.Encoder] = r
	}
	x264 := avail[native.CodecX264]
	fallback := func(why string) (string, string) {
		if !x264.Available {
			if why != "" {
				why += "; "
			}
			return "", why + "libx264: " + x264.Reason
		}
		return native.CodecX264, why
	}
	switch accel {
	case "none":
		return fallback("")
	case "auto", "":
		for _, name := range native.H264Candidates {
			if avail[name].Available {
				return name, ""
			}
		}
		return fallback("no H.264 encoder available")
	}
	name, ok := service.HWAccelEncoder(accel)
	if !ok {
		return fallback(fmt.Sprintf("H264_HW_ACCEL=%s is not an accelerator", accel))
	}
	if avail[name].Available {
		return name, ""
	}
	return fallback(fmt.Sprintf("H264_HW_ACCEL=%s but %s is unavailable; falling back to libx264", accel, name))
}

// roundMillis rounds d for display: milliseconds, or microseconds below one.
func roundMillis(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond)
}
