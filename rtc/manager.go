package rtc

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/media"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// CreateRequest asks for a session.
type CreateRequest struct {
	// DeviceID is the device to show: 1..128 of A-Z a-z 0-9 . _ : -.
	DeviceID string
	// UserID is the user the session counts against
	// (Config.MaxSessionsPerUser, within Token): 1..128 of A-Z a-z 0-9 .
	// _ @ : - (media.CheckUserID).
	UserID string
	// Token names the API token of the caller (1..136 of A-Z a-z 0-9 . _
	// @ : -; "jwt:" and its subject for a signed token), for
	// Config.MaxSessionsPerToken, the per-user bound (which counts each
	// (Token, UserID) apart) and the logs; "" when authentication is off:
	// the per-token bound then does not apply.
	Token string
	// TokenKind is how the caller authenticated: "static" (API_TOKENS),
	// "jwt" (a signed access token), "" without authentication. The logs
	// and SessionInfo show it.
	TokenKind string
	// MaxTokenSessions, when above 0, bounds the sessions of Token on
	// this manager, besides Config.MaxSessionsPerToken: a signed token's
	// max_sessions claim (*LimitError LimitTokenMaxSessions, 429).
	MaxTokenSessions int
	// ViewOnly makes a session that only watches: its input and "control"
	// messages are refused with an error reply.
	ViewOnly bool
	// Offer is the client's SDP offer: raw SDP, or the JSON of an
	// RTCSessionDescription.
	Offer string
	// MaxDuration, from the caller's access token, lowers
	// Config.MaxSessionDuration for this session (the smaller of the two
	// applies; 0 or less: none of its own). The session ends that long
	// after it was created, with EndMaxDuration.
	MaxDuration time.Duration
	// Expires is when the caller's access token expires (zero: never).
	// With Config.TokenExpiryEndsSessions the session ends then, with
	// EndTokenExpired; otherwise it is not looked at.
	Expires time.Time
}

