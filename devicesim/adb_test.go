package devicesim

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// generous bounds waits on adb and the device; they catch hangs, and no
// test asserts anything about how fast something happened.
const generous = adbtest.Generous

// testDeadline bounds each test that waits on a device or adb
// (testutil.Deadline): a hang fails with every goroutine's stack.
const testDeadline = 2 * time.Minute

// startADB starts a private real adb server for the test.
func startADB(t testing.TB) *adbtest.Server { return adbtest.Start(t) }

// newDevice starts a device on a free port for the test, logging to the
// test's log, and closes it at cleanup.
func newDevice(t testing.TB, o Options) *Device {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// logBuffer collects log lines for a test to search.
type logBuffer = testutil.SyncBuffer

// readerCount reads r to its end in a goroutine, counting the bytes.
type readerCount struct {
	mu   sync.Mutex
	data []byte
	done chan struct{}
	err  error
}

func readAll(r io.Reader) *readerCount {
	rc := &readerCount{done: make(chan struct{})}
	go func() {
		defer close(rc.done)
		buf := make([]byte, 64*1024)
		for {
			n, err := r.Read(buf)
			rc.mu.Lock()
			rc.data = append(rc.data, buf[:n]...)
			rc.mu.Unlock()
			if err != nil {
				if err != io.EOF {
					rc.err = err
				}
				return
			}
		}
	}()
	return rc
}

func (rc *readerCount) bytes() []byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return bytes.Clone(rc.data)
}
