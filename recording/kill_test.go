package recording

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/native"
)

// childEnv runs the test binary as a recording process (runChild), in
// the directory it names, for a test to kill.
const childEnv = "RECORDING_TEST_CHILD_DIR"

// runChild records a paced 60 s clip into $RECORDING_TEST_CHILD_DIR until
// it is killed, saying "recording ID" on stdout once it started.
func runChild() int {
	t := childTB{}
	src := &fakeSource{}
	r, err := New(Options{Dir: os.Getenv(childEnv), Source: src, FlushInterval: 200 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	units := clip(t, native.CodecX264, 160, 120, 60*30, 30, 0)
	info, err := r.Start(context.Background(), "dev", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Printf("recording %s\n", info.ID)
	f := src.feed(t, "dev")
	start := time.Now()
	for _, u := range units {
		time.Sleep(time.Until(start.Add(u.PTS)))
		f.w.WriteSample(fanout.Sample{Unit: u, Duration: time.Second / 30, Arrived: time.Now()})
	}
	return 0
}

// childTB is the testing.TB of the child's helpers: a failure exits.
type childTB struct{ testing.TB }

func (childTB) Helper()                   {}
func (childTB) Fatal(args ...any)         { fmt.Fprintln(os.Stderr, args...); os.Exit(2) }
func (childTB) Fatalf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...); os.Exit(2) }
func (childTB) Skip(args ...any)          { fmt.Fprintln(os.Stderr, args...); os.Exit(2) }

// TestKilledRecordingPlays: a recording process killed with SIGKILL
// leaves a segment that plays up to its last flushed fragment, and the
// next recorder lists the recording as interrupted.
func TestKilledRecordingPlays(t *testing.T) {
	if !native.Available {
		t.Skip("built without cgo")
	}
	testutil.Deadline(t, 2*time.Minute)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("child:\n%s", stderr.String())
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	id := strings.TrimSpace(strings.TrimPrefix(line, "recording "))
	seg := filepath.Join(dir, id, "segment-0001.mp4")
	testutil.Eventually(t, "a few seconds recorded", 30*time.Second, func() bool {
		st, err := os.Stat(seg)
		return err == nil && st.Size() > 20_000 && stderr.Count("segment started") > 0
	})
	time.Sleep(2 * time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", err)
	}

	p := ffprobe(t, seg)
	if p.Streams[0].CodecName != "h264" || p.duration() < 2*time.Second {
		t.Fatalf("killed segment: %+v, duration %s", p.Streams, p.duration())
	}
	decodeClean(t, seg)

	r, _ := newTestRecorder(t, Options{Dir: dir, Source: &fakeSource{}})
	info, err := r.Get(id)
	if err != nil || info.State != StateFailed || info.Reason != ReasonInterrupted || len(info.Segments) != 1 {
		t.Fatalf("after the kill: %+v %v", info, err)
	}
	st, _ := os.Stat(seg)
	if info.Segments[0].Bytes != st.Size() {
		t.Fatalf("listed %d bytes, file %d", info.Segments[0].Bytes, st.Size())
	}
}
