package rtc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
)

// Bounds of one session.
const (
	// maxRemoteCandidates bounds the candidates a client may add.
	maxRemoteCandidates = 64
	// inputTimeout bounds one Feed.Input call.
	inputTimeout = 5 * time.Second
	// maxReplyBuffered: replies are dropped while the channel holds more.
	maxReplyBuffered = 64 << 10
	// sctpMaxMessage is the largest data channel message the server takes:
	// more than MaxInputMessage, so that a message a little over it gets an
	// error reply rather than closing the channel.
	sctpMaxMessage = MaxInputMessage + 16<<10
)

// Session is one viewer: a peer connection that sends one device's video
// on its own track and takes input on the "input" data channel. The
// Manager creates, finds and deletes sessions.
type Session struct {
	m         *Manager
	id        string
	deviceID  string
	userID    string
	token     string // the caller's token name; "" without authentication
	tokenKind string // "static", "jwt"; "" without authentication
	viewOnly  bool
	createdAt time.Time
	index     int
	choice    codecChoice
	twcc      bool
	ufrags    []string // the offer's ICE username fragments
	log       *slog.Logger

	feed   Feed
	unjoin func() // gives the session's admission back (Manager.admit)

	ctx    context.Context
	cancel context.CancelFunc
	pc     *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticSample
	sender *webrtc.RTPSender
	wg     sync.WaitGroup
	done   chan struct{}
	once   sync.Once

	mu             sync.Mutex
	started        bool // the feed writes to the track
	dc             *webrtc.DataChannel
	closing        bool
	connectedAt    time.Time // zero until connected
	disconnectedAt time.Time // zero unless disconnected now
	everConnected  bool
	// The device's input notices (Control.Notices): noticesOn once the
	// input channel opened and the session subscribed, stopNotices ends
	// the subscription.
	noticesOn   bool
	stopNotices func()

	// Notices waiting for the relay (noticeMu): the latest input state and
	// clipboard; noticeWake wakes the relay.
	noticeMu    sync.Mutex
	noticeState *media.InputState
	noticeClip  *string
	noticeWake  chan struct{}

	pcState  atomic.Int32 // webrtc.PeerConnectionState
	iceState atomic.Int32 // webrtc.ICEConnectionState

	bwe              atomic.Pointer[cc.BandwidthEstimator]
	clock            captureClock
	lim              limitState // the session's time limits (limits.go)
	remoteCandidates atomic.Int32

	packetsSent, bytesSent       atomic.Uint64
	nackPackets, nacks           atomic.Uint64
	plis, firs                   atomic.Uint64
	inputs, inputErrors, reports atomic.Uint64
	takeovers                    atomic.Uint64 // "control" messages granted
	repliesDropped               atomic.Uint64

	// Lifecycle events (events.go): evMu orders them; cause is the
	// manager's end reason (closeBecause); inputClosed is set once the
	// input channel closed.
	evMu        sync.Mutex
	ev          sessionEvents
	cause       atomic.Pointer[string]
	inputClosed atomic.Bool
}

// ID is the session's random identifier (26 characters of base32, 130 bits).
func (s *Session) ID() string { return s.id }

// DeviceID is the device the session shows.
func (s *Session) DeviceID() string { return s.deviceID }

// UserID is the user the session belongs to.
func (s *Session) UserID() string { return s.userID }

// Token is the name of the API token that created the session ("" without
// authentication).
func (s *Session) Token() string { return s.token }

// ViewOnly reports whether the session only watches: its input is refused.
func (s *Session) ViewOnly() bool { return s.viewOnly }

// Codec is the codec the session sends.
func (s *Session) Codec() media.Codec { return s.choice.codec }

// Done is closed when the session has ended and released its device.
func (s *Session) Done() <-chan struct{} { return s.done }

// captureTime is the time the unit being written reached the broadcaster.
func (s *Session) captureTime() time.Time { return s.clock.get() }

// sessionWriter writes a viewer's samples to the session's track, first
// noting when the unit reached the fan-out for the abs-capture-time
// extension. This is where a unit becomes RTP: the track packetizes it.
type sessionWriter struct{ s *Session }

// WriteSample writes one sample.
func (w sessionWriter) WriteSample(smp fanout.Sample) error {
	w.s.clock.set(smp.Arrived)
	return w.s.track.WriteSample(pionmedia.Sample{Data: smp.Unit.Data, Duration: smp.Duration, Timestamp: smp.Arrived})
}

