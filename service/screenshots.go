package service

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/media"
)

// Screenshots (GET /api/media/devices/:id/screenshot): the registry takes
// them (device.Registry.Screenshot). In a fleet, the API forwards a
// client's request to the instance that holds the device's Lease (the
// device runs there: its picture is at hand, and no second capture runs
// beside its stream), like a session's; a device that runs nowhere is
// captured once where the request landed, its pod's adb address
// connected for the capture and disconnected after it, without taking
// its Lease (no device.connected webhook, no placement).

// screenshot is the API's Deps.Screenshot.
func (s *service) screenshot(ctx context.Context, id string, req api.ScreenshotRequest) (api.Screenshot, error) {
	shot, err := s.registry.Screenshot(ctx, id, device.ScreenshotRequest{Format: req.Format, MaxWidth: req.MaxWidth})
	if err != nil {
		return api.Screenshot{}, err
	}
	return api.Screenshot{Data: shot.Data, ContentType: shot.ContentType, Source: shot.Source, Taken: shot.Taken}, nil
}

// screenshotDeps are the registry's screenshot settings: where a device
// that does not run is captured (a fleet's pod), and the metrics.
func (s *service) screenshotDeps() (func(context.Context, string) (string, func(), error), device.ScreenshotMetrics) {
	var locate func(context.Context, string) (string, func(), error)
	if s.fleet != nil {
		locate = s.fleet.captureAt
	}
	if s.shots == nil {
		return locate, nil
	}
	return locate, s.shots
}

var _ api.DeviceLocator = (*member)(nil)

// runningTTL is how long a member remembers where a device runs, for
// screenshots: a wall of thumbnails reads its Lease once a second.
const runningTTL = time.Second

// RunningAt implements api.DeviceLocator: the URL of the member that
// holds the device's Lease, "" when it is this one or none. A wall of
// thumbnails asking at once reads the Lease once.
func (m *member) RunningAt(ctx context.Context, id string) (string, error) {
	if reg := m.registry.Load(); reg != nil && reg.Has(id) {
		return "", nil
	}
	return m.running.get(id, func() (string, error) {
		holder, _, err := m.leases.Holder(ctx, id)
		if err != nil || holder == "" || holder == m.name {
			return "", err
		}
		if info, ok := m.members.Lookup(holder); ok && info.URL != "" {
			return info.URL, nil
		}
		return "", nil // a holder that is no member any more: capture here
	})
}

// captureAt is the registry's LocateCapture in a fleet: the address of
// the device's pod, connected for a one-off capture (and disconnected
// after it, unless the device runs here by then). The registry starts no
// run of the device meanwhile.
func (m *member) captureAt(ctx context.Context, id string) (string, func(), error) {
	pod, ok := m.pods.Locate(id)
	if !ok {
		return "", nil, fmt.Errorf("%w: %s (no pod matches %s)", media.ErrUnknownDevice, id, m.cfg.DeviceSelector)
	}
	if !pod.Ready || pod.Addr == "" {
		return "", nil, fmt.Errorf("%w: device %s: its pod %s is not ready", media.ErrUnavailable, id, pod.Name)
	}
	runs := func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		_, ok := m.serials[id]
		return ok
	}
	if runs() {
		return pod.Addr, func() {}, nil
	}
	if err := m.connect(ctx, pod.Addr); err != nil {
		return "", nil, fmt.Errorf("device %s: %w", id, err)
	}
	return pod.Addr, func() {
		if runs() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := m.adb.Disconnect(ctx, pod.Addr); err != nil {
			m.log.Debug("fleet: adb disconnect after a screenshot", "device", id, "serial", pod.Addr, "err", err)
		}
	}, nil
}

// runningCache remembers, for runningTTL, where devices run; concurrent
// lookups of one device share one.
type runningCache struct {
	mu sync.Mutex
	m  map[string]*runningCall
}

type runningCall struct {
	done chan struct{}
	url  string
	err  error
	at   time.Time // when it was answered; zero while in flight
}

// get returns id's answer, from the cache or from lookup.
func (c *runningCache) get(id string, lookup func() (string, error)) (string, error) {
	c.mu.Lock()
	if call := c.m[id]; call != nil && (call.at.IsZero() || time.Since(call.at) < runningTTL) {
		c.mu.Unlock()
		<-call.done
		return call.url, call.err
	}
	if c.m == nil {
		c.m = map[string]*runningCall{}
	}
	for k, call := range c.m { // forget the stale answers
		if !call.at.IsZero() && time.Since(call.at) >= runningTTL {
			delete(c.m, k)
		}
	}
	call := &runningCall{done: make(chan struct{})}
	c.m[id] = call
	c.mu.Unlock()
	url, err := lookup()
	c.mu.Lock()
	call.url, call.err, call.at = url, err, time.Now()
	if err != nil {
		delete(c.m, id) // not remembered
	}
	c.mu.Unlock()
	close(call.done)
	return url, err
}
