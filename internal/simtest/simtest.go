// Package simtest starts simulated devices (devicesim) for tests and
// connects them to a private adb server (adbtest).
package simtest

import (
	"testing"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/native"
)

// Device starts a simulated device on a free loopback port (unless o.Addr
// names one), connects srv to it and closes it when the test ends. Its
// serial on srv is its address. It skips the test when FFmpeg is not
// linked (built without cgo): devicesim encodes with it.
func Device(tb testing.TB, srv *adbtest.Server, o devicesim.Options) *devicesim.Device {
	tb.Helper()
	if !native.Available {
		tb.Skip("devicesim encodes with FFmpeg; built without cgo")
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	sim, err := devicesim.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	sim.Start()
	tb.Cleanup(func() { sim.Close() })
	srv.Connect(tb, sim.Addr())
	return sim
}