// onConnectionState follows the peer connection's state: media starts at
// the first "connected" (SRTP is up then; what the track writes before is
// lost), and the manager sweeps failed and closed sessions at once.
//
// Pion runs each call on its own goroutine, so calls may come out of
// order: the state kept is the connection's current one, not st.
func (s *Session) onConnectionState(st webrtc.PeerConnectionState) {
	s.log.Debug("rtc: peer connection state", "state", st.String())
	s.mu.Lock()
	cur := s.pc.ConnectionState()
	if !s.closing {
		s.pcState.Store(int32(cur))
	}
	wasStarted := s.started
	if st == webrtc.PeerConnectionStateConnected && !s.everConnected {
		s.everConnected = true
		s.connectedAt = time.Now()
		s.startMediaLocked()
	}
	startedNow := !wasStarted && s.started
	switch {
	case cur == webrtc.PeerConnectionStateDisconnected && s.disconnectedAt.IsZero():
		s.disconnectedAt = time.Now()
	case cur != webrtc.PeerConnectionStateDisconnected:
		s.disconnectedAt = time.Time{}
	}
	s.mu.Unlock()
	if startedNow {
		s.emitStarted() // session.started: media flows
	}
	if cur == webrtc.PeerConnectionStateFailed || cur == webrtc.PeerConnectionStateClosed {
		s.m.kick()
	}
}

// startMediaLocked starts the session's feed; s.mu is held.
func (s *Session) startMediaLocked() {
	if s.closing || s.started {
		return
	}
	var w fanout.Writer = sessionWriter{s}
	if s.m.cfg.wrapWriter != nil {
		w = s.m.cfg.wrapWriter(s.index, w)
	}
	if err := s.feed.Start(w); err != nil {
		s.log.Warn("rtc: start the device's media", "err", err)
		return
	}
	s.started = true
	s.log.Info("rtc: session connected")
}

// readRTCP reads the RTCP the client sends about the track, which runs it
// through the interceptors (NACK responder, GCC, sender reports), and
// turns PLI and FIR into keyframe requests (the device's owner rate-limits them).
func (s *Session) readRTCP() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, attr, err := s.sender.Read(buf)
		if err != nil {
			return
		}
		var pkts []rtcp.Packet
		if attr != nil {
			pkts, err = attr.GetRTCPPackets(buf[:n])
		} else {
			pkts, err = rtcp.Unmarshal(buf[:n])
		}
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication:
				s.feed.RequestKeyFrame()
				s.plis.Add(1)
			case *rtcp.FullIntraRequest:
				s.feed.RequestKeyFrame()
				s.firs.Add(1)
			case *rtcp.TransportLayerNack:
				s.nacks.Add(1)
				for i := range p.Nacks {
					s.nackPackets.Add(uint64(len(p.Nacks[i].PacketList())))
				}
			}
		}
	}
}

// onDataChannel takes the client's "input" channel and closes others.
func (s *Session) onDataChannel(dc *webrtc.DataChannel) {
	if dc.Label() != InputChannelLabel {
		s.log.Debug("rtc: closing unknown data channel", "label", truncate(dc.Label(), 64))
		_ = dc.Close()
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = dc.Close()
		return
	}
	s.dc = dc
	s.mu.Unlock()
	dc.OnOpen(func() {
		s.announceLimits(dc)
		s.subscribeNotices()
	})
	dc.OnMessage(func(msg webrtc.DataChannelMessage) { s.handleInput(dc, msg.Data) })
	dc.OnClose(func() { s.inputClosed.Store(true) }) // the viewer left (EndClient)
}

// subscribeNotices subscribes the session to its device's input notices
// once its input channel is open (once per session), and starts their
// relay. Both count in s.wg: close waits for them, and the subscription
// has ended before the feed closes.
func (s *Session) subscribeNotices() {
	s.mu.Lock()
	if s.closing || s.noticesOn {
		s.mu.Unlock()
		return
	}
	s.noticesOn = true
	s.noticeWake = make(chan struct{}, 1)
	s.wg.Add(2)
	s.mu.Unlock()
	defer s.wg.Done()
	go s.relayNotices()
	stop := s.feed.Notices(s.onNotice)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		stop()
		return
	}
	s.stopNotices = stop
	s.mu.Unlock()
}

