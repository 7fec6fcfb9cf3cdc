package api

import (
	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/metrics"
	"github.com/cloudphone/media-service/rtc"
)

// DeviceView is one device in GET /api/media/devices: the adb server's
// listing, and for a device that runs, its picture size, the encoder in
// use and its viewers.
type DeviceView struct {
	Serial string `json:"serial"`
	// State is "device" when usable; also "offline", "unauthorized", ...
	State       string `json:"state"`
	Model       string `json:"model,omitempty"`
	Product     string `json:"product,omitempty"`
	Device      string `json:"device,omitempty"`
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	CaptureMode string `json:"captureMode"`
	Encoder     string `json:"encoder,omitempty"`
	Viewers     int    `json:"viewers"`
	// Outputs are the device's running streams, one per codec and
	// quality rung, each with the encoder in use ("passthrough" for the
	// device's own H.264).
	Outputs []device.OutputStats `json:"outputs,omitempty"`
}

// DevicesResponse is the body of GET /api/media/devices.
type DevicesResponse struct {
	Devices []DeviceView `json:"devices"`
}

// EncoderView is one encoder's probe result in GET /api/media/encoders.
type EncoderView struct {
	Encoder   string `json:"encoder"`
	Available bool   `json:"available"`
	// Reason says why the encoder is not available; empty when it is.
	Reason    string  `json:"reason,omitempty"`
	ElapsedMs float64 `json:"elapsedMs"`
}

// EncodersResponse is the body of GET /api/media/encoders.
type EncodersResponse struct {
	Encoders []EncoderView `json:"encoders"`
}

// StatsResponse is the body of GET /api/media/stats.
type StatsResponse struct {
	// Devices are the running devices' stream statistics.
	Devices []device.Stats `json:"devices"`
	// Broadcasters are their fan-out counters.
	Broadcasters []rtc.BroadcasterStats `json:"broadcasters"`
	// WorkerPool is the shared worker pool's counters (USE_WORKER_POOL),
	// all devices together; absent without a pool.
	WorkerPool *encoder.Snapshot `json:"workerPool,omitempty"`
	Sessions   []rtc.SessionInfo `json:"sessions"`
	// E2ELatency is each device's recent glass-to-glass latency, as its
	// viewers measured it.
	E2ELatency map[string]metrics.LatencySummary `json:"e2eLatency"`
}

// SessionsResponse is the body of GET /api/media/sessions.
type SessionsResponse struct {
	Sessions []rtc.SessionInfo `json:"sessions"`
}
