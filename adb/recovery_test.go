package adb

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/retry"
	"github.com/cloudphone/media-service/internal/testutil"
)

// events records what KeepConnected and Watch report.
type events struct {
	mu        sync.Mutex
	connected int
	lists     [][]DeviceInfo
}

func (e *events) onConnected(string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.connected++
}

func (e *events) onList(l []DeviceInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lists = append(e.lists, l)
}

func (e *events) connects() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.connected
}

// sawList reports whether Watch reported a list, after the first n, that
// cond holds for, and how many lists it reported.
func (e *events) sawList(n int, cond func([]DeviceInfo) bool) (bool, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.ContainsFunc(e.lists[min(n, len(e.lists)):], cond), len(e.lists)
}

func stateIn(l []DeviceInfo, serial string) string {
	for _, d := range l {
		if d.Serial == serial {
			return d.State
		}
	}
	return ""
}

// TestKeepConnectedAfterServerRestart: when the adb server restarts (it
// then knows no TCP device), Watch reports the device gone and back, and
// KeepConnected connects it again, telling its callback, without waiting
// out a back-off (an hour here).
func TestKeepConnectedAfterServerRestart(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	adbs := adbtest.Start(t)
	c, _, serial := startDevice(t, adbs, devicesim.Options{Width: 64, Height: 64, Static: true})
	var ev events
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	wg.Go(func() {
		c.keepConnected(ctx, log, []string{serial}, 100*time.Millisecond, retry.Backoff{Min: time.Hour, Max: time.Hour}, ev.onConnected)
	})
	wg.Go(func() { c.Watch(ctx, log, 100*time.Millisecond, ev.onList) })
	online := func(l []DeviceInfo) bool { return stateIn(l, serial) == "device" }
	testutil.Eventually(t, "the device online", testutil.Generous, func() bool { ok, _ := ev.sawList(0, online); return ok })

	adbs.Restart(t, time.Second)
	before := ev.connects()
	var n int
	testutil.Eventually(t, "Watch to report no device while the server was down", testutil.Generous, func() bool {
		var ok bool
		ok, n = ev.sawList(0, func(l []DeviceInfo) bool { return len(l) == 0 })
		return ok
	})
	testutil.Eventually(t, "KeepConnected to connect the device again", testutil.Generous, func() bool { return ev.connects() > before })
	testutil.Eventually(t, "Watch to report the device back", testutil.Generous, func() bool { ok, _ := ev.sawList(n, online); return ok })
}

// TestKeepConnectedProbesAddress: a device that vanished is connected
// again as soon as its address accepts connections, though the back-off
// (an hour here) would wait much longer.
func TestKeepConnectedProbesAddress(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	adbs := adbtest.Start(t)
	c, sim, serial := startDevice(t, adbs, devicesim.Options{Width: 64, Height: 64, Static: true})
	var ev events
	var logs testutil.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		c.keepConnected(ctx, slog.New(slog.NewTextHandler(&logs, nil)), []string{serial}, 100*time.Millisecond,
			retry.Backoff{Min: time.Hour, Max: time.Hour}, ev.onConnected)
	})
	sim.Close()
	// It tried, and failed: the next try is an hour away.
	testutil.Eventually(t, "a failed connect", testutil.Generous, func() bool { return strings.Contains(logs.String(), "connect device") })
	before := ev.connects()
	sim2, err := devicesim.New(devicesim.Options{Addr: serial, Width: 64, Height: 64, Static: true})
	if err != nil {
		t.Fatal(err)
	}
	sim2.Start()
	defer sim2.Close()
	testutil.Eventually(t, "KeepConnected to connect the device again", testutil.Generous, func() bool { return ev.connects() > before })
	testutil.EventuallyErr(t, "the device online", testutil.Generous, func() (bool, error) {
		l, err := c.Devices(ctx)
		return stateIn(l, serial) == "device", err
	})
	if !strings.Contains(logs.String(), "device reachable again") {
		t.Errorf("the logs do not say the device was reachable again:\n%s", logs.String())
	}
}
