// Package layers holds the test that keeps the packages' imports in the
// shape docs/architecture.md draws: the session layer knows no device
// and no cgo, the device's owner knows no WebRTC, the API owns its JSON,
// and only native/ links FFmpeg.
package layers_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cloudphone/media-service"

// astiav is go-astiav's import path, written in two parts so that a grep
// for imports of it does not find this file.
const astiav = "github.com/asticode" + "/go-astiav"

// deps lists the packages pkg depends on, with cgo on or off.
func deps(t *testing.T, pkg string, cgo bool) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", module+"/"+pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+map[bool]string{true: "1", false: "0"}[cgo])
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestLayers(t *testing.T) {
	rules := []struct {
		pkg    string
		cgo    bool
		forbid []string // import paths, or prefixes ending in "/"
	}{
		// The session layer is Pion only: no device, no cgo.
		{"rtc", false, []string{module + "/device", module + "/native", module + "/capture", module + "/adb", module + "/encoder", astiav}},
		// The device's owner writes to the neutral fan-out, not to WebRTC.
		{"device", true, []string{module + "/rtc", "github.com/pion/webrtc/"}},
		// The fan-out knows the shared vocabulary only.
		{"fanout", true, []string{module + "/rtc", module + "/device", module + "/native", module + "/encoder", module + "/capture", module + "/adb", "github.com/pion/"}},
		// The API owns its response types.
		// It routes through the Fleet interface it declares, not through
		// client-go.
		{"api", true, []string{module + "/native", module + "/encoder", module + "/device", module + "/fleet", "k8s.io/", astiav}},
		// The webhooks' sender is plain Go: it knows the events' shapes,
		// nothing of the components that emit them.
		{"webhook", true, []string{module + "/rtc", module + "/device", module + "/config", module + "/metrics", module + "/native",
			module + "/service", "github.com/pion/", "github.com/prometheus/", astiav}},
		// The fleet knows Kubernetes and the ID rules, nothing of media.
		{"fleet", false, []string{module + "/device", module + "/rtc", module + "/native", module + "/capture", module + "/adb", module + "/encoder", module + "/api", module + "/fanout", "github.com/pion/", astiav}},
	}
	for _, r := range rules {
		for _, d := range deps(t, r.pkg, r.cgo) {
			for _, f := range r.forbid {
				if d == f || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s depends on %s", r.pkg, d)
				}
			}
		}
	}
}

// TestOnlyNativeLinksFFmpeg: no package outside native/ imports "C" or
// go-astiav.
func TestOnlyNativeLinksFFmpeg(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}} {{if .CgoFiles}}cgo{{end}}`, module+"/...")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == module+"/native" || strings.HasPrefix(f[0], module+"/native/") {
			continue
		}
		for _, imp := range f[1:] {
			if imp == "cgo" || imp == "C" || strings.HasPrefix(imp, astiav) {
				t.Errorf("%s links FFmpeg (%s): only native/ may", f[0], imp)
			}
		}
	}
}
