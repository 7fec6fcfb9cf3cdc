package stream

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/cloudphone/media-service/capture"
	"github.com/cloudphone/media-service/rtc"
)

// Source starts and stops devices' streams for the WebRTC hub: it
// implements rtc.MediaSource. Options is the template for every device
// (Serial is filled per device).
type Source struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]*Device
}

var _ rtc.MediaSource = (*Source)(nil)

// NewSource returns a source of device streams.
func NewSource(o Options) *Source {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Source{opts: o, log: o.Log, running: map[string]*Device{}}
}

// Start begins a device's stream, writing its units to out. A device the
// adb server does not list in the "device" state is rtc.ErrUnknownDevice.
func (s *Source) Start(ctx context.Context, deviceID string, out *rtc.Broadcaster) (rtc.Device, error) {
	if err := capture.ValidSerial(deviceID); err != nil {
		return nil, fmt.Errorf("%w: %v", rtc.ErrUnknownDevice, err)
	}
	list, err := s.opts.Client.Devices(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(list, func(d capture.DeviceInfo) bool { return d.Serial == deviceID && d.State == "device" }) {
		return nil, fmt.Errorf("%w: %s", rtc.ErrUnknownDevice, deviceID)
	}
	o := s.opts
	o.Serial = deviceID
	d, err := Start(ctx, o, out.Write)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.running[deviceID] = d
	s.mu.Unlock()
	s.log.Info("device stream started", "device", deviceID, "encoder", d.EncoderName(), "codec", d.Codec(), "profile", d.ProfileLevelID())
	return rtcDevice{d}, nil
}

// Stop ends a device's stream and waits for it.
func (s *Source) Stop(deviceID string) {
	s.mu.Lock()
	d := s.running[deviceID]
	delete(s.running, deviceID)
	s.mu.Unlock()
	if d != nil {
		d.Close()
		s.log.Info("device stream stopped", "device", deviceID)
	}
}

// Stats returns the running streams' statistics.
func (s *Source) Stats() []Stats {
	s.mu.Lock()
	devs := make([]*Device, 0, len(s.running))
	for _, d := range s.running {
		devs = append(devs, d)
	}
	s.mu.Unlock()
	out := make([]Stats, 0, len(devs))
	for _, d := range devs {
		out = append(out, d.Stats())
	}
	slices.SortFunc(out, func(a, b Stats) int {
		if a.Serial < b.Serial {
			return -1
		}
		return 1
	})
	return out
}

// Running returns the stream of a device, if it runs.
func (s *Source) Running(deviceID string) (*Device, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.running[deviceID]
	return d, ok
}

// rtcDevice adapts a Device to rtc.Device.
type rtcDevice struct{ *Device }

func (d rtcDevice) Input(ctx context.Context, m rtc.InputMessage) error {
	return d.Device.Input(InputEvent{Kind: m.Type, X: m.X, Y: m.Y, X2: m.X2, Y2: m.Y2, Duration: m.Duration, Key: m.Key, Text: m.Text})
}
