package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cloudphone/media-service/config"
)

// configCommand prints the effective configuration (what the service
// would run with: defaults, then CONFIG_FILE (.env), then the
// environment), each setting with its source and whether a reload
// (SIGHUP) applies it live, secrets redacted; it fails on an invalid
// configuration, naming the variable. "config tokens" prints only the
// names of the API tokens, one per line (nothing when none is
// configured): make run asks it whether authentication is configured.
// "config get NAME" prints one variable's effective value (secrets
// redacted as above).
func configCommand(args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	cfg, err := config.FromEnvironment(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "media-service: %v\n", err)
		return 1
	}
	switch {
	case len(args) == 0:
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "VARIABLE\tVALUE\tSOURCE\tRELOAD")
		for _, s := range cfg.Settings() {
			v := s.Value
			if v == "" {
				v = "-"
			}
			reload := "restart"
			if s.Live {
				reload = "live"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.Name, v, s.Source, reload)
		}
		w.Flush()
		if list := cfg.Ineffective(); len(list) > 0 {
			fmt.Fprintf(stdout, "\nno effect with CAPTURE_MODE=%s VIDEO_ENCODER_TYPE=%s: %s\n", cfg.CaptureMode, cfg.VideoEncoderType, strings.Join(list, "; "))
		}
		return 0
	case len(args) == 1 && args[0] == "tokens":
		for _, t := range cfg.Tokens {
			fmt.Fprintln(stdout, t.Name)
		}
		return 0
	case len(args) == 2 && args[0] == "get":
		for _, s := range cfg.Settings() {
			if s.Name == args[1] {
				fmt.Fprintln(stdout, s.Value)
				return 0
			}
		}
		fmt.Fprintf(stderr, "media-service: no variable %s (known: %s)\n", args[1], strings.Join(config.Variables(), ", "))
		return 2
	}
	fmt.Fprintf(stderr, "media-service: config takes no argument, \"tokens\" or \"get NAME\"\n\n%s", usage)
	return 2
}
