package rtc

import (
	"context"
	"errors"
	"time"

	"github.com/cloudphone/media-service/media"

	"github.com/pion/webrtc/v4"
)

// Session lifecycle events (Config.OnSessionEvent), for the service's
// webhooks:
//
//   - SessionStarted when the session's media starts flowing: its peer
//     connection connected and the device's stream is written to its
//     track (what a viewer is billed from). A session whose viewer never
//     connects never starts.
//   - SessionEnded when a session that started has ended and released its
//     device, with its final counters and SessionInfo.EndReason. It comes
//     after its SessionStarted, and only for a session that started.
//   - ControlChanged when the session that controls its device changes:
//     a "control" message, the first input while nobody held control, a
//     "release" message (or the service releasing an idle controller),
//     and the end of the holder's session.
//
// The hook is called on the session's goroutines (Pion's, the sweep's,
// the closer's) and must not block.

// SessionEventKind says what happened to a session.
type SessionEventKind string

// The kinds of SessionEvent.
const (
	SessionStarted SessionEventKind = "started"
	SessionEnded   SessionEventKind = "ended"
	ControlChanged SessionEventKind = "control"
)

// Reasons of a ControlChanged event (SessionEvent.ControlReason).
const (
	// ControlTake: the session took control ("control" message, or its
	// first input while nobody held it).
	ControlTake = "take"
	// ControlRelease: the holder gave control up ("release" message), or
	// the service released it (CONTROL_IDLE_TIMEOUT).
	ControlRelease = "release"
	// ControlSessionEnded: the holder's session ended.
	ControlSessionEnded = "session-ended"
)

// End reasons the manager sets (SessionInfo.EndReason, once the session
// has ended), besides those of the limits (EndMaxDuration,
// EndTokenExpired, EndControlIdle) and of CloseWithReason's callers. A
// reason given to CloseWithReason wins over these; unlike it, these are
// not told to the viewer and not kept for Manager.Ended.
const (
	// EndDeleted: Manager.Delete, the API's DELETE (the viewer page's own
	// when it leaves, or any client's).
	EndDeleted = "deleted"
	// EndClient: the viewer closed its peer connection (its input
	// channel closed before the connection failed).
	EndClient = "client"
	// EndICEFailed: the connection failed: a viewer gone silent, its
	// network lost.
	EndICEFailed = "ice-failed"
	// EndDisconnected: the connection stayed disconnected for
	// Config.IdleTimeout.
	EndDisconnected = "disconnected"
	// EndNeverConnected: the viewer never connected: within
	// Config.IdleTimeout, or its connection failed first (the session
	// never started: no event).
	EndNeverConnected = "never-connected"
	// EndDeviceGone: the device stopped running here (a fleet's device
	// whose Lease was lost or whose pod went away).
	EndDeviceGone = "device-gone"
	// EndTokenRevoked: a configuration reload removed or changed the
	// session's API token.
	EndTokenRevoked = "token-revoked"
	// EndDrain: the service drained (DRAIN_TIMEOUT passed, or the drain
	// was cut short) with the session still running.
	EndDrain = "drain"
	// EndShutdown: the manager closed (the service stopped).
	EndShutdown = "shutdown"
)

// SessionEvent is one event of a session's lifecycle.
type SessionEvent struct {
	Kind SessionEventKind
	// Time is when it happened.
	Time time.Time
	// Session describes the session then: on SessionEnded its final
	// counters and its EndReason. On ControlChanged it is the session that
	// took or gave up control.
	Session SessionInfo
	// StartedAt is when the session's media started (Time itself on
	// SessionStarted; zero on ControlChanged).
	StartedAt time.Time
	// Controller is the session that holds control now ("" when
	// released), PreviousController the one that held it ("" when none
	// did), and ControlReason why (ControlTake, ControlRelease,
	// ControlSessionEnded): ControlChanged only.
	Controller, PreviousController, ControlReason string
}

// Duration is how long a session's media flowed: from StartedAt to Time
// (0 before SessionEnded).
func (e SessionEvent) Duration() time.Duration {
	if e.Kind != SessionEnded || e.StartedAt.IsZero() {
		return 0
	}
	return e.Time.Sub(e.StartedAt)
}

// sessionEvents is a session's part in its events: they are sent in
// order, SessionEnded only after SessionStarted.
type sessionEvents struct {
	startedAt time.Time // zero until SessionStarted went out
	ended     bool
}

