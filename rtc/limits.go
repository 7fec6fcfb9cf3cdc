package rtc

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// Session limits. A session may have a deadline: Config.MaxSessionDuration
// (lowered by CreateRequest.MaxDuration) after it was created, or its
// token's CreateRequest.Expires with Config.TokenExpiryEndsSessions,
// whichever comes first. A viewer that holds control and sends no input
// for Config.ControlIdleTimeout loses control (or, with
// Config.ControlIdleEndsSession, its session). Each limit has at most one
// timer per session, armed first for the warning (Config.LimitWarning
// before) and then for the limit itself, and stopped when the session
// closes. The limits of a session are those in force when it was created:
// a reload (Manager.SetLive) applies to sessions created from then on.
//
// On the input channel the client gets, when it opens and the session has
// a deadline, and again as a warning:
//
//	{"type":"limit","kind":"session","reason":"max-duration","endsAt":<unix ms>,"remainingMs":N,"warning":false}
//
// for control, only the warning (and "cleared" once input came again):
//
//	{"type":"limit","kind":"control","reason":"control-idle","endsAt":<unix ms>,"remainingMs":N,"warning":true}
//	{"type":"limit","kind":"control","reason":"control-idle","cleared":true}
//	{"type":"control","state":"released","reason":"control-idle"}
//
// and, just before a session closed with a reason (CloseWithReason)
// closes, best effort:
//
//	{"type":"end","reason":"max-duration","message":"..."}

// End reasons of the session limits (SessionInfo.EndReason).
const (
	// EndMaxDuration: the session reached its maximum duration
	// (Config.MaxSessionDuration, CreateRequest.MaxDuration).
	EndMaxDuration = "max-duration"
	// EndTokenExpired: the token that created the session expired
	// (CreateRequest.Expires, Config.TokenExpiryEndsSessions).
	EndTokenExpired = "token-expired"
	// EndControlIdle: the viewer held control without input for
	// Config.ControlIdleTimeout (Config.ControlIdleEndsSession).
	EndControlIdle = "control-idle"
)

const (
	// endFlushTimeout bounds the wait for the "end" message to leave
	// before the peer connection closes.
	endFlushTimeout = 250 * time.Millisecond
	// endedRetention is how long Manager.Ended keeps an ended session's
	// description; maxEnded bounds how many it keeps.
	endedRetention = time.Minute
	maxEnded       = 10_000
)

// endMessages are the "end" message's words for the limits' reasons.
var endMessages = map[string]string{
	EndMaxDuration:  "the session reached its time limit",
	EndTokenExpired: "the access token expired",
	EndControlIdle:  "no input for too long",
}

// limitReply is a "limit" message: a deadline the client should know of,
// or ("cleared") a control warning that no longer holds.
type limitReply struct {
	Type        string `json:"type"` // "limit"
	Kind        string `json:"kind"` // "session" or "control"
	Reason      string `json:"reason"`
	EndsAt      int64  `json:"endsAt,omitempty"` // Unix milliseconds
	RemainingMs int64  `json:"remainingMs,omitempty"`
	Warning     bool   `json:"warning,omitempty"`
	Cleared     bool   `json:"cleared,omitempty"`
}

