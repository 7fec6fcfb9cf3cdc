package rtc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// Config configures ICE and sessions. The service fills it from its
// environment; the zero value of a field selects the default that
// WithDefaults documents.
type Config struct {
	// SessionPrefix starts every session ID (letters, digits, '_' and
	// '-'): in a fleet, the instance's tag, so that any instance can send
	// a session's requests to the one that serves it.
	SessionPrefix string
	// ICEPortMin and ICEPortMax bound the UDP ports of ICE: without a
	// mux, each session's host candidates take one port of the range per
	// local address, so the range bounds the sessions (one that gathers
	// no candidate is refused with ErrUnavailable); with a mux, only the
	// sockets of server-reflexive candidates (STUN_URLS), which Pion
	// cannot gather through the mux. Default 50000-50100.
	ICEPortMin, ICEPortMax uint16
	// ICEUDPMuxPort, when above 0, serves every session on this one UDP
	// port (on every interface) instead of a port per session: the
	// manager opens it and closes it with Close. The service sets it by
	// default (the HTTP port's number). ICE never uses multicast DNS: no
	// socket on port 5353 and no ".local" candidates.
	ICEUDPMuxPort int
	// ICETCP also gathers ICE-TCP candidates, served by one listener on
	// ICETCPPort (passive TCP, RFC 6544).
	ICETCP     bool
	ICETCPPort int
	// STUNURLs and TURNURLs are ICE servers ("stun:host:port",
	// "turn:host:port?transport=udp"); TURN uses TURNUsername and
	// TURNPassword, or with TURNSecret credentials derived per session
	// (ICEServers).
	STUNURLs, TURNURLs         []string
	TURNUsername, TURNPassword string
	// TURNSecret is the TURN server's shared secret (coturn's
	// static-auth-secret with use-auth-secret): each session's TURN
	// credentials are derived from it (TURNCredential), valid for
	// TURNCredentialTTL (DefaultTURNCredentialTTL when zero). It excludes
	// TURNUsername and TURNPassword.
	TURNSecret        string
	TURNCredentialTTL time.Duration
	// NAT1To1IPs are public addresses announced instead of the host's
	// own in host candidates (a server behind 1:1 NAT).
	NAT1To1IPs []string
	// Shards is the number of session map shards. Default 16.
	Shards int
	// MaxSessions bounds the manager's sessions (MAX_SESSIONS); Create
	// refuses more with a *LimitError (503). Default 1000, as the
	// service's configuration.
	MaxSessions int
	// MaxViewersPerDevice bounds each device's sessions
	// (MAX_VIEWERS_PER_DEVICE; *LimitError, 503). Default 200, as the
	// service's configuration.
	MaxViewersPerDevice int
	// MaxSessionsPerToken bounds the sessions of each API token
	// (CreateRequest.Token, MAX_SESSIONS_PER_TOKEN; *LimitError, 503).
	// 0: no bound. Requests without a token are not bound by it.
	MaxSessionsPerToken int
	// MaxSessionsPerUser bounds each user's sessions under one token
	// (CreateRequest.Token and UserID; the same user ID under two tokens
	// is two users). Over it, Create fails with a *LimitError that
	// matches ErrTooManySessions (429). Default 5.
	MaxSessionsPerUser int
	// IdleTimeout is how long a session may stay unconnected (never
	// connected, or disconnected) before it is closed. Default 30s.
	IdleTimeout time.Duration
	// MaxSessionDuration ends every session that long after it was
	// created (MAX_SESSION_DURATION; EndMaxDuration); a shorter
	// CreateRequest.MaxDuration lowers it for one session. 0: no limit.
	MaxSessionDuration time.Duration
	// TokenExpiryEndsSessions ends a session when its
	// CreateRequest.Expires passes (TOKEN_EXPIRY_ENDS_SESSIONS;
	// EndTokenExpired); false: a token that expires ends nothing.
	TokenExpiryEndsSessions bool
	// ControlIdleTimeout releases the control of a session that holds it
	// and sent no input for that long (CONTROL_IDLE_TIMEOUT), as a
	// "release" message would; with ControlIdleEndsSession
	// (CONTROL_IDLE_ENDS_SESSION) the session ends instead
	// (EndControlIdle). 0: no limit.
	ControlIdleTimeout     time.Duration
	ControlIdleEndsSession bool
	// LimitWarning is how long before a limit ends a session, or
	// releases control, its client is warned on the input channel
	// (SESSION_WARNING_BEFORE; the control warning comes at most half
	// of ControlIdleTimeout before). 0: no warning.
	LimitWarning time.Duration
	// StartBitRate, MinBitRate and MaxBitRate bound each session's
	// congestion controller (Google Congestion Control), in bits per
	// second. Defaults 2 Mb/s, 150 kb/s and 8 Mb/s.
	StartBitRate, MinBitRate, MaxBitRate int
	// SweepInterval is the period of the session sweep, which also
	// reports every viewer's bandwidth estimate to its feed. Default
	// 500ms.
	SweepInterval time.Duration
	// GatherTimeout bounds ICE gathering before the answer. Default 5s.
	GatherTimeout time.Duration
	// ICEDisconnectedTimeout, ICEFailedTimeout and ICEKeepalive find a
	// viewer that went silent (a closed laptop, a browser killed without a
	// goodbye): with nothing received from the viewer (media feedback,
	// RTCP, ICE answers to the keepalives sent every ICEKeepalive) for
	// ICEDisconnectedTimeout its connection is disconnected, and
	// ICEFailedTimeout later failed, which closes the session at once.
	// Traffic that resumes in between reconnects it. Defaults 4s, 4s and
	// 2s (a live viewer answers a keepalive at least twice before it could
	// count as disconnected): a silent viewer is closed within about 8 s
	// (Pion's defaults, 5 s and 25 s, took 30 s, during which a drain
	// waited for nobody).
	ICEDisconnectedTimeout, ICEFailedTimeout, ICEKeepalive time.Duration
	// TotalsRetention is how long a device's session counters (Totals)
	// are kept after its last session closed; then the device is
	// forgotten and its series end. Default 15 minutes.
	TotalsRetention time.Duration
	// OnClientReport, if set, receives every report message ("latency",
	// "report") that a viewer sends on its input channel, as the raw
	// JSON. It is called on the session's data channel goroutine and must
	// not block.
	OnClientReport func(deviceID string, raw json.RawMessage)
	// OnSessionEvent, if set, is told of each session's lifecycle
	// (events.go): SessionStarted when its media starts flowing,
	// SessionEnded once it has ended (only after SessionStarted), and
	// ControlChanged. It is called on the session's goroutines and must
	// not block (the service only queues a webhook).
	OnSessionEvent func(SessionEvent)
	// Log receives the package's logs; default slog.Default().
	Log *slog.Logger

	// settings, in tests, adjusts every session's setting engine
	// (loopback candidates).
	settings func(*webrtc.SettingEngine)
	// udpMuxOptions, in tests, are more options of the UDP mux (loopback).
	udpMuxOptions []ice.UDPMuxFromPortOption
	// wrapWriter, in tests, wraps a session's sample writer (a viewer
	// that stops reading).
	wrapWriter func(sessionIndex int, w fanout.Writer) fanout.Writer
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.ICEPortMin == 0 && c.ICEPortMax == 0 {
		c.ICEPortMin, c.ICEPortMax = 50000, 50100
	}
	if c.Shards <= 0 {
		c.Shards = 16
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 1000
	}
	if c.MaxViewersPerDevice <= 0 {
		c.MaxViewersPerDevice = 200
	}
	if c.MaxSessionsPerUser <= 0 {
		c.MaxSessionsPerUser = 5
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.StartBitRate <= 0 {
		c.StartBitRate = media.DefaultBitRate
	}
	if c.MinBitRate <= 0 {
		c.MinBitRate = media.DefaultMinBitRate
	}
	if c.MaxBitRate <= 0 {
		c.MaxBitRate = media.DefaultMaxBitRate
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = 500 * time.Millisecond
	}
	if c.GatherTimeout <= 0 {
		c.GatherTimeout = 5 * time.Second
	}
	if c.ICEDisconnectedTimeout <= 0 {
		c.ICEDisconnectedTimeout = 4 * time.Second
	}
	if c.ICEFailedTimeout <= 0 {
		c.ICEFailedTimeout = 4 * time.Second
	}
	if c.ICEKeepalive <= 0 {
		c.ICEKeepalive = 2 * time.Second
	}
	if c.TotalsRetention <= 0 {
		c.TotalsRetention = 15 * time.Minute
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Validate reports the first setting that cannot work, naming it.
func (c Config) Validate() error {
	if c.ICEUDPMuxPort < 0 || c.ICEUDPMuxPort > 65535 {
		return fmt.Errorf("rtc: ICE UDP mux port %d out of range (0..65535)", c.ICEUDPMuxPort)
	}
	if c.ICEUDPMuxPort == 0 && (c.ICEPortMin == 0 || c.ICEPortMax < c.ICEPortMin) {
		return fmt.Errorf("rtc: ICE port range %d-%d is empty", c.ICEPortMin, c.ICEPortMax)
	}
	if c.ICETCP && (c.ICETCPPort <= 0 || c.ICETCPPort > 65535) {
		return fmt.Errorf("rtc: ICE TCP port %d out of range (1..65535)", c.ICETCPPort)
	}
	for _, ip := range c.NAT1To1IPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("rtc: NAT 1:1 address %q is not an IP address", ip)
		}
	}
	if c.MinBitRate > c.MaxBitRate {
		return fmt.Errorf("rtc: minimum bit rate %d above maximum %d", c.MinBitRate, c.MaxBitRate)
	}
	if c.MaxSessionsPerToken < 0 {
		return fmt.Errorf("rtc: MaxSessionsPerToken %d is negative (0: no bound)", c.MaxSessionsPerToken)
	}
	if c.MaxSessionDuration < 0 || c.ControlIdleTimeout < 0 || c.LimitWarning < 0 {
		return fmt.Errorf("rtc: negative time limit (MaxSessionDuration %v, ControlIdleTimeout %v, LimitWarning %v; 0: none)",
			c.MaxSessionDuration, c.ControlIdleTimeout, c.LimitWarning)
	}
	if c.Shards > 4096 {
		return fmt.Errorf("rtc: %d shards (at most 4096)", c.Shards)
	}
	for _, u := range c.STUNURLs {
		if err := validICEURL(u, stun.SchemeTypeSTUN, stun.SchemeTypeSTUNS); err != nil {
			return err
		}
	}
	if c.TURNSecret != "" && (c.TURNUsername != "" || c.TURNPassword != "") {
		return fmt.Errorf("rtc: a TURN secret derives the TURN credentials; a static TURN username or password cannot be set with it")
	}
	if len(c.TURNURLs) > 0 && c.TURNSecret == "" && (c.TURNUsername == "" || c.TURNPassword == "") {
		return fmt.Errorf("rtc: TURN servers need a secret, or a username and a password")
	}
	if c.TURNCredentialTTL < 0 {
		return fmt.Errorf("rtc: TURN credential lifetime %v is negative", c.TURNCredentialTTL)
	}
	for _, u := range c.TURNURLs {
		if err := validICEURL(u, stun.SchemeTypeTURN, stun.SchemeTypeTURNS); err != nil {
			return err
		}
	}
	return nil
}

// validICEURL checks that u parses as an ICE server URL of one of the
// schemes.
func validICEURL(u string, schemes ...stun.SchemeType) error {
	uri, err := stun.ParseURI(u)
	if err != nil {
		return fmt.Errorf("rtc: ICE server %q: %w", u, err)
	}
	if !slices.Contains(schemes, uri.Scheme) {
		return fmt.Errorf("rtc: ICE server %q: scheme %s not allowed here", u, uri.Scheme)
	}
	return nil
}

// noCandidate says why a session may have gathered no ICE candidate.
func (c Config) noCandidate() string {
	if c.ICEUDPMuxPort > 0 {
		return fmt.Sprintf("no ICE candidate could be gathered on the ICE UDP mux port %d", c.ICEUDPMuxPort)
	}
	return fmt.Sprintf("no ICE candidate could be gathered; the UDP port range %d-%d may be exhausted", c.ICEPortMin, c.ICEPortMax)
}

// ConfigFrom returns the session manager's settings from the service's
// configuration, at start and at every reload (Manager.SetLive). Log and
// OnClientReport are the caller's to set.
func ConfigFrom(c config.Config) Config {
	return Config{
		ICEPortMin: uint16(c.ICEPortMin), ICEPortMax: uint16(c.ICEPortMax), ICEUDPMuxPort: c.ICEUDPMuxPort,
		ICETCP: c.ICETCPPort > 0, ICETCPPort: c.ICETCPPort,
		STUNURLs: c.STUNURLs, TURNURLs: c.TURNURLs, TURNUsername: c.TURNUsername, TURNPassword: c.TURNPassword,
		TURNSecret: c.TURNSecret, TURNCredentialTTL: c.TURNCredentialTTL,
		NAT1To1IPs: c.NAT1To1IPs, Shards: c.SessionShards,
		MaxSessions: c.MaxSessions, MaxViewersPerDevice: c.MaxViewersPerDevice,
		MaxSessionsPerToken: c.MaxSessionsPerToken, MaxSessionsPerUser: c.MaxSessionsPerUser,
		StartBitRate: c.VideoBitRate, MinBitRate: c.MinBitRate, MaxBitRate: c.MaxBitRate,
		MaxSessionDuration: c.MaxSessionDuration, TokenExpiryEndsSessions: c.TokenExpiryEndsSessions,
		ControlIdleTimeout: c.ControlIdleTimeout, ControlIdleEndsSession: c.ControlIdleEndsSession,
		LimitWarning: c.SessionWarningBefore,
	}
}

// withLive returns c with the settings of next that a reload changes
// while the manager runs (Manager.SetLive): the session limits, which
// apply to sessions admitted from then on (running sessions stay, even
// over a lowered limit), and the bit rates, which apply to sessions
// created from then on. Zero fields of next keep their default.
func (c Config) withLive(next Config) Config {
	c.MaxSessions, c.MaxViewersPerDevice = next.MaxSessions, next.MaxViewersPerDevice
	c.MaxSessionsPerToken, c.MaxSessionsPerUser = next.MaxSessionsPerToken, next.MaxSessionsPerUser
	c.StartBitRate, c.MinBitRate, c.MaxBitRate = next.StartBitRate, next.MinBitRate, next.MaxBitRate
	// The time limits, for sessions created from then on.
	c.MaxSessionDuration, c.TokenExpiryEndsSessions = next.MaxSessionDuration, next.TokenExpiryEndsSessions
	c.ControlIdleTimeout, c.ControlIdleEndsSession = next.ControlIdleTimeout, next.ControlIdleEndsSession
	c.LimitWarning = next.LimitWarning
	return c.WithDefaults()
}
