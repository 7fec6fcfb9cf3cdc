package webhook

import "time"

// The event types the service sends. Every payload is
// {"type": TYPE, "timestamp": RFC 3339 with nanoseconds, "data": DATA},
// DATA being the type's struct below; api/openapi.json documents them
// (its top-level webhooks).
const (
	// TypeSessionStarted: a session's media started flowing to its viewer
	// (its peer connection connected and the device's stream is written
	// to its track). Data: Session.
	TypeSessionStarted = "session.started"
	// TypeSessionEnded: a session that had started ended. Data:
	// SessionEnded. A session that never started sends neither event.
	TypeSessionEnded = "session.ended"
	// TypeDeviceConnected: a device became available to this instance.
	// Data: Device.
	TypeDeviceConnected = "device.connected"
	// TypeDeviceDisconnected: a device stopped being available to this
	// instance. Data: Device.
	TypeDeviceDisconnected = "device.disconnected"
	// TypeControlChanged: the session that controls a device (sends its
	// input) changed. Data: ControlChanged.
	TypeControlChanged = "control.changed"
	// TypeDraining: this instance started draining: it takes no new
	// session. Data: Draining.
	TypeDraining = "draining"
	// TypeRecordingFailed: a recording stopped on an error of its own (a
	// full disk, files that cannot be written); its device and viewers go
	// on. Data: RecordingFailed.
	TypeRecordingFailed = "recording.failed"
)

// Types are every event type, for filters.
var Types = []string{TypeSessionStarted, TypeSessionEnded, TypeDeviceConnected, TypeDeviceDisconnected,
	TypeControlChanged, TypeDraining, TypeRecordingFailed}

// Session is the data of session.started, and the start of
// session.ended's.
type Session struct {
	SessionID string `json:"sessionId"`
	DeviceID  string `json:"deviceId"`
	UserID    string `json:"userId"`
	// Token names the API token that created the session; none without
	// authentication.
	Token    string `json:"token,omitempty"`
	ViewOnly bool   `json:"viewOnly,omitempty"`
	Codec    string `json:"codec"`
	// Instance is the service instance that serves the session (POD_NAME,
	// or the host name).
	Instance  string    `json:"instance"`
	CreatedAt time.Time `json:"createdAt"`
	// StartedAt is when media started flowing (session.started's time).
	StartedAt time.Time `json:"startedAt"`
}

// SessionEnded is the data of session.ended.
type SessionEnded struct {
	Session
	EndedAt time.Time `json:"endedAt"`
	// DurationMs is the time from StartedAt to EndedAt in milliseconds:
	// the time the viewer was served media.
	DurationMs int64 `json:"durationMs"`
	// Reason says what ended the session (rtc's End* reasons: client,
	// deleted, ice-failed, disconnected, device-gone, drain, shutdown,
	// token-revoked, and those of the session limits).
	Reason string `json:"reason"`
	// BytesSent and PacketsSent count the RTP sent (payload bytes,
	// retransmissions included); FramesSent the units of video (frames)
	// written to the viewer, FramesDropped those its queue skipped.
	BytesSent     uint64 `json:"bytesSent"`
	PacketsSent   uint64 `json:"packetsSent"`
	FramesSent    uint64 `json:"framesSent"`
	FramesDropped uint64 `json:"framesDropped"`
}

// Device is the data of device.connected and device.disconnected.
type Device struct {
	DeviceID string `json:"deviceId"`
	// Serial is the device's adb serial (its address in a fleet).
	Serial   string `json:"serial"`
	Instance string `json:"instance"`
	// Source is "adb" (DEVICE_SOURCE=static: the adb server's list) or
	// "fleet" (DEVICE_SOURCE=kubernetes: the device runs here, its Lease
	// held by this instance).
	Source string `json:"source"`
	// Reason, on device.disconnected, says why: the adb state the device
	// went to (offline, unauthorized, ...), "removed" (no longer listed),
	// "released" (a fleet's device that stopped running here) or
	// "shutdown" (the instance stopped).
	Reason string `json:"reason,omitempty"`
}

// ControlChanged is the data of control.changed.
type ControlChanged struct {
	DeviceID string `json:"deviceId"`
	// SessionID holds control now; "" when control was released.
	SessionID string `json:"sessionId"`
	// PreviousSessionID held it before; "" when nobody did.
	PreviousSessionID string `json:"previousSessionId"`
	// UserID and Token are SessionID's (empty on a release).
	UserID   string `json:"userId,omitempty"`
	Token    string `json:"token,omitempty"`
	Instance string `json:"instance"`
	// Reason is "take" (a "control" message, or the first input while
	// nobody held control), "release" (a "release" message) or
	// "session-ended" (the holder's session ended).
	Reason string `json:"reason"`
}

// Draining is the data of draining.
type Draining struct {
	Instance string `json:"instance"`
	// Sessions are the sessions running as the drain starts; they are
	// kept until they end or DrainTimeoutMs passes.
	Sessions       int   `json:"sessions"`
	DrainTimeoutMs int64 `json:"drainTimeoutMs"`
}

// RecordingFailed is the data of recording.failed.
type RecordingFailed struct {
	RecordingID string `json:"recordingId"`
	DeviceID    string `json:"deviceId"`
	// Instance recorded it, and serves its files.
	Instance string `json:"instance"`
	// Reason is disk_full, permission, io, stream or device_gone (package
	// recording's failure reasons); Error says what failed.
	Reason    string    `json:"reason"`
	Error     string    `json:"error"`
	StartedAt time.Time `json:"startedAt"`
	FailedAt  time.Time `json:"failedAt"`
	// Segments, Bytes and DurationMs are what it wrote, the failed
	// segment included (it plays up to its last complete fragment).
	Segments   int   `json:"segments"`
	Bytes      int64 `json:"bytes"`
	DurationMs int64 `json:"durationMs"`
}
