package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/chromium"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/native"
)

// childEnv marks the test binary run as the service itself: TestMain then
// runs main, so the child is this package's service, in its own process,
// which a test can freeze with SIGSTOP.
const childEnv = "MEDIA_SERVICE_TEST_CHILD"

// unsetVar as a value in childService's extra leaves the variable out of
// the child's environment (so that its configuration file sets it).
const unsetVar = "\x00unset"

// childService runs the service as a child process against a simulated
// device behind a private adb server, and returns its base URL, the
// device and the process. extra adds or overrides environment variables.
func childService(tb testing.TB, simOpts devicesim.Options, extra map[string]string) (string, *devicesim.Device, *exec.Cmd, *testutil.SyncBuffer) {
	tb.Helper()
	base, sims, cmd, logs := childServiceDevices(tb, 1, simOpts, extra)
	return base, sims[0], cmd, logs
}

// childServiceDevices is childService with n simulated devices.
func childServiceDevices(tb testing.TB, n int, simOpts devicesim.Options, extra map[string]string) (string, []*devicesim.Device, *exec.Cmd, *testutil.SyncBuffer) {
	tb.Helper()
	if !native.Available {
		tb.Skip("built without cgo")
	}
	adbs := adbtest.Start(tb)
	var sims []*devicesim.Device
	var addrs []string
	for range n {
		sim := simtest.Device(tb, adbs, simOpts)
		sims = append(sims, sim)
		addrs = append(addrs, sim.Addr())
	}
	port := freePort(tb)
	vars := map[string]string{
		childEnv: "serve", "PORT": strconv.Itoa(port), "ADB_SERVER": adbs.Addr(), "ADB_DEVICES": strings.Join(addrs, ","),
		"API_TOKENS": e2eToken, "LOG_LEVEL": "info", "LOG_FORMAT": "text",
	}
	for k, v := range extra {
		vars[k] = v
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); vars[k] != unsetVar {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range vars {
		if v != unsetVar {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Dir = tb.TempDir() // no .env there
	logs := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exit := &childExit{done: make(chan struct{})}
	children.Store(cmd, exit)
	go func() {
		exit.err = cmd.Wait()
		exit.at = time.Now()
		close(exit.done)
	}()
	tb.Cleanup(func() {
		defer children.Delete(cmd)
		cmd.Process.Signal(syscall.SIGCONT) // in case a test left it frozen
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exit.done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exit.done
			tb.Error("the service did not stop on SIGTERM")
		}
		http.DefaultClient.CloseIdleConnections()
		if tb.Failed() {
			tb.Logf("service logs:\n%s", logs.String())
		}
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitHealthy(tb, base, logs)
	return base, sims, cmd, logs
}

// childExit is how a child service ended: err is cmd.Wait's, at when it
// returned, both set before done is closed.
type childExit struct {
	done chan struct{}
	err  error
	at   time.Time
}

// children holds the childExit of each child service that
// childServiceDevices started, by its *exec.Cmd, while its test runs.
var children sync.Map

// waitExit waits up to timeout for the child service cmd to exit, and
// returns when it exited and cmd.Wait's error (nil: exit status 0).
func waitExit(tb testing.TB, cmd *exec.Cmd, timeout time.Duration) (time.Time, error) {
	tb.Helper()
	v, ok := children.Load(cmd)
	if !ok {
		tb.Fatal("waitExit: not a child service of this test")
	}
	exit := v.(*childExit)
	select {
	case <-exit.done:
		return exit.at, exit.err
	case <-time.After(timeout):
		tb.Fatalf("the service did not exit within %v", timeout)
		return time.Time{}, nil
	}
}

// freeze stops the process for d, as a CPU quota's throttling or a VM
// pause does.
func freeze(tb testing.TB, cmd *exec.Cmd, d time.Duration) {
	tb.Helper()
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		tb.Fatal(err)
	}
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		tb.Fatal(err)
	}
}

// pipelineStats reads the first device's encoder counters from the
// service.
type pipelineStats struct {
	Encoder  string `json:"encoder"`
	Pipeline *struct {
		FramesIn, FramesOut int64
		Dropped             map[string]int64
		EncodingTimeouts    int64
		EncoderSwitches     int64
		ProcessStalls       int64
		Restarts            int64
		LatencyBuckets      []int64
	} `json:"pipeline"`
}

func readPipeline(tb testing.TB, base string) pipelineStats {
	tb.Helper()
	req, _ := http.NewRequest("GET", base+"/api/media/stats", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Devices []pipelineStats `json:"devices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		tb.Fatal(err)
	}
	if len(body.Devices) == 0 {
		return pipelineStats{}
	}
	return body.Devices[0]
}

// TestFreezeRecoversInChromium: the service process is frozen for 300 ms
// three times while a real Chromium watches a raw-frames device encoded
// here; the picture flows again after each freeze.
func TestFreezeRecoversInChromium(t *testing.T) {
	base, sim, cmd, _ := childService(t, devicesim.Options{Width: 240, Height: 320, FPS: 20}, map[string]string{
		"CAPTURE_MODE": "raw-frames", "VIDEO_ENCODER_TYPE": "h264", "H264_PRESET": "ultrafast", "VIDEO_FRAMERATE": "20",
	})
	b := chromium.Launch(t)
	if err := b.Navigate(fmt.Sprintf("%s/?device=%s&token=%s", base, sim.Addr(), e2eToken)); err != nil {
		t.Fatal(err)
	}
	decoded := func() (int, error) {
		var n int
		err := b.Eval(`window.viewer ? viewer.framesDecoded : 0`, &n)
		return n, err
	}
	testutil.EventuallyErr(t, "the page decodes frames", 60*time.Second, func() (bool, error) {
		n, err := decoded()
		return n >= 10, err
	})
	for i := range 3 {
		freeze(t, cmd, 300*time.Millisecond)
		n, err := decoded()
		if err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyErr(t, fmt.Sprintf("frames again after freeze %d", i+1), 30*time.Second, func() (bool, error) {
			m, err := decoded()
			return m >= n+10, err
		})
	}
	st := readPipeline(t, base)
	if st.Pipeline == nil || st.Encoder == "" {
		t.Fatalf("no encoder statistics after the freezes: %+v", st)
	}
	t.Logf("after three freezes: encoder %s, %+v", st.Encoder, *st.Pipeline)
}