// endReply is the "end" message sent before a session closed with a reason.
type endReply struct {
	Type    string `json:"type"` // "end"
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// controlReply tells a viewer that the service released its control.
type controlReply struct {
	Type   string `json:"type"`  // "control"
	State  string `json:"state"` // "released"
	Reason string `json:"reason"`
}

// limitState is a session's limits and their timers.
type limitState struct {
	// Set at creation.
	deadline time.Time     // zero: no session limit
	reason   string        // EndMaxDuration or EndTokenExpired
	warn     time.Duration // the session warning's lead (0: none)
	ctlIdle  time.Duration // 0: no control idle limit
	ctlWarn  time.Duration // the control warning's lead (0: none)
	ctlEnds  bool

	lastInput atomic.Int64 // Unix nanoseconds of the last input or grant

	mu         sync.Mutex
	stopped    bool
	endReason  string
	sessTimer  *time.Timer
	sessWarned bool
	ctlTimer   *time.Timer
	ctlArmed   bool
	ctlWarned  bool
}

// init sets the limits of a session created at created under c.
func (l *limitState) init(c *Config, req CreateRequest, created time.Time) {
	d := c.MaxSessionDuration
	if req.MaxDuration > 0 && (d <= 0 || req.MaxDuration < d) {
		d = req.MaxDuration
	}
	if d > 0 {
		l.deadline, l.reason = created.Add(d), EndMaxDuration
	}
	if c.TokenExpiryEndsSessions && !req.Expires.IsZero() && (l.deadline.IsZero() || req.Expires.Before(l.deadline)) {
		l.deadline, l.reason = req.Expires, EndTokenExpired
	}
	l.warn = max(c.LimitWarning, 0)
	if c.ControlIdleTimeout > 0 {
		l.ctlIdle, l.ctlEnds = c.ControlIdleTimeout, c.ControlIdleEndsSession
		l.ctlWarn = min(l.warn, c.ControlIdleTimeout/2)
	}
}

// startLimits arms the session's deadline, once it is registered.
func (s *Session) startLimits() {
	l := &s.lim
	if l.deadline.IsZero() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	now := time.Now()
	next := l.deadline.Sub(now)
	if w := next - l.warn; l.warn > 0 && w > 0 {
		next = w
	}
	l.sessTimer = time.AfterFunc(max(next, 0), s.onSessionTimer)
	s.log.Debug("rtc: session limit", "reason", l.reason, "endsAt", l.deadline, "in", l.deadline.Sub(now).Round(time.Millisecond))
}

// sessionLimit is the "limit" message of the session's deadline.
func (l *limitState) sessionLimit(now time.Time, warning bool) limitReply {
	return limitReply{Type: "limit", Kind: "session", Reason: l.reason, EndsAt: l.deadline.UnixMilli(),
		RemainingMs: max(l.deadline.Sub(now).Milliseconds(), 1), Warning: warning}
}

// announceLimits tells the client of an input channel that just opened
// about the session's deadline: a warning already when it is that near.
func (s *Session) announceLimits(dc *webrtc.DataChannel) {
	l := &s.lim
	if l.deadline.IsZero() {
		return
	}
	now := time.Now()
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	warning := l.warn > 0 && l.deadline.Sub(now) <= l.warn
	if warning {
		l.sessWarned = true
	}
	r := l.sessionLimit(now, warning)
	l.mu.Unlock()
	s.reply(dc, r)
}

// onSessionTimer warns the client of the deadline, or ends the session
// at it.
func (s *Session) onSessionTimer() {
	l := &s.lim
	now := time.Now()
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	if now.Before(l.deadline) {
		warn := !l.sessWarned
		l.sessWarned = true
		l.sessTimer.Reset(l.deadline.Sub(now))
		r := l.sessionLimit(now, true)
		l.mu.Unlock()
		if dc := s.channel(); warn && dc != nil {
			s.reply(dc, r)
		}
		return
	}
	l.mu.Unlock()
	s.log.Info("rtc: closing session", "reason", l.reason)
	s.CloseWithReason(l.reason)
}

// noteInput notes the viewer's input (a gesture, or taking control) for
// the control idle limit, arming its timer when it is not.
func (s *Session) noteInput() {
	l := &s.lim
	if l.ctlIdle <= 0 {
		return
	}
	l.lastInput.Store(time.Now().UnixNano())
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	if !l.ctlArmed {
		l.ctlArmed = true
		first := l.ctlIdle - l.ctlWarn
		if l.ctlTimer == nil {
			l.ctlTimer = time.AfterFunc(first, s.onControlTimer)
		} else {
			l.ctlTimer.Reset(first)
		}
	}
	warned := l.ctlWarned
	l.ctlWarned = false
	l.mu.Unlock()
	if dc := s.channel(); warned && dc != nil {
		s.reply(dc, limitReply{Type: "limit", Kind: "control", Reason: EndControlIdle, Cleared: true})
	}
}

// onControlTimer follows the control idle limit: it re-arms for the time
// left since the last input, warns, and at the limit releases control
// (or ends the session). A session that no longer controls its device
// disarms it until its next input.
func (s *Session) onControlTimer() {
	l := &s.lim
	now := time.Now()
	controller := s.feed.Controller()
	l.mu.Lock()
	if l.stopped || !l.ctlArmed {
		l.mu.Unlock()
		return
	}
	last := time.Unix(0, l.lastInput.Load())
	if !controller && !last.After(now) {
		l.ctlArmed, l.ctlWarned = false, false
		l.mu.Unlock()
		return
	}
	deadline := last.Add(l.ctlIdle)
	if warnAt := deadline.Add(-l.ctlWarn); now.Before(warnAt) {
		l.ctlTimer.Reset(warnAt.Sub(now))
		l.mu.Unlock()
		return
	}
	if now.Before(deadline) {
		warn := l.ctlWarn > 0 && !l.ctlWarned
		l.ctlWarned = true
		l.ctlTimer.Reset(deadline.Sub(now))
		l.mu.Unlock()
		if dc := s.channel(); warn && dc != nil {
			s.reply(dc, limitReply{Type: "limit", Kind: "control", Reason: EndControlIdle, EndsAt: deadline.UnixMilli(),
				RemainingMs: max(deadline.Sub(now).Milliseconds(), 1), Warning: true})
		}
		return
	}
	l.ctlArmed, l.ctlWarned = false, false
	l.mu.Unlock()
	if l.ctlEnds {
		s.log.Info("rtc: closing session", "reason", EndControlIdle, "idle", l.ctlIdle)
		s.CloseWithReason(EndControlIdle)
		return
	}
	if s.feed.ReleaseControl() {
		s.log.Info("rtc: control released", "reason", EndControlIdle, "idle", l.ctlIdle)
		if dc := s.channel(); dc != nil {
			s.reply(dc, controlReply{Type: "control", State: "released", Reason: EndControlIdle})
		}
	}
}

// stopLimits stops the session's timers for good; the session is
// closing.
func (s *Session) stopLimits() {
	l := &s.lim
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	for _, t := range []*time.Timer{l.sessTimer, l.ctlTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

// channel returns the session's input channel (nil before the client
// opened it).
func (s *Session) channel() *webrtc.DataChannel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dc
}

// CloseWithReason ends the session, as Manager.Delete does, and records
// why: SessionInfo.EndReason (also from Manager.Ended for a while after),
// the log line of its close, and the {"type":"end","reason":...} message
// its client gets just before the close (best effort). The first reason
// given sticks. It returns once the session has released its device.
func (s *Session) CloseWithReason(reason string) {
	s.setEndReason(reason)
	if m := s.m; m != nil {
		// Counted in the manager's wait group, unless its Close already
		// runs (it then closes the session itself).
		m.mu.Lock()
		closed := m.closed
		if !closed {
			m.wg.Add(1)
		}
		m.mu.Unlock()
		if !closed {
			defer m.wg.Done()
			if _, ok := m.remove(s.id); ok {
				m.recordEnded(s) // Ended answers from now on, not only once closed
			}
		}
	}
	s.close()
}

// setEndReason records why the session ends, unless a reason is known.
func (s *Session) setEndReason(reason string) {
	l := &s.lim
	l.mu.Lock()
	if l.endReason == "" {
		l.endReason = reason
	}
	l.mu.Unlock()
}

// endReason is why the session ended ("" while it runs, or when nothing
// said why).
func (s *Session) endReason() string {
	l := &s.lim
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.endReason
}

// sayEnd sends the "end" message, when the session ends with a reason,
// and waits a little for it to leave.
func (s *Session) sayEnd() {
	reason := s.endReason()
	dc := s.channel()
	if reason == "" || dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return
	}
	s.reply(dc, endReply{Type: "end", Reason: reason, Message: endMessages[reason]})
	t := time.NewTimer(endFlushTimeout)
	defer t.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for dc.BufferedAmount() > 0 {
		select {
		case <-t.C:
			return
		case <-tick.C:
		}
	}
}

// endedSession is an ended session's description, kept for Manager.Ended.
type endedSession struct {
	info SessionInfo
	at   time.Time
}

// recordEnded keeps the description of a session that ended with a
// reason, closed, for endedRetention: first as it starts closing, then
// with its final counters.
func (m *Manager) recordEnded(s *Session) {
	if s.endReason() == "" {
		return
	}
	info := s.Info()
	info.State = webrtc.PeerConnectionStateClosed.String()
	now := time.Now()
	m.endedMu.Lock()
	defer m.endedMu.Unlock()
	m.pruneEndedLocked(now)
	if e, ok := m.ended[info.ID]; ok {
		m.ended[info.ID] = endedSession{info: info, at: e.at}
		return
	}
	if len(m.endedOrder) >= maxEnded {
		return
	}
	if m.ended == nil {
		m.ended = map[string]endedSession{}
	}
	m.ended[info.ID] = endedSession{info: info, at: now}
	m.endedOrder = append(m.endedOrder, info.ID)
}

// pruneEndedLocked forgets the ended sessions older than endedRetention;
// m.endedMu is held.
func (m *Manager) pruneEndedLocked(now time.Time) {
	n := 0
	for _, id := range m.endedOrder {
		if now.Sub(m.ended[id].at) < endedRetention {
			break
		}
		delete(m.ended, id)
		n++
	}
	if n > 0 {
		m.endedOrder = append(m.endedOrder[:0], m.endedOrder[n:]...)
	}
}

// Ended returns the description of a session that ended with a reason
// (SessionInfo.EndReason: a limit, or CloseWithReason) within the last
// minute; false for any other.
func (m *Manager) Ended(id string) (SessionInfo, bool) {
	m.endedMu.Lock()
	defer m.endedMu.Unlock()
	m.pruneEndedLocked(time.Now())
	e, ok := m.ended[id]
	return e.info, ok
}
