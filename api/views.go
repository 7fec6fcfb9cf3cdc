package api

import "time"

// The API's response bodies. The service fills them from its components'
// own types (service/views.go); api depends on none of those, and these
// types, with their JSON names, are what openapi.json documents.

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
	// Owner is, in a fleet, the instance that runs the device ("" when
	// none does).
	Owner string `json:"owner,omitempty"`
	// Outputs are the device's running streams, one per codec and
	// quality rung, each with the encoder in use ("passthrough" for the
	// device's own H.264).
	Outputs []OutputView `json:"outputs,omitempty"`
	// Input is how the device's input goes, for a device that runs here.
	Input *InputView `json:"input,omitempty"`
}

// InputView is how a device's input goes: through the on-device agent or
// the shell's input command, and why.
type InputView struct {
	Method        string  `json:"method"`
	Slow          bool    `json:"slow"`
	Reason        string  `json:"reason,omitempty"`
	SDK           int     `json:"sdk,omitempty"`
	AgentRestarts int64   `json:"agentRestarts"`
	AgentRTTMs    float64 `json:"agentRttMs,omitempty"`
	Queued        int     `json:"queued"`
	InFlight      bool    `json:"inFlight"`
	Superseded    int64   `json:"superseded"`
	Refused       int64   `json:"refused"`
	Failed        int64   `json:"failed"`
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
	Devices []DeviceStatsView `json:"devices"`
	// Broadcasters are their fan-out counters, one per output stream.
	Broadcasters []StreamView `json:"broadcasters"`
	// WorkerPool is the shared worker pool's counters (USE_WORKER_POOL),
	// all devices together; absent without a pool.
	WorkerPool *PipelineView `json:"workerPool,omitempty"`
	Sessions   []SessionView `json:"sessions"`
	// E2ELatency is each device's recent glass-to-glass latency, as its
	// viewers measured it, by device ID.
	E2ELatency map[string]LatencyView `json:"e2eLatency"`
}

// SessionsResponse is the body of GET /api/media/sessions.
type SessionsResponse struct {
	Sessions []SessionView `json:"sessions"`
}

// DeviceStatsView is a running device's statistics in GET
// /api/media/stats (schema DeviceStats). The stream fields are those of
// its primary output.
type DeviceStatsView struct {
	// Serial is the device's ID; Address its adb serial, where it differs.
	Serial         string  `json:"serial"`
	Address        string  `json:"address,omitempty"`
	CaptureMode    string  `json:"captureMode"`
	Encoder        string  `json:"encoder"`
	Codec          string  `json:"codec"`
	ProfileLevelID string  `json:"profileLevelId,omitempty"`
	Width          int     `json:"width"`
	Height         int     `json:"height"`
	FPS            float64 `json:"fps"`
	BitRateBytes   float64 `json:"bitrateBytesPerSecond"`
	// TargetBitRate is the encoder's rate last set from the viewers'
	// bandwidth estimates, in bits per second (0: none set).
	TargetBitRate   int   `json:"targetBitRate"`
	Units           int64 `json:"units"`
	Bytes           int64 `json:"bytes"`
	KeyFrames       int64 `json:"keyFrames"`
	CaptureRestarts int64 `json:"captureRestarts"`
	CaptureErrors   int64 `json:"captureErrors"`
	// KeyFrameRequests counts the keyframe requests of the device's
	// viewers; KeyFramesForced those that reached the encoder (or
	// restarted screenrecord) after merging and rate limiting.
	KeyFrameRequests int64 `json:"keyFrameRequests"`
	KeyFramesForced  int64 `json:"keyFramesForced"`
	// Pipeline holds the encoder's counters when the stream is encoded
	// here; absent for the device's own stream.
	Pipeline  *PipelineView `json:"pipeline,omitempty"`
	LastError string        `json:"lastError,omitempty"`
	// Outputs are every running output of the device, one per codec and
	// rung.
	Outputs []OutputView `json:"outputs"`
	// Input is how the device's input goes.
	Input InputView `json:"input"`
}

// OutputView is one output of a device (schema OutputStats): what it
// sends, the encoder in use, its size and rate, and its viewers.
type OutputView struct {
	Codec   string  `json:"codec"`
	Rung    int     `json:"rung"`
	Scale   float64 `json:"scale"`
	Encoder string  `json:"encoder"`
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	FPS     float64 `json:"fps"`
	// MinBitRate and MaxBitRate are the rung's range; TargetBitRate the
	// rate last set from its viewers' estimates, in bits per second.
	MinBitRate    int           `json:"minBitRate"`
	MaxBitRate    int           `json:"maxBitRate"`
	TargetBitRate int           `json:"targetBitRate"`
	Units         int64         `json:"units"`
	Viewers       int           `json:"viewers"`
	Pipeline      *PipelineView `json:"pipeline,omitempty"`
}