// onNotice keeps a device's notice for the relay, replacing an older one
// of its kind that has not gone out yet; it never blocks. A view-only
// session gets no clipboard.
func (s *Session) onNotice(n media.InputNotice) {
	s.noticeMu.Lock()
	if n.State != nil {
		st := *n.State
		s.noticeState = &st
	}
	if n.Clipboard != nil && !s.viewOnly {
		c := *n.Clipboard
		s.noticeClip = &c
	}
	s.noticeMu.Unlock()
	select {
	case s.noticeWake <- struct{}{}:
	default:
	}
}

// relayNotices sends the device's notices on the input channel until the
// session ends: {"type":"input",...} for the input state, and
// {"type":"clipboard","text":...} for the clipboard.
func (s *Session) relayNotices() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.noticeWake:
		}
		s.noticeMu.Lock()
		st, clip := s.noticeState, s.noticeClip
		s.noticeState, s.noticeClip = nil, nil
		s.noticeMu.Unlock()
		s.mu.Lock()
		dc := s.dc
		s.mu.Unlock()
		if dc == nil {
			continue
		}
		if st != nil {
			s.reply(dc, inputStateReply{Type: "input", InputState: *st})
		}
		if clip != nil {
			s.replyClipboard(dc, *clip)
		}
	}
}

// replyClipboard sends the device's clipboard, or an error when it is
// larger than MaxClipboardText.
func (s *Session) replyClipboard(dc *webrtc.DataChannel, text string) {
	if len(text) > MaxClipboardText {
		s.reply(dc, inputReply{Type: "error", Message: fmt.Sprintf("the device's clipboard holds %d bytes (at most %d are sent)", len(text), MaxClipboardText)})
		return
	}
	s.reply(dc, clipboardReply{Type: "clipboard", Text: text})
}

// handleInput validates one input message and acts on it. Every rejected
// message gets an error reply; a view-only session's input, "control" and
// "clipboard-get" are refused (and counted as input errors).
func (s *Session) handleInput(dc *webrtc.DataChannel, data []byte) {
	msg, err := ParseInputMessage(data)
	if err != nil {
		s.inputErrors.Add(1)
		s.reply(dc, inputReply{Type: "error", Message: truncate(err.Error(), 200)})
		return
	}
	if s.viewOnly && (msg.Type == InputControl || msg.Type == InputClipboardGet || msg.IsGesture()) {
		s.inputErrors.Add(1)
		s.reply(dc, inputReply{Type: "error", Message: msgViewOnly})
		return
	}
	switch msg.Type {
	case InputControl:
		prev := s.feed.TakeControl()
		s.takeovers.Add(1)
		s.noteInput()
		s.reply(dc, inputReply{Type: "control", State: "granted"})
		if prev != "" && prev != s.id {
			s.log.Info("rtc: control taken over", "from", prev)
			if p, ok := s.m.session(prev); ok {
				p.replyControl("revoked")
			}
		}
	case InputRelease:
		s.feed.ReleaseControl()
		s.reply(dc, inputReply{Type: "control", State: "released"})
	case InputLatency, InputReport:
		s.reports.Add(1)
		if fn := s.m.cfg.OnClientReport; fn != nil {
			fn(s.deviceID, msg.Raw)
		}
	case InputPing:
		s.reply(dc, inputReply{Type: "pong", T: msg.T})
	case InputClipboardGet:
		// Reading the clipboard is not input: it needs no control.
		ctx, cancel := context.WithTimeout(s.ctx, inputTimeout)
		text, err := s.feed.Clipboard(ctx)
		cancel()
		if err != nil {
			s.inputErrors.Add(1)
			s.reply(dc, inputReply{Type: "error", Message: truncate("clipboard failed: "+err.Error(), 200)})
			return
		}
		s.replyClipboard(dc, text)
	default:
		ctx, cancel := context.WithTimeout(s.ctx, inputTimeout)
		err := s.feed.Input(ctx, msg.Input)
		cancel()
		if errors.Is(err, ErrNotController) {
			s.inputErrors.Add(1)
			s.reply(dc, inputReply{Type: "error", Message: msgNotController})
			return
		}
		s.noteInput() // CONTROL_IDLE_TIMEOUT counts from here
		if err != nil {
			s.inputErrors.Add(1)
			s.reply(dc, inputReply{Type: "error", Message: truncate("input failed: "+err.Error(), 200)})
			return
		}
		s.inputs.Add(1)
	}
}

