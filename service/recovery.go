package service

import (
	"log/slog"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/device"
)

// Recovery: a running device's capture retries with a back-off while the
// device is gone. When the device is back, the registry is told at once
// (Registry.DeviceBack), which ends the wait, so that viewers resume on
// their sessions within about a second: when the adb server lists the
// device in the "device" state after it was missing or in another state
// (deviceWatch, on adb.Client.Watch), which covers a device that came
// back, the adb server's own reconnect and a restarted adb server (Watch
// reports no device while the server cannot be reached), and when
// KeepConnected has connected an ADB_DEVICES device again (deviceBack).

// deviceWatch returns the callback of adb.Client.Watch: it logs the list
// and tells the registry of each device that is back.
func deviceWatch(log *slog.Logger, reg *device.Registry) func([]adb.DeviceInfo) {
	var online map[string]bool // the devices in state "device"; nil before the first list
	return func(list []adb.DeviceInfo) {
		now := make(map[string]bool, len(list))
		for _, d := range list {
			log.Info("device", "device", d.Serial, "state", d.State, "model", d.Model)
			if d.State != "device" {
				continue
			}
			now[d.Serial] = true
			if online != nil && !online[d.Serial] && reg.DeviceBack(d.Serial) {
				log.Info("device back: its capture resumes now", "device", d.Serial)
			}
		}
		if len(list) == 0 && len(online) > 0 {
			log.Info("the adb server lists no device (or cannot be reached)")
		}
		online = now
	}
}

// deviceBack returns the callback of adb.Client.KeepConnected: a device
// it connected again is back.
func deviceBack(log *slog.Logger, reg *device.Registry) func(string) {
	return func(addr string) {
		if reg.DeviceBack(addr) {
			log.Debug("device reconnected: its capture resumes now", "device", addr)
		}
	}
}