// PipelineView is an encoder's counters (schema EncoderSnapshot). Its
// JSON names are the Go field names, as the API has always written
// them; durations are in nanoseconds.
type PipelineView struct {
	FramesIn  int64 `json:"FramesIn"`
	FramesOut int64 `json:"FramesOut"`
	// Dropped counts frames dropped, by reason ("stale", "write_timeout",
	// "queue_full", "encode_error", "no_encoder").
	Dropped          map[string]int64 `json:"Dropped"`
	EncodingTimeouts int64            `json:"EncodingTimeouts"`
	EncodingErrors   int64            `json:"EncodingErrors"`
	// Replacements counts encoders replaced, by cause ("timeout",
	// "error"); EncoderSwitches is their sum.
	Replacements    map[string]int64 `json:"Replacements"`
	EncoderSwitches int64            `json:"EncoderSwitches"`
	Reopened        int64            `json:"Reopened"`
	Restarts        int64            `json:"Restarts"`
	ProcessStalls   int64            `json:"ProcessStalls"`
	Abandoned       int64            `json:"Abandoned"`
	// LatencyP50 and LatencyP99 are encode latency quantiles over the
	// last encodes.
	LatencyP50 time.Duration `json:"LatencyP50"`
	LatencyP99 time.Duration `json:"LatencyP99"`
	// LatencyBuckets counts encodes per latency bucket, the last entry
	// those above the last bound; LatencySum is the time of all encodes.
	LatencyBuckets []int64       `json:"LatencyBuckets"`
	LatencySum     time.Duration `json:"LatencySum"`
}

// StreamView is one output stream's fan-out counters (schema
// BroadcasterStats).
type StreamView struct {
	DeviceID string `json:"deviceId"`
	// Viewers are the readers that watch the stream.
	Viewers int `json:"viewers"`
	// UnitsIn, BytesIn and KeyFramesIn count what the stream took in.
	UnitsIn     uint64 `json:"unitsIn"`
	BytesIn     uint64 `json:"bytesIn"`
	KeyFramesIn uint64 `json:"keyFramesIn"`
	// Dropped counts units dropped for slow or joining readers.
	Dropped uint64 `json:"dropped"`
	// KeyFrameRequests counts the keyframe requests of joins, skips and
	// PLIs, before they are merged.
	KeyFrameRequests uint64 `json:"keyFrameRequests"`
	// GOPCached is the number of units in the cache.
	GOPCached int `json:"gopCached"`
}

// SessionView is one WebRTC session (schema SessionInfo).
type SessionView struct {
	ID       string `json:"id"`
	DeviceID string `json:"deviceId"`
	UserID   string `json:"userId"`
	// Token names the API token that created the session (none without
	// authentication); ViewOnly is set for a session whose input is
	// refused.
	Token string `json:"token,omitempty"`
	// TokenKind is how its creator authenticated: "static" (API_TOKENS)
	// or "jwt" (a signed access token); none without authentication.
	TokenKind string    `json:"tokenKind,omitempty"`
	ViewOnly  bool      `json:"viewOnly,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	State     string    `json:"state"`    // peer connection state
	ICEState  string    `json:"iceState"` // ICE connection state
	Codec     string    `json:"codec"`
	// ProfileLevelID is the H.264 profile-level-id of the answer.
	ProfileLevelID string `json:"profileLevelId,omitempty"`
	// Controller is set while the session controls its device.
	Controller bool `json:"controller"`
	// Rung is the quality rung the viewer watches (0: the full picture).
	Rung  int              `json:"rung"`
	Stats SessionStatsView `json:"stats"`
	// EndReason is why the session ended (max-duration, token-expired,
	// control-idle, ...): GET /api/media/sessions/:id still describes a
	// session that ended with a reason for a minute, in state closed.
	EndReason string `json:"endReason,omitempty"`
}

// SessionStatsView is a session's counters (schema SessionStats).
type SessionStatsView struct {
	// PacketsSent and BytesSent count RTP packets and their payload bytes,
	// retransmissions included.
	PacketsSent uint64 `json:"packetsSent"`
	BytesSent   uint64 `json:"bytesSent"`
	// NACKs counts NACK messages received, NACKedPackets the packets they
	// asked for.
	NACKs         uint64 `json:"nacks"`
	NACKedPackets uint64 `json:"nackedPackets"`
	PLIs          uint64 `json:"plis"`
	FIRs          uint64 `json:"firs"`
	// FramesSent, FramesDropped and Skips are the viewer's queue counters.
	FramesSent    uint64 `json:"framesSent"`
	FramesDropped uint64 `json:"framesDropped"`
	Skips         uint64 `json:"skips"`
	// TargetBitRate is the bandwidth estimate in bits per second (0 when
	// the client gives no transport-wide feedback).
	TargetBitRate int    `json:"targetBitRate"`
	Inputs        uint64 `json:"inputs"`
	InputErrors   uint64 `json:"inputErrors"`
	Reports       uint64 `json:"reports"`
	// ControlTakeovers counts the times the viewer took control of its
	// device.
	ControlTakeovers uint64 `json:"controlTakeovers"`
	// RungSwitches counts the viewer's moves between quality rungs.
	RungSwitches uint64 `json:"rungSwitches"`
}

// LatencyView is a device's recent glass-to-glass latency (schema
// LatencySummary), in milliseconds.
type LatencyView struct {
	Samples int     `json:"samples"`
	P50ms   float64 `json:"p50ms"`
	P95ms   float64 `json:"p95ms"`
	P99ms   float64 `json:"p99ms"`
}