// replyControl tells the session's client about its control.
func (s *Session) replyControl(state string) {
	s.mu.Lock()
	dc := s.dc
	s.mu.Unlock()
	if dc != nil {
		s.reply(dc, inputReply{Type: "control", State: state})
	}
}

// reply sends a message (inputReply, clipboardReply, inputStateReply) on
// the input channel, unless the channel is backed up (then it is dropped
// and counted).
func (s *Session) reply(dc *webrtc.DataChannel, r any) {
	if dc.BufferedAmount() > maxReplyBuffered {
		s.repliesDropped.Add(1)
		return
	}
	// Without HTML escaping: a clipboard of '<' would take six bytes each.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return
	}
	if err := dc.SendText(string(bytes.TrimRight(b.Bytes(), "\n"))); err != nil {
		s.repliesDropped.Add(1)
	}
}

// addCandidate adds one remote candidate.
func (s *Session) addCandidate(c webrtc.ICECandidateInit) error {
	if s.remoteCandidates.Add(1) > maxRemoteCandidates {
		return fmt.Errorf("%w: more than %d candidates", ErrBadCandidate, maxRemoteCandidates)
	}
	if len(c.Candidate) > 1024 {
		return fmt.Errorf("%w: candidate of %d bytes", ErrBadCandidate, len(c.Candidate))
	}
	if err := s.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCandidate, err)
	}
	return nil
}

// close ends the session: it stops the viewer, closes the peer connection
// and waits for every goroutine the session started, then gives control
// and the device back. It is idempotent; the first call does the work and
// later ones wait for it.
func (s *Session) close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closing = true
		stopNotices := s.stopNotices
		s.stopNotices = nil
		s.mu.Unlock()
		s.stopLimits()
		s.sayEnd() // {"type":"end"} for a session closed with a reason
		if stopNotices != nil {
			stopNotices()
		}
		s.cancel()
		if s.feed != nil {
			s.feed.Stop()
		}
		if s.pc != nil {
			if err := s.pc.GracefulClose(); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Debug("rtc: close peer connection", "err", err)
			}
		}
		s.wg.Wait()
		if s.feed != nil {
			if s.feed.Controller() {
				s.log.Debug("rtc: control released")
			}
			s.feed.Close()
		}
		// Nothing counts any more: the track's writer, the peer
		// connection and the RTCP reader are done. The manager keeps the
		// final counters for its device's totals.
		if s.m != nil {
			s.m.retire(s)
		}
		s.mu.Lock()
		s.pcState.Store(int32(webrtc.PeerConnectionStateClosed))
		s.mu.Unlock()
		if s.unjoin != nil {
			s.unjoin()
		}
		if s.m != nil {
			s.m.recordEnded(s) // for Manager.Ended, with its EndReason
		}
		s.emitEnded() // session.ended, before Done: whoever waits for it has the event
		close(s.done)
		closed := []any{"inputs", s.inputs.Load(), "inputErrors", s.inputErrors.Load(), "controlTakeovers", s.takeovers.Load()}
		if reason := s.finalReason(); reason != "" {
			closed = append(closed, "reason", reason)
		}
		s.log.Info("rtc: session closed", closed...)
	})
	<-s.done
}

// state returns the session's peer connection state and how long it has
// been unusable: never connected since creation, or disconnected.
func (s *Session) idleSince() (webrtc.PeerConnectionState, time.Time) {
	st := webrtc.PeerConnectionState(s.pcState.Load())
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.everConnected:
		return st, s.createdAt
	case !s.disconnectedAt.IsZero():
		return st, s.disconnectedAt
	}
	return st, time.Time{}
}

// estimate returns the session's bandwidth estimate, if it counts: the
// client gives transport-wide feedback and has been connected a second.
func (s *Session) estimate(now time.Time) (int, bool) {
	if !s.twcc {
		return 0, false
	}
	s.mu.Lock()
	at := s.connectedAt
	s.mu.Unlock()
	if at.IsZero() || now.Sub(at) < time.Second {
		return 0, false
	}
	e := s.bwe.Load()
	if e == nil {
		return 0, false
	}
	return (*e).GetTargetBitrate(), true
}

