package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"--size", "720"},
		{"--size", "axb"},
		{"--fps", "0"},
		{"--fps", "241"},
		{"--rotation", "4"},
		{"--rotation", "-1"},
		{"--size", "0x0"},
		{"--size", "721x1280"},
		{"--log-level", "loud"},
		{"--sdk", "20"},
		{"--sdk", "37"},
		{"--agent", "maybe"},
		{"--costs=maybe"},
		{"--nope"},
		{"extra"},
	} {
		var stderr testutil.SyncBuffer
		if code := run(context.Background(), append(args, "--addr", "127.0.0.1:0"), &stderr); code == 0 {
			t.Errorf("run %v = 0, want an error; stderr %s", args, stderr.String())
		}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--size", "64x64", "--static"}, &stderr) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "msg=ready") {
		if time.Now().After(deadline) {
			t.Fatalf("not ready; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(stderr.String(), "devicesim closed") {
		t.Fatalf("no clean close in the log:\n%s", stderr.String())
	}
}

// TestRunDeviceFlags: --sdk, --costs and --agent reach the device, whose
// start line reports them.
func TestRunDeviceFlags(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--size", "64x64", "--static",
			"--sdk", "30", "--costs=false", "--agent", "refuse"}, &stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "msg=ready") {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("not ready; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	if s := stderr.String(); !strings.Contains(s, "sdk=30 costs=false agent=refuse") {
		t.Fatalf("the device's start line lacks the flags:\n%s", s)
	}
}