func (m *Manager) hasEventHook() bool { return m != nil && m.cfg.OnSessionEvent != nil }

// emitStarted sends SessionStarted, once, unless the session has ended.
func (s *Session) emitStarted() {
	if !s.m.hasEventHook() {
		return
	}
	now := time.Now()
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if s.ev.ended || !s.ev.startedAt.IsZero() {
		return
	}
	s.ev.startedAt = now
	s.m.cfg.OnSessionEvent(SessionEvent{Kind: SessionStarted, Time: now, Session: s.Info(), StartedAt: now})
}

// emitEnded sends SessionEnded for a session that started; its close
// calls it once everything is released.
func (s *Session) emitEnded() {
	if !s.m.hasEventHook() {
		return
	}
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if s.ev.ended {
		return
	}
	s.ev.ended = true
	if s.ev.startedAt.IsZero() {
		return
	}
	info := s.Info()
	if info.EndReason == "" {
		info.EndReason = EndShutdown
	}
	s.m.cfg.OnSessionEvent(SessionEvent{Kind: SessionEnded, Time: time.Now(), Session: info, StartedAt: s.ev.startedAt})
}

// emitControl sends ControlChanged.
func (s *Session) emitControl(holder, prev, reason string) {
	s.m.cfg.OnSessionEvent(SessionEvent{Kind: ControlChanged, Time: time.Now(), Session: s.Info(),
		Controller: holder, PreviousController: prev, ControlReason: reason})
}

// closeBecause closes the session (close), noting why unless a reason is
// known: the reason of the manager's own closes (Delete, the sweep,
// Close), which the viewer is not told (CloseWithReason tells it).
func (s *Session) closeBecause(reason string) {
	s.cause.CompareAndSwap(nil, &reason)
	s.close()
}

// finalReason is SessionInfo.EndReason: CloseWithReason's reason, else
// the manager's; "" while the session runs.
func (s *Session) finalReason() string {
	if r := s.endReason(); r != "" {
		return r
	}
	if p := s.cause.Load(); p != nil {
		return *p
	}
	return ""
}

// DeleteWithReason ends a session as Delete does, with reason as its
// SessionInfo.EndReason (EndDeviceGone, EndTokenRevoked, ...) unless one
// is known; unlike CloseWithReason, the viewer is not told.
func (m *Manager) DeleteWithReason(id, reason string) error {
	s, ok := m.remove(id)
	if !ok {
		return ErrSessionNotFound
	}
	s.closeBecause(reason)
	return nil
}

// sweepReason is the end reason of a session the sweep closes, whose
// connection is in state st.
func (s *Session) sweepReason(st webrtc.PeerConnectionState) string {
	s.mu.Lock()
	ever := s.everConnected
	s.mu.Unlock()
	switch {
	case !ever:
		return EndNeverConnected
	case st == webrtc.PeerConnectionStateClosed:
		return EndClient
	case st == webrtc.PeerConnectionStateFailed && s.inputClosed.Load():
		return EndClient // its input channel closed first: the viewer left
	case st == webrtc.PeerConnectionStateFailed:
		return EndICEFailed
	}
	return EndDisconnected
}

// controlFeed is a session's feed that reports the changes of control
// (ControlChanged) made through it.
type controlFeed struct {
	Feed
	s *Session
}

// TakeControl implements Control.
func (f controlFeed) TakeControl() string {
	prev := f.Feed.TakeControl()
	if prev != f.s.id {
		f.s.emitControl(f.s.id, prev, ControlTake)
	}
	return prev
}

// ReleaseControl implements Control.
func (f controlFeed) ReleaseControl() bool {
	held := f.Feed.ReleaseControl()
	if held {
		f.s.emitControl("", f.s.id, ControlRelease)
	}
	return held
}

// Input implements Control: the first input while nobody held control
// takes it. Input checks control first (Control.Input): one that was not
// refused by a viewer that did not hold control took it. (A session's
// messages come one at a time: it cannot have taken it meanwhile.)
func (f controlFeed) Input(ctx context.Context, in media.Input) error {
	had := f.Feed.Controller()
	err := f.Feed.Input(ctx, in)
	if !had && !errors.Is(err, ErrNotController) {
		f.s.emitControl(f.s.id, "", ControlTake)
	}
	return err
}

// Close implements Media: control held goes back with the session.
func (f controlFeed) Close() {
	if f.Feed.ReleaseControl() {
		f.s.emitControl("", f.s.id, ControlSessionEnded)
	}
	f.Feed.Close()
}
