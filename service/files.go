package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/metrics"
)

var _ api.FileMetrics = (*metrics.Files)(nil)

// deviceFiles implements api.Files over the adb server: files pushed with
// the sync protocol, apps installed with pm through the exec: service.
type deviceFiles struct {
	client *adb.Client
	fleet  *member // DEVICE_SOURCE=kubernetes; nil otherwise
}

// apkDir is where an APK waits for pm install: a place both adb's shell
// user may write and the installer (system_server) may read; /sdcard is
// not, from Android 11.
const apkDir = "/data/local/tmp"

// removeTimeout bounds the rm -f of a file left behind.
const removeTimeout = 10 * time.Second

// Target implements api.Files: with static devices the device ID is its
// adb serial; in a fleet, the device is reached through the instance that
// holds its Lease, where it streams.
func (f deviceFiles) Target(ctx context.Context, device string) (string, string, error) {
	if f.fleet == nil {
		return device, "", nil
	}
	return f.fleet.fileTarget(ctx, device)
}

// fileTarget is where a device's files go in a fleet: its adb serial
// here when this instance runs it, else the URL of the member that holds
// its Lease. It claims nothing: a device nobody runs is ErrNotRunning.
func (m *member) fileTarget(ctx context.Context, id string) (string, string, error) {
	if _, ok := m.pods.Locate(id); !ok {
		return "", "", fmt.Errorf("%w: %s (no pod matches %s)", media.ErrUnknownDevice, id, m.cfg.DeviceSelector)
	}
	holder, _, err := m.leases.Holder(ctx, id)
	if err != nil {
		return "", "", fmt.Errorf("%w: read the Lease of %s: %v", media.ErrUnavailable, id, err)
	}
	if holder == m.name {
		m.mu.Lock()
		serial, ok := m.serials[id]
		m.mu.Unlock()
		if ok {
			return serial, "", nil
		}
		return "", "", fmt.Errorf("%w: device %s is starting here; try again", media.ErrUnavailable, id)
	}
	if holder != "" {
		if info, ok := m.members.Lookup(holder); ok && info.URL != "" {
			return "", info.URL, nil
		}
		return "", "", fmt.Errorf("%w: device %s is held by %s, which does not answer", media.ErrUnavailable, id, holder)
	}
	return "", "", fmt.Errorf("%w: device %s", api.ErrNotRunning, id)
}

// Push implements api.Files.
func (f deviceFiles) Push(ctx context.Context, serial string, r io.Reader, remote string) error {
	return pushError(f.client.Push(ctx, serial, r, remote, 0o644, time.Time{}))
}

// Install implements api.Files: the APK goes to a file of its own in
// /data/local/tmp, pm install -r installs it, rm -f removes it.
func (f deviceFiles) Install(ctx context.Context, serial string, r io.Reader) (string, error) {
	var id [8]byte
	_, _ = rand.Read(id[:])
	apk := apkDir + "/media-service-" + hex.EncodeToString(id[:]) + ".apk"
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
		defer cancel()
		_ = f.Remove(rctx, serial, apk)
	}()
	if err := pushError(f.client.Push(ctx, serial, r, apk, 0o644, time.Time{})); err != nil {
		return "", err
	}
	out, err := f.client.Output(ctx, serial, "pm", "install", "-r", apk)
	if err != nil {
		return "", deviceError(err)
	}
	return installResult(out)
}

// installResult reads pm install's output: its "Success", or its
// "Failure [...]" line as an *api.InstallError; anything else (pm could
// not read the file, an exception) is an error with its first lines.
func installResult(out string) (string, error) {
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case line == "Success":
			return line, nil
		case strings.HasPrefix(line, "Failure ["):
			return "", &api.InstallError{Failure: line}
		}
	}
	out = strings.TrimSpace(out)
	if i := strings.Index(out, "\n\tat "); i >= 0 {
		out = out[:i] // the exception's stack
	}
	if len(out) > 500 {
		out = out[:500] + "…"
	}
	return "", fmt.Errorf("pm install: %q", out)
}

// Remove implements api.Files.
func (f deviceFiles) Remove(ctx context.Context, serial, remote string) error {
	out, err := f.client.Output(ctx, serial, "rm", "-f", remote)
	if err != nil {
		return deviceError(err)
	}
	if out = strings.TrimSpace(out); out != "" {
		return fmt.Errorf("rm -f %s: %s", remote, out)
	}
	return nil
}

// pushError marks the device's refusal of a file (its FAIL: "couldn't
// create file: Is a directory", "No space left on device") as
// api.ErrRefused, and an unknown device as media.ErrUnknownDevice.
func pushError(err error) error {
	if err == nil {
		return nil
	}
	// adb wraps the device's FAIL message as "push PATH: device: MSG".
	if errors.Is(err, adb.ErrADB) && strings.Contains(err.Error(), ": device: ") {
		return fmt.Errorf("%w: %w", api.ErrRefused, err)
	}
	return deviceError(err)
}

// deviceError marks an unknown device as media.ErrUnknownDevice.
func deviceError(err error) error {
	if errors.Is(err, adb.ErrDeviceNotFound) {
		return fmt.Errorf("%w: %w", media.ErrUnknownDevice, err)
	}
	return err
}