// tokenPattern is what CreateRequest.Token may hold.
var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9._@:-]{1,136}$`)

// Manager creates, finds and ends sessions. Its session map is sharded;
// a sweep every Config.SweepInterval closes sessions that never
// connected, or stayed disconnected, for Config.IdleTimeout, and those
// whose connection failed or closed (at once), and reports each viewer's
// bandwidth estimate to its feed (Feed.SetEstimate).
type Manager struct {
	cfg Config
	// live is cfg with the bounds of the last SetLive.
	live     atomic.Pointer[Config]
	provider Provider
	log      *slog.Logger
	logs     pionLogs
	se       webrtc.SettingEngine
	closers  []io.Closer // ICE muxes
	seed     maphash.Seed

	shards []*shard

	// admitted counts the sessions against the bounds of Config, from
	// before the device is joined until the session has closed.
	admitted admissions

	// totals holds each device's session counters (see Totals). An entry
	// is made when a device's first session registers and is kept until
	// the device has had no session for Config.TotalsRetention, so that its
	// counters never go down while it is in use; only devices the provider
	// joined (validated IDs it knows) get one.
	totalsMu sync.Mutex
	totals   map[string]*deviceTotals

	// ended keeps the sessions that ended with a reason, for Ended
	// (limits.go); endedOrder holds their IDs, oldest first.
	endedMu    sync.Mutex
	ended      map[string]endedSession
	endedOrder []string

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup // Create calls

	created atomic.Int64
	kickCh  chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the sweep loop and the closes it starts
}

// shard is one part of the session map.
type shard struct {
	mu sync.RWMutex
	m  map[string]*Session
}

// NewManager returns a manager that takes devices from p. It opens the
// ICE UDP mux port and the ICE-TCP listener when configured; Close closes
// them.
func NewManager(cfg Config, p Provider) (*Manager, error) {
	if p == nil {
		return nil, errors.New("rtc: no provider")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg, provider: p, log: cfg.Log, logs: pionLogs{cfg.Log},
		seed: maphash.MakeSeed(),
		admitted: admissions{
			devices: map[string]int{}, tokens: map[string]int{}, users: map[principal]int{},
		},
		totals: map[string]*deviceTotals{},
		kickCh: make(chan struct{}, 1),
	}
	m.live.Store(&cfg)
	if err := m.settingEngine(); err != nil {
		m.closeMuxes()
		return nil, err
	}
	m.shards = make([]*shard, cfg.Shards)
	for i := range m.shards {
		m.shards[i] = &shard{m: map[string]*Session{}}
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(1)
	go m.loop()
	return m, nil
}

// SetLive applies the settings of next that a reload changes: the
// session limits and bit rates (see Config.withLive); the others need a
// new manager and are ignored. An invalid combination (minimum above
// maximum) is refused and nothing changes.
func (m *Manager) SetLive(next Config) error {
	c := m.cfg.withLive(next)
	if err := c.Validate(); err != nil {
		return err
	}
	m.live.Store(&c)
	return nil
}

// settingEngine prepares the setting engine every session's API copies.
func (m *Manager) settingEngine() error {
	cfg := m.cfg
	se := webrtc.SettingEngine{LoggerFactory: m.logs}
	se.SetSCTPMaxMessageSize(sctpMaxMessage)
	// A viewer that goes silent fails within seconds (Config.ICEFailedTimeout).
	se.SetICETimeouts(cfg.ICEDisconnectedTimeout, cfg.ICEFailedTimeout, cfg.ICEKeepalive)
	// No multicast DNS: no socket on port 5353 per session, no ".local"
	// candidates. A client's ".local" candidates are not resolved; its
	// checks reach the server's candidates and make peer-reflexive ones.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if cfg.ICEUDPMuxPort > 0 {
		opts := append([]ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithLogger(m.logs.NewLogger("udpmux"))}, cfg.udpMuxOptions...)
		mux, err := ice.NewMultiUDPMuxFromPort(cfg.ICEUDPMuxPort, opts...)
		if err != nil {
			return fmt.Errorf("rtc: ICE UDP mux on port %d: %w", cfg.ICEUDPMuxPort, err)
		}
		m.closers = append(m.closers, mux)
		se.SetICEUDPMux(mux)
	}
	// With the mux, host candidates are all on its port; the range still
	// bounds the sockets of server-reflexive candidates (STUN), which
	// Pion gathers apart from the mux (on any port, without a range).
	if cfg.ICEUDPMuxPort == 0 || (cfg.ICEPortMin > 0 && cfg.ICEPortMax >= cfg.ICEPortMin) {
		if err := se.SetEphemeralUDPPortRange(cfg.ICEPortMin, cfg.ICEPortMax); err != nil {
			return fmt.Errorf("rtc: ICE port range: %w", err)
		}
	}
	if cfg.ICETCP {
		l, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.ICETCPPort)))
		if err != nil {
			return fmt.Errorf("rtc: ICE-TCP listener: %w", err)
		}
		mux := webrtc.NewICETCPMux(m.logs.NewLogger("tcpmux"), l, 8)
		m.closers = append(m.closers, mux)
		se.SetICETCPMux(mux)
		se.SetNetworkTypes([]webrtc.NetworkType{
			webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6,
		})
	}
	if len(cfg.NAT1To1IPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.NAT1To1IPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return fmt.Errorf("rtc: NAT 1:1 addresses: %w", err)
		}
	}
	if cfg.settings != nil {
		cfg.settings(&se)
	}
	m.se = se
	return nil
}

func (m *Manager) closeMuxes() {
	for _, c := range m.closers {
		_ = c.Close()
	}
	m.closers = nil
}

// Create validates the request and the offer, counts the session
// against the limits, then joins the device, builds the peer connection
// and answers. The answer is SDP and holds every server candidate (it
// waits for ICE gathering); the client may trickle its own. Nothing is
// allocated and the provider is not called before the request, the offer
// (ValidateOffer) and the limits passed. Every failure after the device
// was joined closes the peer connection and leaves the device. Errors:
// ErrBadRequest and ErrBadOffer (400); ErrCodecUnsupported (406) for an
// offer with neither H.264 (packetization mode 1) nor VP8, or without the
// device's codec; *LimitError (503; 429 for the per-user bound, matching
// ErrTooManySessions); the provider's (ErrUnknownDevice); ErrUnavailable
// (503) when no ICE candidate could be gathered; ErrClosed.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (*Session, string, error) {
	if err := media.CheckDeviceID(req.DeviceID); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if err := media.CheckUserID(req.UserID); err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if req.Token != "" && !tokenPattern.MatchString(req.Token) {
		return nil, "", fmt.Errorf("%w: token name %s (want 1 to 136 of A-Z a-z 0-9 . _ @ : -)", ErrBadRequest, quote(req.Token))
	}
	o, err := parseOffer(req.Offer)
	if err != nil {
		return nil, "", err
	}
	codecs := o.codecs()
	if len(codecs) == 0 {
		return nil, "", fmt.Errorf("%w: the offer's video takes neither H.264 (packetization mode 1) nor VP8", ErrCodecUnsupported)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, "", ErrClosed
	}
	m.inflight.Add(1)
	m.mu.Unlock()
	defer m.inflight.Done()

	// Close cancels what Create waits for.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(m.ctx, cancel)()

	release, err := m.admit(req)
	if err != nil {
		return nil, "", err
	}
	id := m.cfg.SessionPrefix + rand.Text()
	feed, err := m.provider.Join(ctx, JoinRequest{DeviceID: req.DeviceID, ViewerID: id, Codecs: codecs})
	if err != nil {
		release()
		if m.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = ErrClosed // Close cancelled the wait
		}
		return nil, "", err
	}
	f := feed.Format()
	choice, err := chooseCodec(o, f.Codec, f.ProfileLevelID)
	if err != nil {
		feed.Close()
		release()
		return nil, "", err
	}
	s := &Session{
		m: m, id: id, deviceID: req.DeviceID, userID: req.UserID, token: req.Token, tokenKind: req.TokenKind, viewOnly: req.ViewOnly,
		createdAt: time.Now(), index: int(m.created.Add(1) - 1),
		choice: choice, twcc: o.twcc, ufrags: o.ufrags,
		feed: feed, unjoin: release,
		done: make(chan struct{}),
	}
	attrs := []any{"session", s.id, "device", s.deviceID, "user", s.userID}
	if req.Token != "" {
		attrs = append(attrs, "token", req.Token)
	}
	if req.TokenKind != "" {
		attrs = append(attrs, "token_kind", req.TokenKind)
	}
	if req.ViewOnly {
		attrs = append(attrs, "viewOnly", true)
	}
	s.log = m.log.With(attrs...)
	if m.hasEventHook() {
		s.feed = controlFeed{feed, s} // ControlChanged events
	}
	s.lim.init(m.live.Load(), req, s.createdAt)
	s.ctx, s.cancel = context.WithCancel(m.ctx)
	s.pcState.Store(int32(webrtc.PeerConnectionStateNew))
	s.iceState.Store(int32(webrtc.ICEConnectionStateNew))

	answer, err := m.connect(ctx, s, o)
	if err == nil {
		err = m.register(s)
	}
	if err != nil {
		s.close()
		return nil, "", err
	}
	s.startLimits()
	s.log.Info("rtc: session created", "codec", choice.codec, "profile", choice.plid)
	return s, answer, nil
}

// connect builds the session's peer connection and answers the offer.
func (m *Manager) connect(ctx context.Context, s *Session, o *offer) (string, error) {
	plid := ""
	if s.choice.codec == media.H264 {
		plid = s.choice.plid
	}
	me, err := NewMediaEngine(plid)
	if err != nil {
		return "", err
	}
	reg, err := s.interceptors(*m.live.Load())
	if err != nil {
		return "", err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(m.se))
	// TURN credentials derived for this session (Config.TURNSecret), fresh
	// for its allocation.
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: m.cfg.ICEServers(s.id, time.Now())})
	if err != nil {
		return "", fmt.Errorf("rtc: peer connection: %w", err)
	}
	s.pc = pc
	s.track, err = webrtc.NewTrackLocalStaticSample(s.choice.params.RTPCodecCapability, "video", "device-"+s.deviceID)
	if err != nil {
		return "", err
	}
	tr, err := pc.AddTransceiverFromTrack(s.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return "", fmt.Errorf("rtc: add track: %w", err)
	}
	if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{s.choice.params}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrCodecUnsupported, err)
	}
	s.sender = tr.Sender()
	s.wg.Add(1)
	go s.readRTCP()

	pc.OnConnectionStateChange(s.onConnectionState)
	pc.OnICEConnectionStateChange(func(webrtc.ICEConnectionState) { s.iceState.Store(int32(pc.ICEConnectionState())) })
	pc.OnDataChannel(s.onDataChannel)

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.sdp}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("rtc: set local description: %w", err)
	}
	t := time.NewTimer(m.cfg.GatherTimeout)
	select {
	case <-gathered:
	case <-t.C:
		s.log.Warn("rtc: ICE gathering timed out; answering with the candidates so far")
	case <-ctx.Done():
		t.Stop()
		if m.ctx.Err() != nil {
			return "", ErrClosed
		}
		return "", ctx.Err()
	}
	t.Stop()
	local := pc.LocalDescription()
	if local == nil {
		return "", errors.New("rtc: no local description")
	}
	if err := checkAnswer(local.SDP, s.choice); err != nil {
		return "", err
	}
	if !hasCandidate(local.SDP) {
		why := m.cfg.noCandidate()
		s.log.Warn("rtc: refusing the session: " + why)
		return "", fmt.Errorf("%w: %s", ErrUnavailable, why)
	}
	return local.SDP, nil
}

// hasCandidate reports whether an SDP holds a candidate line.
func hasCandidate(sdp string) bool {
	for line := range strings.Lines(sdp) {
		if strings.HasPrefix(line, "a=candidate:") {
			return true
		}
	}
	return false
}

// checkAnswer makes sure the answer accepted video in the chosen format.
func checkAnswer(answer string, c codecChoice) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return fmt.Errorf("rtc: answer: %w", err)
	}
	pt := strconv.Itoa(int(c.params.PayloadType))
	for _, md := range d.MediaDescriptions {
		if md.MediaName.Media != "video" || md.MediaName.Port.Value == 0 {
			continue
		}
		for _, f := range md.MediaName.Formats {
			if f == pt {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: the answer rejected the video", ErrCodecUnsupported)
}

// register adds a session to its shard and its device's totals, unless
// the manager is closed. The totals come first: whoever removes the
// session from its shard closes it, and its close retires it from them.
func (m *Manager) register(s *Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.track(s)
	sh := m.shard(s.id)
	sh.mu.Lock()
	sh.m[s.id] = s
	sh.mu.Unlock()
	return nil
}

// shard returns the shard of a session ID.
func (m *Manager) shard(id string) *shard {
	return m.shards[maphash.String(m.seed, id)%uint64(len(m.shards))]
}

// session finds a live session.
func (m *Manager) session(id string) (*Session, bool) {
	sh := m.shard(id)
	sh.mu.RLock()
	s, ok := sh.m[id]
	sh.mu.RUnlock()
	return s, ok
}

// remove takes a session out of its shard; false if it was not there.
func (m *Manager) remove(id string) (*Session, bool) {
	sh := m.shard(id)
	sh.mu.Lock()
	s, ok := sh.m[id]
	delete(sh.m, id)
	sh.mu.Unlock()
	return s, ok
}

// MaxSessions is the live bound on the manager's sessions (MAX_SESSIONS).
func (m *Manager) MaxSessions() int { return m.live.Load().MaxSessions }

// Get returns a session, or ErrSessionNotFound.
func (m *Manager) Get(id string) (*Session, error) {
	if s, ok := m.session(id); ok {
		return s, nil
	}
	return nil, ErrSessionNotFound
}

// List describes every session, oldest first.
func (m *Manager) List() []SessionInfo {
	var out []SessionInfo
	for _, s := range m.all() {
		out = append(out, s.Info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// all returns every live session.
func (m *Manager) all() []*Session {
	var out []*Session
	for _, sh := range m.shards {
		sh.mu.RLock()
		for _, s := range sh.m {
			out = append(out, s)
		}
		sh.mu.RUnlock()
	}
	return out
}

// Delete ends a session and waits until it has released its device. Its
// end reason is EndDeleted.
func (m *Manager) Delete(id string) error {
	return m.DeleteWithReason(id, EndDeleted)
}

// AddCandidate adds a client's ICE candidate to a session. The candidate
// may be given as "candidate:…" or as an SDP line "a=candidate:…"; an empty
// one means the end of candidates.
func (m *Manager) AddCandidate(id string, c webrtc.ICECandidateInit) error {
	s, ok := m.session(id)
	if !ok {
		return ErrSessionNotFound
	}
	c.Candidate = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(c.Candidate), "a="))
	if c.Candidate == "end-of-candidates" {
		c.Candidate = ""
	}
	return s.addCandidate(c)
}

// AddSDPFragment adds the candidates of an SDP fragment (WHEP's PATCH,
// application/trickle-ice-sdpfrag) to a session. A fragment with another
// ICE username fragment (an ICE restart) is refused with ErrBadCandidate.
func (m *Manager) AddSDPFragment(id, frag string) error {
	s, ok := m.session(id)
	if !ok {
		return ErrSessionNotFound
	}
	cands, ufrag, err := ParseSDPFragment(frag)
	if err != nil {
		return err
	}
	if ufrag != "" && !slices.Contains(s.ufrags, ufrag) {
		return fmt.Errorf("%w: ICE restart is not supported", ErrBadCandidate)
	}
	for _, c := range cands {
		if err := s.addCandidate(c); err != nil {
			return err
		}
	}
	return nil
}

// principal is who a session counts against for the per-user bound: a
// user ID within a token.
type principal struct{ token, user string }

// admissions counts the sessions against Config's bounds.
type admissions struct {
	mu      sync.Mutex
	total   int
	devices map[string]int
	tokens  map[string]int // only requests with a token
	users   map[principal]int
}

// admit counts a session against every bound, or refuses it with a
// *LimitError naming the first bound it would pass, the narrowest first
// (user, token, device, service). The count holds until release, which
// may be called more than once.
func (m *Manager) admit(req CreateRequest) (release func(), err error) {
	a := &m.admitted
	c := m.live.Load()
	who := principal{req.Token, req.UserID}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.users[who] >= c.MaxSessionsPerUser:
		return nil, &LimitError{Limit: LimitSessionsPerUser, Max: c.MaxSessionsPerUser}
	case req.Token != "" && req.MaxTokenSessions > 0 && a.tokens[req.Token] >= req.MaxTokenSessions:
		return nil, &LimitError{Limit: LimitTokenMaxSessions, Max: req.MaxTokenSessions}
	case req.Token != "" && c.MaxSessionsPerToken > 0 && a.tokens[req.Token] >= c.MaxSessionsPerToken:
		return nil, &LimitError{Limit: LimitSessionsPerToken, Max: c.MaxSessionsPerToken}
	case a.devices[req.DeviceID] >= c.MaxViewersPerDevice:
		return nil, &LimitError{Limit: LimitViewersPerDevice, Max: c.MaxViewersPerDevice}
	case a.total >= c.MaxSessions:
		return nil, &LimitError{Limit: LimitSessions, Max: c.MaxSessions}
	}
	a.total++
	a.devices[req.DeviceID]++
	if req.Token != "" {
		a.tokens[req.Token]++
	}
	a.users[who]++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.total--
			decrement(a.devices, req.DeviceID)
			if req.Token != "" {
				decrement(a.tokens, req.Token)
			}
			decrement(a.users, who)
		})
	}, nil
}

// decrement counts one less for k, and forgets k at 0.
func decrement[K comparable](m map[K]int, k K) {
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}

// kick asks the sweep loop to run now.
func (m *Manager) kick() {
	select {
	case m.kickCh <- struct{}{}:
	default:
	}
}

// loop sweeps sessions and reports bandwidth estimates until Close.
func (m *Manager) loop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.kickCh:
			m.sweep(time.Now())
		case now := <-t.C:
			m.sweep(now)
			m.reportEstimates(now)
			m.pruneTotals(now)
		}
	}
}

// sweep closes failed, closed and idle sessions, in the background.
func (m *Manager) sweep(now time.Time) {
	for _, s := range m.all() {
		st, since := s.idleSince()
		reason := ""
		switch {
		case st == webrtc.PeerConnectionStateFailed:
			reason = "connection failed"
		case st == webrtc.PeerConnectionStateClosed:
			reason = "connection closed"
		case !since.IsZero() && now.Sub(since) >= m.cfg.IdleTimeout:
			reason = "idle"
		default:
			continue
		}
		if _, ok := m.remove(s.id); !ok {
			continue
		}
		s.log.Info("rtc: closing session", "reason", reason)
		end := s.sweepReason(st)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			s.closeBecause(end)
		}()
	}
}

// reportEstimates hands each viewer's bandwidth estimate to its feed.
func (m *Manager) reportEstimates(now time.Time) {
	for _, s := range m.all() {
		if e, ok := s.estimate(now); ok {
			s.feed.SetEstimate(e)
		}
	}
}

// Close ends every session, waits for Create calls in flight and for
// every goroutine the manager started, and closes the ICE muxes. Create
// then returns ErrClosed. It is idempotent. The sessions' end reason is
// EndShutdown.
func (m *Manager) Close() error { return m.CloseWith(EndShutdown) }

// CloseWith is Close with reason as the end reason of the sessions it
// ends (EndDrain, EndShutdown).
func (m *Manager) CloseWith(reason string) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.wg.Wait()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.inflight.Wait()
	var wg sync.WaitGroup
	for _, s := range m.all() {
		if _, ok := m.remove(s.id); ok {
			wg.Go(func() { s.closeBecause(reason) })
		}
	}
	wg.Wait()
	m.wg.Wait()
	m.closeMuxes()
	return nil
}
