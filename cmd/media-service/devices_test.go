package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
)

// TestDevicesCheck: "devices check SERIAL" starts the input agent on a
// device, reports its Android version, the input method and the agent's
// round trip, injects nothing and leaves no agent running; on a device
// that forbids the agent it says why, with exit status 1; usage errors
// exit 2.
func TestDevicesCheck(t *testing.T) {
	adbs := adbtest.Start(t)
	for _, c := range []struct {
		name  string
		o     devicesim.Options
		code  int
		wants []string
	}{
		{"agent", devicesim.Options{Static: true}, 0, []string{"android: 14 (API 34)", "input:   agent 1", "agent round trip: median"}},
		{"refused", devicesim.Options{Static: true, SDK: 30, Agent: devicesim.AgentRefuse}, 1,
			[]string{"android: 11 (API 30)", "input:   shell", "slow on this Android", "reason:  the input agent exited at start", "SecurityException"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sim := simtest.Device(t, adbs, c.o)
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"devices", "check", sim.Addr()}, &out, &errb, env(map[string]string{"ADB_SERVER": adbs.Addr()}))
			if code != c.code {
				t.Fatalf("exit %d, want %d; stdout %q, stderr %q", code, c.code, out.String(), errb.String())
			}
			for _, w := range c.wants {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			if evs := sim.Events(); len(evs) != 0 {
				t.Fatalf("the check injected %+v", evs)
			}
			testutil.Eventually(t, "no agent left", testutil.Generous, func() bool { return sim.Agents() == 0 })
		})
	}
	for _, args := range [][]string{{"devices"}, {"devices", "check"}, {"devices", "list", "x"}, {"devices", "check", "bad serial;reboot"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb, env(map[string]string{"ADB_SERVER": adbs.Addr()})); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"devices", "check", "127.0.0.1:1"}, &out, &errb, env(map[string]string{"ADB_SERVER": adbs.Addr()})); code != 1 ||
		!strings.Contains(errb.String(), "does not list") {
		t.Errorf("an unknown device: exit %d, stderr %q", code, errb.String())
	}
}