// SessionInfo describes a session for the API.
type SessionInfo struct {
	ID       string `json:"id"`
	DeviceID string `json:"deviceId"`
	UserID   string `json:"userId"`
	// Token names the API token that created the session (none without
	// authentication); ViewOnly is set for a session whose input is
	// refused.
	Token string `json:"token,omitempty"`
	// TokenKind is how its creator authenticated: "static" or "jwt"
	// (CreateRequest.TokenKind).
	TokenKind string      `json:"tokenKind,omitempty"`
	ViewOnly  bool        `json:"viewOnly,omitempty"`
	CreatedAt time.Time   `json:"createdAt"`
	State     string      `json:"state"`    // peer connection state
	ICEState  string      `json:"iceState"` // ICE connection state
	Codec     media.Codec `json:"codec"`
	// ProfileLevelID is the H.264 profile-level-id of the answer.
	ProfileLevelID string `json:"profileLevelId,omitempty"`
	// Controller is set while the session controls its device.
	Controller bool `json:"controller"`
	// Rung is the quality rung the viewer watches (0: the full picture).
	Rung  int          `json:"rung"`
	Stats SessionStats `json:"stats"`
	// EndReason is why the session ended, once it was closed with a
	// reason (CloseWithReason): EndMaxDuration, EndTokenExpired,
	// EndControlIdle, or the closer's own; else, once it has ended, the
	// manager's (events.go: EndDeleted, EndClient, EndICEFailed,
	// EndShutdown, ...); "" while it runs.
	EndReason string `json:"endReason,omitempty"`
}

// SessionStats are a session's counters.
type SessionStats struct {
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
	// ControlTakeovers counts the "control" messages granted: the times
	// the viewer took control of its device.
	ControlTakeovers uint64 `json:"controlTakeovers"`
	// RungSwitches counts the viewer's moves between quality rungs.
	RungSwitches uint64 `json:"rungSwitches"`
}

// Info returns the session's description and counters.
func (s *Session) Info() SessionInfo {
	st := s.counters()
	if e := s.bwe.Load(); e != nil && s.twcc {
		st.TargetBitRate = (*e).GetTargetBitrate()
	}
	rung := 0
	if s.feed != nil {
		rung = s.feed.Stats().Rung
	}
	return SessionInfo{
		Rung: rung,
		ID:   s.id, DeviceID: s.deviceID, UserID: s.userID, Token: s.token, TokenKind: s.tokenKind, ViewOnly: s.viewOnly, CreatedAt: s.createdAt,
		State:          webrtc.PeerConnectionState(s.pcState.Load()).String(),
		ICEState:       webrtc.ICEConnectionState(s.iceState.Load()).String(),
		Codec:          s.choice.codec,
		ProfileLevelID: s.choice.plid,
		Controller:     s.feed.Controller(),
		Stats:          st,
		EndReason:      s.finalReason(),
	}
}

// counters returns the session's counters: its stats but TargetBitRate,
// which is not one.
func (s *Session) counters() SessionStats {
	var vs fanout.ViewerStats
	if s.feed != nil {
		vs = s.feed.Stats()
	}
	return SessionStats{
		PacketsSent: s.packetsSent.Load(), BytesSent: s.bytesSent.Load(),
		NACKs: s.nacks.Load(), NACKedPackets: s.nackPackets.Load(),
		PLIs: s.plis.Load(), FIRs: s.firs.Load(),
		FramesSent: vs.Sent, FramesDropped: vs.Dropped, Skips: vs.Skips,
		Inputs: s.inputs.Load(), InputErrors: s.inputErrors.Load(), Reports: s.reports.Load(),
		ControlTakeovers: s.takeovers.Load(), RungSwitches: vs.Switches,
	}
}

// add adds o's counters to st (TargetBitRate, not a counter, is left).
func (st *SessionStats) add(o SessionStats) {
	st.PacketsSent += o.PacketsSent
	st.BytesSent += o.BytesSent
	st.NACKs += o.NACKs
	st.NACKedPackets += o.NACKedPackets
	st.PLIs += o.PLIs
	st.FIRs += o.FIRs
	st.FramesSent += o.FramesSent
	st.FramesDropped += o.FramesDropped
	st.Skips += o.Skips
	st.Inputs += o.Inputs
	st.RungSwitches += o.RungSwitches
	st.InputErrors += o.InputErrors
	st.Reports += o.Reports
	st.ControlTakeovers += o.ControlTakeovers
}
