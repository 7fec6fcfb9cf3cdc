// Package config holds the service's configuration: defaults as a value,
// then a .env file, then the process environment, then Validate.
package config

import (
	"errors"
	"fmt"
	"github.com/cloudphone/media-service/media"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the service's configuration. Each field names the environment
// variable that sets it; .env.example documents them all.
type Config struct {
	// Port is the HTTP port of the API, metrics and pprof (PORT).
	Port int
	// LogLevel is debug, info, warn or error (LOG_LEVEL).
	LogLevel string
	// LogFormat is json, text, or auto: text on a terminal, JSON
	// otherwise (LOG_FORMAT).
	LogFormat string
	// GoroutineMonitorInterval and ResourceMonitorInterval are how often
	// the monitors sample (GOROUTINE_MONITOR_INTERVAL,
	// RESOURCE_MONITOR_INTERVAL).
	GoroutineMonitorInterval, ResourceMonitorInterval time.Duration
	// PprofBlockRate and PprofMutexFraction set the block and mutex
	// profiles' sampling (PPROF_BLOCK_RATE in nanoseconds,
	// PPROF_MUTEX_FRACTION as 1/n events); 0 leaves them off.
	PprofBlockRate, PprofMutexFraction int

	// CaptureMode is screenrecord, screencap or raw-frames (CAPTURE_MODE).
	CaptureMode string
	// InputAgent is auto (input through the on-device agent, started on
	// each device; the shell's input command while it cannot run) or off
	// (the shell's input command only) (INPUT_AGENT).
	InputAgent string
	// VideoEncoderType is auto, passthrough, h264 or vp8
	// (VIDEO_ENCODER_TYPE). passthrough never re-encodes: viewers get the
	// device's own H.264 (screenrecord only). auto, in screenrecord mode,
	// gives H.264 viewers on rung 0 the device's own stream and the others
	// (lower rungs, VP8-only browsers) a re-encoding of the decoded
	// stream; in screencap and raw-frames modes, the best H.264 encoder,
	// and libvpx for VP8-only viewers. h264 and vp8 always serve this
	// service's own encoding, decoded from screenrecord in screenrecord
	// mode.
	VideoEncoderType string
	// UseWorkerPool shares a pool of encoder workers between devices
	// (USE_WORKER_POOL); WorkerCount sizes it (WORKER_COUNT): 0 is
	// "auto", sized from the hardware found at start (the service
	// resolves it).
	UseWorkerPool bool
	WorkerCount   int
	// H264HWAccel is auto, nvenc, qsv, vaapi or none (H264_HW_ACCEL).
	H264HWAccel string
	// H264Preset is the libx264 preset (H264_PRESET).
	H264Preset string
	// H264Profile is baseline, main or high (H264_PROFILE).
	H264Profile string
	// VideoFrameRate in frames per second (VIDEO_FRAMERATE).
	VideoFrameRate int
	// VideoBitRate in bits per second (VIDEO_BITRATE): the rate a stream
	// starts at.
	VideoBitRate int
	// MinBitRate and MaxBitRate bound the rate that congestion control
	// sets (MIN_BITRATE, MAX_BITRATE); VIDEO_BITRATE lies between them.
	MinBitRate, MaxBitRate int
	// Rungs are the quality rungs (VIDEO_RUNGS): the scales of the
	// device's picture that viewers move between on their bandwidth
	// estimate, largest first; the first is 1. One rung turns rungs off.
	Rungs []float64
	// KeyFrameInterval is the maximum number of frames between keyframes
	// (VIDEO_KEYFRAME_INTERVAL).
	KeyFrameInterval int

	// EncodeTimeout bounds one encode (ENCODE_TIMEOUT); an encoder that
	// takes longer is abandoned and replaced.
	EncodeTimeout time.Duration
	// WriteTimeout bounds the wait for a consumer to take encoded output
	// (WRITE_TIMEOUT); output not taken in time is dropped.
	WriteTimeout time.Duration
	// EncoderCloseTimeout bounds the wait for an encoder to close
	// (ENCODER_CLOSE_TIMEOUT).
	EncoderCloseTimeout time.Duration
	// VAAPIDevice is the DRM render node for h264_vaapi and for the
	// VA-API decoder of screenrecord's H.264 (VAAPI_DEVICE).
	VAAPIDevice string

	// APITokens are the bearer tokens the API accepts (API_TOKENS,
	// comma-separated), each a plain secret or NAME=SECRET, optionally
	// followed by ";view" (view only: no input, no control) and
	// ";devices=PATTERN|PATTERN" (only devices whose serial matches one of
	// the path.Match patterns). See Tokens.
	APITokens []string
	// Tokens are APITokens parsed. A plain secret is named by its
	// position: token1, token2, ...
	Tokens []Token
	// MaxSessionsPerToken bounds one token's sessions
	// (MAX_SESSIONS_PER_TOKEN); 0: no bound.
	MaxSessionsPerToken int
	// MaxSessions bounds the service's sessions (MAX_SESSIONS), and
	// MaxViewersPerDevice each device's (MAX_VIEWERS_PER_DEVICE).
	MaxSessions, MaxViewersPerDevice int
	// TrustedProxies are the CIDRs of reverse proxies whose forwarding
	// headers (X-Forwarded-For, X-Real-IP) name the client
	// (TRUSTED_PROXIES); any other peer is the client itself.
	TrustedProxies []string
	// MaxConnections caps the HTTP connections open at once
	// (MAX_CONNECTIONS).
	MaxConnections int
	// MaxUploadBytes bounds the body of a file or app upload
	// (MAX_UPLOAD_BYTES); UploadTimeout a whole upload, the install
	// included (UPLOAD_TIMEOUT).
	MaxUploadBytes int
	UploadTimeout  time.Duration
	// DrainTimeout is how long running sessions are kept after SIGTERM
	// while no new ones are taken (DRAIN_TIMEOUT).
	DrainTimeout time.Duration
	// AuthDisabled turns authentication off (AUTH_DISABLED); the service
	// then warns at start. With no tokens and auth not disabled, every API
	// call is refused.
	AuthDisabled bool
	// CORSAllowOrigins are the origins allowed to call the API from a
	// browser (CORS_ALLOW_ORIGINS, comma-separated); none by default.
	CORSAllowOrigins []string
	// RateLimit is the number of API requests per second allowed per
	// client address (RATE_LIMIT), with a burst of twice that.
	RateLimit int

	// Signed access tokens (JWTs), accepted beside API_TOKENS when a key
	// is set (JWTEnabled). JWTHS256Secrets verify HS256 tokens
	// (JWT_HS256_SECRETS, comma-separated, each at least 32 bytes; several
	// during a rotation). JWTKeysFile holds public keys for RS256 and
	// EdDSA, PEM or a JWK Set (JWT_KEYS_FILE); JWTJWKSURL serves a JWK Set
	// (JWT_JWKS_URL), fetched again every JWTJWKSRefresh
	// (JWT_JWKS_REFRESH) and on an unknown kid. JWTAudience, when set,
	// must be in a token's aud (JWT_AUDIENCE), JWTIssuer its iss
	// (JWT_ISSUER); JWTLeeway is the clock skew allowed (JWT_LEEWAY).
	JWTHS256Secrets         []string
	JWTKeysFile, JWTJWKSURL string
	JWTJWKSRefresh          time.Duration
	JWTAudience, JWTIssuer  string
	JWTLeeway               time.Duration

	// ICEPortMin and ICEPortMax bound the UDP ports of ICE candidates
	// (ICE_PORT_MIN, ICE_PORT_MAX).
	ICEPortMin, ICEPortMax int
	// ICEUDPMuxPort serves every session on this one UDP port
	// (ICE_UDP_MUX_PORT); by default the HTTP port's number, so one number
	// opens both. 0 uses the ICE_PORT_MIN..ICE_PORT_MAX range instead.
	ICEUDPMuxPort int
	// ICETCPPort, when set, also offers ICE-TCP candidates on this port
	// (ICE_TCP_PORT).
	ICETCPPort int
	// STUNURLs and TURNURLs are ICE servers (STUN_URLS, TURN_URLS), with
	// TURN credentials (TURN_USERNAME, TURN_PASSWORD).
	STUNURLs, TURNURLs         []string
	TURNUsername, TURNPassword string
	// TURNSecret is the TURN server's shared secret (TURN_SECRET;
	// coturn's static-auth-secret with use-auth-secret): short-lived TURN
	// credentials are derived from it for every session and viewer, valid
	// for TURNCredentialTTL (TURN_CREDENTIAL_TTL). It replaces
	// TURN_USERNAME and TURN_PASSWORD.
	TURNSecret        string
	TURNCredentialTTL time.Duration
	// NAT1To1IPs are public addresses to announce for this host
	// (NAT_1TO1_IPS).
	NAT1To1IPs []string
	// SessionShards is the session manager's shard count (SESSION_SHARDS).
	SessionShards int
	// MaxSessionsPerUser bounds each user's sessions
	// (MAX_SESSIONS_PER_USER).
	MaxSessionsPerUser int
	// MaxSessionDuration ends a session that long after it was created
	// (MAX_SESSION_DURATION; 0: no limit); an access token's own maximum
	// lowers it for its sessions.
	MaxSessionDuration time.Duration
	// TokenExpiryEndsSessions ends a session when the access token that
	// created it expires (TOKEN_EXPIRY_ENDS_SESSIONS); false: a token
	// that expires ends nothing already running.
	TokenExpiryEndsSessions bool
	// ControlIdleTimeout releases the control of a viewer that holds it
	// and sent no input for that long (CONTROL_IDLE_TIMEOUT; 0: never);
	// with ControlIdleEndsSession (CONTROL_IDLE_ENDS_SESSION) its session
	// ends instead.
	ControlIdleTimeout     time.Duration
	ControlIdleEndsSession bool
	// SessionWarningBefore is how long before a limit ends a session (or
	// releases control) the viewer is warned (SESSION_WARNING_BEFORE; 0:
	// no warning).
	SessionWarningBefore time.Duration

	// ADBServer is the adb server's host:port (ADB_SERVER).
	ADBServer string
	// ADBDevices are host:port devices (Redroid containers, phones with
	// adb over TCP) to connect at start and keep connected (ADB_DEVICES,
	// comma-separated).
	ADBDevices []string

	// DeviceSource is where devices are found (DEVICE_SOURCE): "static",
	// the adb server's list and ADB_DEVICES, or "kubernetes", pods found
	// through the Kubernetes API, each run by one instance of a fleet
	// (the fleet settings below).
	DeviceSource string
	// DeviceSelector selects the device pods (DEVICE_SELECTOR, a label
	// selector), in DeviceNamespace (DEVICE_NAMESPACE; FleetNamespace by
	// default). A device's ID is its DeviceIDLabel label
	// (DEVICE_ID_LABEL), or its pod's name when unset; its adb address
	// the pod's IP and the port of its DevicePortAnnotation annotation
	// (DEVICE_PORT_ANNOTATION), 5555 without one.
	DeviceSelector, DeviceNamespace, DeviceIDLabel, DevicePortAnnotation string
	// FleetNamespace holds the fleet's Leases and its members' Service
	// (FLEET_NAMESPACE; by default the pod's own namespace).
	FleetNamespace string
	// FleetService is the headless Service whose ready endpoints are the
	// fleet's members (FLEET_SERVICE).
	FleetService string
	// PodName is this instance's name in the fleet (POD_NAME; the host
	// name by default).
	PodName string
	// LeaseDuration is how long a device's owner holds it without renewal
	// (LEASE_DURATION): the longest a dead owner's devices wait.
	LeaseDuration time.Duration
	// MaxDevices bounds the devices this instance runs at once
	// (MAX_DEVICES); 0: no bound.
	MaxDevices int
	// FleetPlacement is where a device with no owner goes
	// (FLEET_PLACEMENT): "spread", any member with room (rendezvous
	// hashing), or "node", the member on the device pod's node (the
	// per-node shape: a DaemonSet with host networking).
	FleetPlacement string
	// FleetSecret signs the requests instances forward to each other
	// (FLEET_SECRET): their owner then takes the forwarding headers as a
	// trusted proxy's.
	FleetSecret string
	// Kubeconfig is the kubeconfig file (KUBECONFIG); unset, the
	// in-cluster configuration of the pod's service account.
	Kubeconfig string

	// WebhookURL receives the lifecycle webhooks (WEBHOOK_URL; the
	// endpoint named "default"), signed with WebhookSecret
	// (WEBHOOK_SECRET: whsec_ and the base64 of the key), of the event
	// types WebhookEvents matches (WEBHOOK_EVENTS, comma-separated
	// patterns such as session.*; none: every type). Webhooks are more
	// endpoints (WEBHOOKS; see WebhookEndpoints). WebhookTimeout bounds
	// one delivery attempt (WEBHOOK_TIMEOUT).
	WebhookURL, WebhookSecret string
	WebhookEvents             []string
	Webhooks                  string
	WebhookTimeout            time.Duration

	// Recordings (recordings.go): RecordingsDir holds them
	// (RECORDINGS_DIR); each is cut into segments of RecordingSegment
	// (RECORDING_SEGMENT) and ends at RecordingMaxDuration
	// (RECORDING_MAX_DURATION; 0: no bound); MaxRecordings run at once on
	// an instance (MAX_RECORDINGS; 0 turns recording off); those that
	// ended longer than RecordingsMaxAge ago are deleted
	// (RECORDINGS_MAX_AGE; 0 keeps them).
	RecordingsDir        string
	RecordingSegment     time.Duration
	RecordingMaxDuration time.Duration
	MaxRecordings        int
	RecordingsMaxAge     time.Duration

	// ConfigFile is the file read before the environment (CONFIG_FILE,
	// from the environment only): .env in the working directory by
	// default, or a path such as a mounted ConfigMap. The service reads
	// it again on SIGHUP (see Reload).
	ConfigFile string
	// ConfigWatch reloads the configuration when ConfigFile's content
	// changes, checked every 2 seconds (CONFIG_WATCH), as SIGHUP does.
	ConfigWatch bool

	// set names the variables that were set (IsSet), and where (Source).
	set map[string]bool
	src map[string]string
}

// Default returns the configuration used where nothing overrides it.
func Default() Config {
	return Config{
		Port:      30006,
		LogLevel:  "info",
		LogFormat: "auto",

		GoroutineMonitorInterval: 30 * time.Second,
		ResourceMonitorInterval:  10 * time.Second,

		CaptureMode:      "screenrecord",
		VideoEncoderType: "auto",
		UseWorkerPool:    false,
		WorkerCount:      4,
		H264HWAccel:      "auto",
		H264Preset:       "faster",
		H264Profile:      "baseline",
		VideoFrameRate:   media.DefaultFrameRate,
		VideoBitRate:     media.DefaultBitRate,
		MinBitRate:       media.DefaultMinBitRate,
		MaxBitRate:       media.DefaultMaxBitRate,
		Rungs:            []float64{1, 0.5},
		KeyFrameInterval: 60,
		ADBServer:        "127.0.0.1:5037",
		InputAgent:       "auto",

		DeviceSource:         "static",
		DeviceSelector:       "app=redroid",
		DevicePortAnnotation: "media-service/adb-port",
		FleetService:         "media-service-members",
		FleetPlacement:       "spread",
		LeaseDuration:        10 * time.Second,

		EncodeTimeout:       200 * time.Millisecond,
		WriteTimeout:        100 * time.Millisecond,
		EncoderCloseTimeout: 5 * time.Second,
		VAAPIDevice:         "/dev/dri/renderD128",

		RateLimit:           20,
		JWTJWKSRefresh:      5 * time.Minute,
		JWTLeeway:           30 * time.Second,
		MaxSessions:         1000,
		MaxViewersPerDevice: 200,
		MaxConnections:      4096,
		DrainTimeout:        30 * time.Second,
		MaxUploadBytes:      1 << 30,
		UploadTimeout:       10 * time.Minute,
		ICEUDPMuxPort:       30006,
		ICEPortMin:          50000,
		ICEPortMax:          50100,
		TURNCredentialTTL:   12 * time.Hour,
		SessionShards:       16,
		MaxSessionsPerUser:  5,
		ConfigFile:          ".env",
		WebhookTimeout:      15 * time.Second,

		RecordingsDir:        "recordings",
		RecordingSegment:     5 * time.Minute,
		RecordingMaxDuration: 2 * time.Hour,
		MaxRecordings:        8,
		RecordingsMaxAge:     7 * 24 * time.Hour,

		SessionWarningBefore: time.Minute,
	}
}

// Allowed values of the enumerated variables.
var (
	LogLevels     = []string{"debug", "info", "warn", "error"}
	CaptureModes  = []string{"screenrecord", "screencap", "raw-frames"}
	EncoderTypes  = []string{"auto", "passthrough", "h264", "vp8"}
	DeviceSources = []string{"static", "kubernetes"}
	HWAccels      = []string{"auto", "nvenc", "qsv", "vaapi", "none"}
	H264Presets   = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}
	H264Profiles  = []string{"baseline", "main", "high"}
	ErrInvalid    = errors.New("config: invalid")
	ErrUnknownVar = errors.New("config: unknown variable")
)

// field binds one environment variable to a Config field.
type field struct {
	name string
	set  func(c *Config, v string) error
	get  func(c *Config) string
}

func intField(name string, p func(*Config) *int) field {
	return field{name, func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%w: %s=%q is not an integer", ErrInvalid, name, v)
		}
		*p(c) = n
		return nil
	}, func(c *Config) string { return strconv.Itoa(*p(c)) }}
}

func boolField(name string, p func(*Config) *bool) field {
	return field{name, func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%w: %s=%q is not a boolean (want true or false)", ErrInvalid, name, v)
		}
		*p(c) = b
		return nil
	}, func(c *Config) string { return strconv.FormatBool(*p(c)) }}
}

func durationField(name string, p func(*Config) *time.Duration) field {
	return field{name, func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%w: %s=%q is not a duration (like 200ms or 5s)", ErrInvalid, name, v)
		}
		*p(c) = d
		return nil
	}, func(c *Config) string { return p(c).String() }}
}

func listField(name string, p func(*Config) *[]string) field {
	return field{name, func(c *Config, v string) error {
		var out []string
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		*p(c) = out
		return nil
	}, func(c *Config) string { return strings.Join(*p(c), ",") }}
}

func stringField(name string, p func(*Config) *string) field {
	return field{name, func(c *Config, v string) error {
		*p(c) = strings.TrimSpace(v)
		return nil
	}, func(c *Config) string { return *p(c) }}
}

var fields = []field{
	intField("PORT", func(c *Config) *int { return &c.Port }),
	stringField("LOG_LEVEL", func(c *Config) *string { return &c.LogLevel }),
	stringField("LOG_FORMAT", func(c *Config) *string { return &c.LogFormat }),
	durationField("GOROUTINE_MONITOR_INTERVAL", func(c *Config) *time.Duration { return &c.GoroutineMonitorInterval }),
	durationField("RESOURCE_MONITOR_INTERVAL", func(c *Config) *time.Duration { return &c.ResourceMonitorInterval }),
	intField("PPROF_BLOCK_RATE", func(c *Config) *int { return &c.PprofBlockRate }),
	intField("PPROF_MUTEX_FRACTION", func(c *Config) *int { return &c.PprofMutexFraction }),
	stringField("CAPTURE_MODE", func(c *Config) *string { return &c.CaptureMode }),
	stringField("INPUT_AGENT", func(c *Config) *string { return &c.InputAgent }),
	stringField("VIDEO_ENCODER_TYPE", func(c *Config) *string { return &c.VideoEncoderType }),
	boolField("USE_WORKER_POOL", func(c *Config) *bool { return &c.UseWorkerPool }),
	{"WORKER_COUNT", func(c *Config, v string) error {
		if strings.EqualFold(strings.TrimSpace(v), "auto") {
			c.WorkerCount = 0
			return nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%w: WORKER_COUNT=%q (want auto or a number)", ErrInvalid, v)
		}
		c.WorkerCount = n
		return nil
	}, func(c *Config) string {
		if c.WorkerCount == 0 {
			return "auto"
		}
		return strconv.Itoa(c.WorkerCount)
	}},
	stringField("H264_HW_ACCEL", func(c *Config) *string { return &c.H264HWAccel }),
	stringField("H264_PRESET", func(c *Config) *string { return &c.H264Preset }),
	stringField("H264_PROFILE", func(c *Config) *string { return &c.H264Profile }),
	intField("VIDEO_FRAMERATE", func(c *Config) *int { return &c.VideoFrameRate }),
	intField("VIDEO_BITRATE", func(c *Config) *int { return &c.VideoBitRate }),
	intField("MIN_BITRATE", func(c *Config) *int { return &c.MinBitRate }),
	intField("MAX_BITRATE", func(c *Config) *int { return &c.MaxBitRate }),
	{"VIDEO_RUNGS", func(c *Config, v string) error {
		var rungs []float64
		for _, part := range strings.Split(v, ",") {
			f, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
			if err != nil {
				return fmt.Errorf("%w: VIDEO_RUNGS=%q: %q is not a number (want scales like 1,0.5)", ErrInvalid, v, part)
			}
			rungs = append(rungs, f)
		}
		c.Rungs = rungs
		return nil
	}, func(c *Config) string {
		parts := make([]string, len(c.Rungs))
		for i, r := range c.Rungs {
			parts[i] = strconv.FormatFloat(r, 'g', -1, 64)
		}
		return strings.Join(parts, ",")
	}},
	intField("VIDEO_KEYFRAME_INTERVAL", func(c *Config) *int { return &c.KeyFrameInterval }),
	durationField("ENCODE_TIMEOUT", func(c *Config) *time.Duration { return &c.EncodeTimeout }),
	durationField("WRITE_TIMEOUT", func(c *Config) *time.Duration { return &c.WriteTimeout }),
	durationField("ENCODER_CLOSE_TIMEOUT", func(c *Config) *time.Duration { return &c.EncoderCloseTimeout }),
	stringField("VAAPI_DEVICE", func(c *Config) *string { return &c.VAAPIDevice }),
	listField("API_TOKENS", func(c *Config) *[]string { return &c.APITokens }),
	boolField("AUTH_DISABLED", func(c *Config) *bool { return &c.AuthDisabled }),
	listField("JWT_HS256_SECRETS", func(c *Config) *[]string { return &c.JWTHS256Secrets }),
	stringField("JWT_KEYS_FILE", func(c *Config) *string { return &c.JWTKeysFile }),
	stringField("JWT_JWKS_URL", func(c *Config) *string { return &c.JWTJWKSURL }),
	durationField("JWT_JWKS_REFRESH", func(c *Config) *time.Duration { return &c.JWTJWKSRefresh }),
	stringField("JWT_AUDIENCE", func(c *Config) *string { return &c.JWTAudience }),
	stringField("JWT_ISSUER", func(c *Config) *string { return &c.JWTIssuer }),
	durationField("JWT_LEEWAY", func(c *Config) *time.Duration { return &c.JWTLeeway }),
	listField("CORS_ALLOW_ORIGINS", func(c *Config) *[]string { return &c.CORSAllowOrigins }),
	intField("RATE_LIMIT", func(c *Config) *int { return &c.RateLimit }),
	intField("MAX_SESSIONS", func(c *Config) *int { return &c.MaxSessions }),
	intField("MAX_VIEWERS_PER_DEVICE", func(c *Config) *int { return &c.MaxViewersPerDevice }),
	intField("MAX_SESSIONS_PER_TOKEN", func(c *Config) *int { return &c.MaxSessionsPerToken }),
	listField("TRUSTED_PROXIES", func(c *Config) *[]string { return &c.TrustedProxies }),
	intField("MAX_CONNECTIONS", func(c *Config) *int { return &c.MaxConnections }),
	durationField("DRAIN_TIMEOUT", func(c *Config) *time.Duration { return &c.DrainTimeout }),
	intField("MAX_UPLOAD_BYTES", func(c *Config) *int { return &c.MaxUploadBytes }),
	durationField("UPLOAD_TIMEOUT", func(c *Config) *time.Duration { return &c.UploadTimeout }),
	intField("ICE_PORT_MIN", func(c *Config) *int { return &c.ICEPortMin }),
	intField("ICE_PORT_MAX", func(c *Config) *int { return &c.ICEPortMax }),
	intField("ICE_UDP_MUX_PORT", func(c *Config) *int { return &c.ICEUDPMuxPort }),
	intField("ICE_TCP_PORT", func(c *Config) *int { return &c.ICETCPPort }),
	listField("STUN_URLS", func(c *Config) *[]string { return &c.STUNURLs }),
	listField("TURN_URLS", func(c *Config) *[]string { return &c.TURNURLs }),
	stringField("TURN_USERNAME", func(c *Config) *string { return &c.TURNUsername }),
	stringField("TURN_PASSWORD", func(c *Config) *string { return &c.TURNPassword }),
	stringField("TURN_SECRET", func(c *Config) *string { return &c.TURNSecret }),
	durationField("TURN_CREDENTIAL_TTL", func(c *Config) *time.Duration { return &c.TURNCredentialTTL }),
	listField("NAT_1TO1_IPS", func(c *Config) *[]string { return &c.NAT1To1IPs }),
	intField("SESSION_SHARDS", func(c *Config) *int { return &c.SessionShards }),
	intField("MAX_SESSIONS_PER_USER", func(c *Config) *int { return &c.MaxSessionsPerUser }),
	durationField("MAX_SESSION_DURATION", func(c *Config) *time.Duration { return &c.MaxSessionDuration }),
	boolField("TOKEN_EXPIRY_ENDS_SESSIONS", func(c *Config) *bool { return &c.TokenExpiryEndsSessions }),
	durationField("CONTROL_IDLE_TIMEOUT", func(c *Config) *time.Duration { return &c.ControlIdleTimeout }),
	boolField("CONTROL_IDLE_ENDS_SESSION", func(c *Config) *bool { return &c.ControlIdleEndsSession }),
	durationField("SESSION_WARNING_BEFORE", func(c *Config) *time.Duration { return &c.SessionWarningBefore }),
	stringField("ADB_SERVER", func(c *Config) *string { return &c.ADBServer }),
	listField("ADB_DEVICES", func(c *Config) *[]string { return &c.ADBDevices }),
	stringField("DEVICE_SOURCE", func(c *Config) *string { return &c.DeviceSource }),
	stringField("DEVICE_SELECTOR", func(c *Config) *string { return &c.DeviceSelector }),
	stringField("DEVICE_NAMESPACE", func(c *Config) *string { return &c.DeviceNamespace }),
	stringField("DEVICE_ID_LABEL", func(c *Config) *string { return &c.DeviceIDLabel }),
	stringField("DEVICE_PORT_ANNOTATION", func(c *Config) *string { return &c.DevicePortAnnotation }),
	stringField("FLEET_NAMESPACE", func(c *Config) *string { return &c.FleetNamespace }),
	stringField("FLEET_SERVICE", func(c *Config) *string { return &c.FleetService }),
	stringField("POD_NAME", func(c *Config) *string { return &c.PodName }),
	durationField("LEASE_DURATION", func(c *Config) *time.Duration { return &c.LeaseDuration }),
	intField("MAX_DEVICES", func(c *Config) *int { return &c.MaxDevices }),
	stringField("FLEET_PLACEMENT", func(c *Config) *string { return &c.FleetPlacement }),
	stringField("FLEET_SECRET", func(c *Config) *string { return &c.FleetSecret }),
	stringField("KUBECONFIG", func(c *Config) *string { return &c.Kubeconfig }),
	stringField("WEBHOOK_URL", func(c *Config) *string { return &c.WebhookURL }),
	stringField("WEBHOOK_SECRET", func(c *Config) *string { return &c.WebhookSecret }),
	listField("WEBHOOK_EVENTS", func(c *Config) *[]string { return &c.WebhookEvents }),
	stringField("WEBHOOKS", func(c *Config) *string { return &c.Webhooks }),
	durationField("WEBHOOK_TIMEOUT", func(c *Config) *time.Duration { return &c.WebhookTimeout }),
	stringField("RECORDINGS_DIR", func(c *Config) *string { return &c.RecordingsDir }),
	durationField("RECORDING_SEGMENT", func(c *Config) *time.Duration { return &c.RecordingSegment }),
	durationField("RECORDING_MAX_DURATION", func(c *Config) *time.Duration { return &c.RecordingMaxDuration }),
	intField("MAX_RECORDINGS", func(c *Config) *int { return &c.MaxRecordings }),
	durationField("RECORDINGS_MAX_AGE", func(c *Config) *time.Duration { return &c.RecordingsMaxAge }),
	stringField("CONFIG_FILE", func(c *Config) *string { return &c.ConfigFile }),
	boolField("CONFIG_WATCH", func(c *Config) *bool { return &c.ConfigWatch }),
}

// liveVars are the variables a reload applies while the service runs
// (see Reload); every other one needs a restart.
var liveVars = map[string]bool{
	"LOG_LEVEL": true, "PPROF_BLOCK_RATE": true, "PPROF_MUTEX_FRACTION": true,
	// Encoders and captures opened from then on.
	"WORKER_COUNT": true, "H264_PRESET": true, "H264_PROFILE": true, "VIDEO_FRAMERATE": true,
	"VIDEO_BITRATE": true, "MIN_BITRATE": true, "MAX_BITRATE": true, "VIDEO_KEYFRAME_INTERVAL": true,
	// The API and admission.
	"API_TOKENS": true, "CORS_ALLOW_ORIGINS": true, "RATE_LIMIT": true,
	// Signed access tokens, for the requests from then on.
	"JWT_HS256_SECRETS": true, "JWT_KEYS_FILE": true, "JWT_JWKS_URL": true, "JWT_JWKS_REFRESH": true,
	"JWT_AUDIENCE": true, "JWT_ISSUER": true, "JWT_LEEWAY": true,
	"MAX_SESSIONS": true, "MAX_VIEWERS_PER_DEVICE": true, "MAX_SESSIONS_PER_TOKEN": true, "MAX_SESSIONS_PER_USER": true,
	// The webhook endpoints, for the events emitted from then on.
	"WEBHOOK_URL": true, "WEBHOOK_SECRET": true, "WEBHOOK_EVENTS": true, "WEBHOOKS": true, "WEBHOOK_TIMEOUT": true,
	// Session time limits, for sessions created from then on.
	"MAX_SESSION_DURATION": true, "TOKEN_EXPIRY_ENDS_SESSIONS": true, "CONTROL_IDLE_TIMEOUT": true,
	"CONTROL_IDLE_ENDS_SESSION": true, "SESSION_WARNING_BEFORE": true,
}

// Live reports whether a reload applies the variable name while the
// service runs; the others need a restart.
func Live(name string) bool { return liveVars[name] }

// Variables returns the names of every variable the configuration reads.
func Variables() []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return names
}

func lookupField(name string) (field, bool) {
	i := slices.IndexFunc(fields, func(f field) bool { return f.name == name })
	if i < 0 {
		return field{}, false
	}
	return fields[i], true
}

// FromEnvironment loads the configuration as the service does: the file
// that CONFIG_FILE names (.env by default; a file named that does not
// exist is an error), then the environment that lookup reads.
func FromEnvironment(lookup func(string) (string, bool)) (Config, error) {
	file := ".env"
	if v, ok := lookup("CONFIG_FILE"); ok {
		if file = strings.TrimSpace(v); file == "" {
			return Config{}, fmt.Errorf("%w: CONFIG_FILE is empty (want a file's path)", ErrInvalid)
		}
	}
	c, err := Load(file, lookup)
	c.ConfigFile = file
	return c, err
}

// named reports whether the environment names the configuration file.
func named(lookup func(string) (string, bool)) bool {
	_, ok := lookup("CONFIG_FILE")
	return ok
}

// Load returns the defaults overridden by the .env file at envFile (if it
// exists; "" skips it) and then by the environment that lookup reads
// (os.LookupEnv in the service), validated.
func Load(envFile string, lookup func(string) (string, bool)) (Config, error) {
	c := Default()
	c.set, c.src = map[string]bool{}, map[string]string{}
	if envFile != "" {
		data, err := os.ReadFile(envFile)
		switch {
		case errors.Is(err, os.ErrNotExist) && !named(lookup):
		case err != nil && named(lookup):
			return Config{}, fmt.Errorf("config: read %s (CONFIG_FILE): %w", envFile, err)
		case err != nil:
			return Config{}, fmt.Errorf("config: read %s: %w", envFile, err)
		default:
			vars, err := ParseEnv(data)
			if err != nil {
				return Config{}, fmt.Errorf("config: %s: %w", envFile, err)
			}
			for _, kv := range vars {
				if kv.Key == "CONFIG_FILE" {
					return Config{}, fmt.Errorf("%w: CONFIG_FILE in %s: it names the file, so it is read from the environment only", ErrInvalid, envFile)
				}
				f, ok := lookupField(kv.Key)
				if !ok {
					return Config{}, fmt.Errorf("%w %s in %s (known: %s)", ErrUnknownVar, kv.Key, envFile, strings.Join(Variables(), ", "))
				}
				if err := f.set(&c, kv.Value); err != nil {
					return Config{}, fmt.Errorf("%s: %w", envFile, err)
				}
				c.set[kv.Key] = true
				c.src[kv.Key] = envFile
			}
		}
	}
	for _, f := range fields {
		if v, ok := lookup(f.name); ok {
			if err := f.set(&c, v); err != nil {
				return Config{}, err
			}
			c.set[f.name] = true
			c.src[f.name] = "environment"
		}
	}
	if !c.set["ICE_UDP_MUX_PORT"] {
		c.ICEUDPMuxPort = c.Port // one number opens both
	}
	c.Tokens, _ = ParseTokens(c.APITokens)
	return c, c.Validate()
}

// Validate reports the first invalid value, naming its variable and the
// values it allows.
func (c Config) Validate() error {
	oneOf := func(name, v string, allowed []string) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("%w: %s=%q (want one of %s)", ErrInvalid, name, v, strings.Join(allowed, ", "))
		}
		return nil
	}
	between := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("%w: %s=%d (want %d..%d)", ErrInvalid, name, v, lo, hi)
		}
		return nil
	}
	hostPort := func(name, v string) error {
		host, port, err := net.SplitHostPort(v)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || host == "" || n < 1 || n > 65535 || strings.Trim(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_:") != "" {
			return fmt.Errorf("%w: %s=%q (want HOST:PORT)", ErrInvalid, name, v)
		}
		return nil
	}
	timeout := func(name string, d, lo, hi time.Duration) error {
		if d < lo || d > hi {
			return fmt.Errorf("%w: %s=%v (want %v..%v)", ErrInvalid, name, d, lo, hi)
		}
		return nil
	}
	// limit: 0 (none), or 1s..hi.
	limit := func(name string, d, hi time.Duration) error {
		if d != 0 && (d < time.Second || d > hi) {
			return fmt.Errorf("%w: %s=%v (want 0 for no limit, or 1s..%v)", ErrInvalid, name, d, hi)
		}
		return nil
	}
	urls := func(name string, list []string, schemes ...string) error {
		for _, u := range list {
			scheme, _, ok := strings.Cut(u, ":")
			if !ok || !slices.Contains(schemes, scheme) {
				return fmt.Errorf("%w: %s entry %q (want %s: URLs)", ErrInvalid, name, u, strings.Join(schemes, ": or "))
			}
		}
		return nil
	}
	var ips []error
	for _, ip := range c.NAT1To1IPs {
		if net.ParseIP(ip) == nil {
			ips = append(ips, fmt.Errorf("%w: NAT_1TO1_IPS entry %q is not an IP address", ErrInvalid, ip))
		}
	}
	_, tokErr := ParseTokens(c.APITokens)
	tokens := []error{tokErr}
	var proxies []error
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				proxies = append(proxies, fmt.Errorf("%w: TRUSTED_PROXIES entry %q is neither a CIDR nor an IP address", ErrInvalid, p))
			}
		}
	}
	var devs []error
	for _, d := range c.ADBDevices {
		devs = append(devs, hostPort("ADB_DEVICES", d))
	}
	return errors.Join(
		between("PORT", c.Port, 1, 65535),
		hostPort("ADB_SERVER", c.ADBServer),
		errors.Join(devs...),
		oneOf("LOG_LEVEL", c.LogLevel, LogLevels),
		oneOf("LOG_FORMAT", c.LogFormat, []string{"auto", "json", "text"}),
		timeout("GOROUTINE_MONITOR_INTERVAL", c.GoroutineMonitorInterval, 10*time.Millisecond, time.Hour),
		timeout("RESOURCE_MONITOR_INTERVAL", c.ResourceMonitorInterval, 10*time.Millisecond, time.Hour),
		between("PPROF_BLOCK_RATE", c.PprofBlockRate, 0, 1_000_000_000),
		between("PPROF_MUTEX_FRACTION", c.PprofMutexFraction, 0, 1_000_000),
		oneOf("CAPTURE_MODE", c.CaptureMode, CaptureModes),
		oneOf("INPUT_AGENT", c.InputAgent, []string{"auto", "off"}),
		oneOf("VIDEO_ENCODER_TYPE", c.VideoEncoderType, EncoderTypes),
		between("WORKER_COUNT", c.WorkerCount, 0, 256),
		oneOf("H264_HW_ACCEL", c.H264HWAccel, HWAccels),
		oneOf("H264_PRESET", c.H264Preset, H264Presets),
		oneOf("H264_PROFILE", c.H264Profile, H264Profiles),
		between("VIDEO_FRAMERATE", c.VideoFrameRate, media.MinFrameRate, media.MaxFrameRate),
		between("VIDEO_BITRATE", c.VideoBitRate, 10_000, 200_000_000),
		between("MIN_BITRATE", c.MinBitRate, 10_000, 200_000_000),
		between("MAX_BITRATE", c.MaxBitRate, 10_000, 200_000_000),
		bitRateBounds(c.MinBitRate, c.VideoBitRate, c.MaxBitRate),
		validRungs(c.Rungs),
		encoderForMode(c.CaptureMode, c.VideoEncoderType),
		between("VIDEO_KEYFRAME_INTERVAL", c.KeyFrameInterval, 1, 100_000),
		errors.Join(tokens...),
		c.validJWT(),
		between("RATE_LIMIT", c.RateLimit, 1, 100_000),
		between("MAX_SESSIONS", c.MaxSessions, 1, 1_000_000),
		between("MAX_VIEWERS_PER_DEVICE", c.MaxViewersPerDevice, 1, 1_000_000),
		between("MAX_SESSIONS_PER_TOKEN", c.MaxSessionsPerToken, 0, 1_000_000),
		errors.Join(proxies...),
		between("MAX_CONNECTIONS", c.MaxConnections, 16, 1_000_000),
		timeout("DRAIN_TIMEOUT", c.DrainTimeout, 0, time.Hour),
		between("MAX_UPLOAD_BYTES", c.MaxUploadBytes, 1, int(^uint(0)>>1)),
		timeout("UPLOAD_TIMEOUT", c.UploadTimeout, time.Second, 24*time.Hour),
		between("ICE_PORT_MIN", c.ICEPortMin, 1024, 65535),
		between("ICE_PORT_MAX", c.ICEPortMax, c.ICEPortMin, 65535),
		between("ICE_UDP_MUX_PORT", c.ICEUDPMuxPort, 0, 65535),
		between("ICE_TCP_PORT", c.ICETCPPort, 0, 65535),
		urls("STUN_URLS", c.STUNURLs, "stun", "stuns"),
		urls("TURN_URLS", c.TURNURLs, "turn", "turns"),
		c.validTURN(),
		timeout("TURN_CREDENTIAL_TTL", c.TURNCredentialTTL, time.Minute, 7*24*time.Hour),
		errors.Join(ips...),
		between("SESSION_SHARDS", c.SessionShards, 1, 1024),
		between("MAX_SESSIONS_PER_USER", c.MaxSessionsPerUser, 1, 10_000),
		limit("MAX_SESSION_DURATION", c.MaxSessionDuration, 30*24*time.Hour),
		limit("CONTROL_IDLE_TIMEOUT", c.ControlIdleTimeout, 24*time.Hour),
		timeout("SESSION_WARNING_BEFORE", c.SessionWarningBefore, 0, time.Hour),
		oneOf("DEVICE_SOURCE", c.DeviceSource, DeviceSources),
		c.validFleet(),
		c.validWebhooks(),
		c.validRecordings(),
		timeout("ENCODE_TIMEOUT", c.EncodeTimeout, time.Millisecond, time.Minute),
		timeout("WRITE_TIMEOUT", c.WriteTimeout, time.Millisecond, time.Minute),
		timeout("ENCODER_CLOSE_TIMEOUT", c.EncoderCloseTimeout, time.Millisecond, 10*time.Minute),
	)
}

// validTURN checks the TURN credentials: TURN_SECRET derives them, so it
// excludes TURN_USERNAME and TURN_PASSWORD; TURN_URLS needs one or the
// other.
func (c Config) validTURN() error {
	if c.TURNSecret != "" && (c.TURNUsername != "" || c.TURNPassword != "") {
		return fmt.Errorf("%w: TURN_SECRET is set with TURN_USERNAME or TURN_PASSWORD: TURN_SECRET derives short-lived credentials "+
			"for every session (coturn use-auth-secret), so static ones are not used; unset TURN_USERNAME and TURN_PASSWORD, or TURN_SECRET", ErrInvalid)
	}
	if len(c.TURNURLs) > 0 && c.TURNSecret == "" && (c.TURNUsername == "" || c.TURNPassword == "") {
		return fmt.Errorf("%w: TURN_URLS needs credentials: TURN_SECRET (the TURN server's static-auth-secret), or TURN_USERNAME and TURN_PASSWORD", ErrInvalid)
	}
	return nil
}

// JWTEnabled reports whether signed access tokens are accepted: a key
// is configured (JWT_HS256_SECRETS, JWT_KEYS_FILE or JWT_JWKS_URL).
func (c Config) JWTEnabled() bool {
	return len(c.JWTHS256Secrets) > 0 || c.JWTKeysFile != "" || c.JWTJWKSURL != ""
}

// validJWT checks the signed access token settings. The keys file is
// read and parsed where the tokens are verified (api.NewVerifier); here
// it must exist.
func (c Config) validJWT() error {
	var errs []error
	for i, s := range c.JWTHS256Secrets {
		if len(s) < 32 {
			errs = append(errs, fmt.Errorf("%w: JWT_HS256_SECRETS: secret %d has %d bytes (want at least 32: HS256 needs a key as long as its hash; e.g. openssl rand -base64 48)", ErrInvalid, i+1, len(s)))
		}
	}
	if c.JWTKeysFile != "" {
		if st, err := os.Stat(c.JWTKeysFile); err != nil {
			errs = append(errs, fmt.Errorf("%w: JWT_KEYS_FILE=%q: %v", ErrInvalid, c.JWTKeysFile, err))
		} else if st.IsDir() {
			errs = append(errs, fmt.Errorf("%w: JWT_KEYS_FILE=%q is a directory (want a file of PEM public keys or a JWK Set)", ErrInvalid, c.JWTKeysFile))
		}
	}
	if u := c.JWTJWKSURL; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%w: JWT_JWKS_URL=%q (want an https:// or http:// URL of a JWK Set)", ErrInvalid, u))
		}
	}
	if c.JWTJWKSRefresh < 10*time.Second || c.JWTJWKSRefresh > 24*time.Hour {
		errs = append(errs, fmt.Errorf("%w: JWT_JWKS_REFRESH=%v (want 10s..24h)", ErrInvalid, c.JWTJWKSRefresh))
	}
	if c.JWTLeeway < 0 || c.JWTLeeway > 5*time.Minute {
		errs = append(errs, fmt.Errorf("%w: JWT_LEEWAY=%v (want 0s..5m)", ErrInvalid, c.JWTLeeway))
	}
	return errors.Join(errs...)
}

// validFleet checks the fleet's settings (DEVICE_SOURCE=kubernetes).
func (c Config) validFleet() error {
	if c.DeviceSource != "kubernetes" {
		return nil
	}
	var errs []error
	if strings.TrimSpace(c.DeviceSelector) == "" {
		errs = append(errs, fmt.Errorf("%w: DEVICE_SELECTOR is empty (DEVICE_SOURCE=kubernetes needs a label selector such as app=redroid)", ErrInvalid))
	}
	if c.FleetService == "" {
		errs = append(errs, fmt.Errorf("%w: FLEET_SERVICE is empty (the headless Service of the fleet's members)", ErrInvalid))
	}
	if c.LeaseDuration < 3*time.Second || c.LeaseDuration > 5*time.Minute {
		errs = append(errs, fmt.Errorf("%w: LEASE_DURATION=%v (want 3s..5m)", ErrInvalid, c.LeaseDuration))
	}
	if c.FleetPlacement != "spread" && c.FleetPlacement != "node" {
		errs = append(errs, fmt.Errorf("%w: FLEET_PLACEMENT=%q (want spread or node)", ErrInvalid, c.FleetPlacement))
	}
	if c.MaxDevices < 0 || c.MaxDevices > 100_000 {
		errs = append(errs, fmt.Errorf("%w: MAX_DEVICES=%d (want 0..100000)", ErrInvalid, c.MaxDevices))
	}
	if len(c.ADBDevices) > 0 {
		errs = append(errs, fmt.Errorf("%w: ADB_DEVICES is set with DEVICE_SOURCE=kubernetes (the devices come from the pods DEVICE_SELECTOR selects)", ErrInvalid))
	}
	return errors.Join(errs...)
}

// bitRateBounds checks MIN_BITRATE <= VIDEO_BITRATE <= MAX_BITRATE.
func bitRateBounds(lo, start, hi int) error {
	if lo <= start && start <= hi {
		return nil
	}
	return fmt.Errorf("%w: MIN_BITRATE (%d) <= VIDEO_BITRATE (%d) <= MAX_BITRATE (%d) does not hold: the stream starts at VIDEO_BITRATE and congestion control keeps it between the bounds", ErrInvalid, lo, start, hi)
}

// validRungs checks VIDEO_RUNGS: 1 first, then decreasing scales above
// 0.1, at most 4.
func validRungs(r []float64) error {
	if len(r) == 0 || len(r) > 4 || r[0] != 1 {
		return fmt.Errorf("%w: VIDEO_RUNGS=%v: want 1 to 4 scales starting with 1 (like 1,0.5)", ErrInvalid, r)
	}
	for i := 1; i < len(r); i++ {
		if !(r[i] < r[i-1]) || r[i] < 0.1 {
			return fmt.Errorf("%w: VIDEO_RUNGS=%v: scales must decrease, each at least 0.1", ErrInvalid, r)
		}
	}
	return nil
}

// encoderForMode refuses the combinations of CAPTURE_MODE and
// VIDEO_ENCODER_TYPE that cannot work.
func encoderForMode(mode, kind string) error {
	if kind == "passthrough" && mode != "screenrecord" {
		return fmt.Errorf("%w: VIDEO_ENCODER_TYPE=passthrough needs CAPTURE_MODE=screenrecord (the device's own H.264); CAPTURE_MODE=%s delivers pictures that must be encoded here (use auto, h264 or vp8)", ErrInvalid, mode)
	}
	return nil
}

// IsSet reports whether the variable name was set, in the .env file or
// the environment.
func (c Config) IsSet(name string) bool { return c.set[name] }

// Setting is one variable's effective value and where it came from.
type Setting struct {
	Name, Value string
	// Source is "default", "environment" or the configuration file's
	// path.
	Source string
	// Secret is set for values that must not be shown (API_TOKENS,
	// TURN_PASSWORD, TURN_SECRET); Value is then redacted.
	Secret bool
	// Live is set for the variables a reload applies while the service
	// runs; the others need a restart.
	Live bool
}

// Settings returns every variable's effective value, in the order of
// Variables, with secrets redacted: API_TOKENS shows the tokens' names
// and rights only.
func (c Config) Settings() []Setting {
	out := make([]Setting, 0, len(fields))
	for _, f := range fields {
		s := Setting{Name: f.name, Source: "default", Live: liveVars[f.name]}
		s.Value, s.Secret = c.shown(f)
		if src := c.src[f.name]; src != "" {
			s.Source = src
		}
		out = append(out, s)
	}
	return out
}

// shown returns f's value as it may be shown, and whether it is a
// secret: API_TOKENS as the tokens' names and rights, TURN_PASSWORD,
// TURN_SECRET and FLEET_SECRET as "(set)".
func (c *Config) shown(f field) (string, bool) {
	switch f.name {
	case "WEBHOOK_SECRET":
		if f.get(c) != "" {
			return "(set)", true
		}
		return "", true
	case "WEBHOOKS":
		return shownWebhooks(f.get(c)), true
	case "API_TOKENS":
		tokens, _ := ParseTokens(c.APITokens)
		names := make([]string, 0, len(tokens))
		for _, t := range tokens {
			names = append(names, t.describe())
		}
		return strings.Join(names, ","), true
	case "JWT_HS256_SECRETS":
		if n := len(c.JWTHS256Secrets); n > 0 {
			return fmt.Sprintf("(%d set)", n), true
		}
		return "", true
	case "TURN_PASSWORD", "TURN_SECRET", "FLEET_SECRET":
		if f.get(c) != "" {
			return "(set)", true
		}
		return "", true
	}
	return f.get(c), false
}

// Change is one variable that a reload found changed, its values shown
// as Settings shows them.
type Change struct {
	Name, Old, New string
	// Live: applied at once; otherwise left as it was until a restart.
	Live bool
}

// String is "NAME: old -> new", with "(restart needed)" for a change
// that was not applied.
func (ch Change) String() string {
	s := ch.Name + ": " + quoteEmpty(ch.Old) + " -> " + quoteEmpty(ch.New)
	if !ch.Live {
		s += " (restart needed)"
	}
	return s
}

func quoteEmpty(v string) string {
	if v == "" {
		return `""`
	}
	return v
}

// Reload returns the configuration to run with after next (the file and
// environment read again) replaced c: next's live variables (Live), and
// c's for the rest, which only a restart changes. It also returns every
// variable whose value differs, live or not. A token whose secret
// changed counts as a change of API_TOKENS even though its name did not.
// The result is validated: an error means nothing may change.
func (c Config) Reload(next Config) (Config, []Change, error) {
	out := c
	out.set, out.src = maps.Clone(c.set), maps.Clone(c.src)
	var changes []Change
	for _, f := range fields {
		oldV, newV := f.get(&c), f.get(&next)
		if oldV == newV {
			continue
		}
		ch := Change{Name: f.name, Live: liveVars[f.name]}
		ch.Old, _ = c.shown(f)
		ch.New, _ = next.shown(f)
		if ch.Old == ch.New {
			ch.New += " (secret changed)"
		}
		changes = append(changes, ch)
		if !ch.Live {
			continue
		}
		if err := f.set(&out, newV); err != nil {
			return c, nil, err
		}
		setOrDelete(out.set, f.name, next.set[f.name])
		if src, ok := next.src[f.name]; ok {
			out.src[f.name] = src
		} else {
			delete(out.src, f.name)
		}
	}
	tokens, err := ParseTokens(out.APITokens)
	if err == nil {
		err = out.Validate()
	}
	if err != nil {
		return c, nil, err
	}
	out.Tokens = tokens
	return out, changes, nil
}

func setOrDelete(m map[string]bool, k string, v bool) {
	if v {
		m[k] = true
	} else {
		delete(m, k)
	}
}

// Ineffective returns the variables that were set but have no effect with
// this CAPTURE_MODE and VIDEO_ENCODER_TYPE, each with the reason: the
// service names them in one warning at start-up. It follows the device's
// plan: passthrough never encodes; auto and h264 encode H.264 here, but
// auto in screenrecord mode with one rung does not (every H.264 viewer
// gets the device's own stream; only VP8-only viewers get an encoding);
// vp8 encodes with libvpx only. The timeouts (ENCODE_TIMEOUT,
// WRITE_TIMEOUT, ENCODER_CLOSE_TIMEOUT) apply whenever something is
// encoded, with or without the worker pool. VAAPI_DEVICE serves
// h264_vaapi and the H.264 decoder, which decodes screenrecord's stream
// for the encoders.
func (c Config) Ineffective() []string {
	var out []string
	note := func(reason string, names ...string) {
		for _, n := range names {
			if c.IsSet(n) {
				out = append(out, n+" ("+reason+")")
			}
		}
	}
	if c.VideoEncoderType == "passthrough" { // screenrecord only (Validate)
		note("pass-through never encodes here", "USE_WORKER_POOL", "WORKER_COUNT", "H264_HW_ACCEL", "H264_PRESET", "H264_PROFILE",
			"VIDEO_FRAMERATE", "VIDEO_KEYFRAME_INTERVAL", "ENCODE_TIMEOUT", "WRITE_TIMEOUT", "ENCODER_CLOSE_TIMEOUT", "VAAPI_DEVICE", "VIDEO_RUNGS")
		return out
	}
	screenrecord := c.CaptureMode == "screenrecord"
	ownH264 := c.VideoEncoderType == "auto" && screenrecord && len(c.Rungs) == 1
	h264 := c.VideoEncoderType != "vp8" && !ownH264 // H.264 is encoded here
	switch {
	case c.VideoEncoderType == "vp8":
		note("VP8 uses libvpx only", "H264_HW_ACCEL", "H264_PRESET", "H264_PROFILE")
	case ownH264:
		note("auto in screenrecord mode with one rung: H.264 viewers get the device's own stream, only VP8 is encoded here",
			"H264_HW_ACCEL", "H264_PRESET", "H264_PROFILE")
	}
	if !c.UseWorkerPool {
		note("USE_WORKER_POOL is false", "WORKER_COUNT")
	}
	if !screenrecord && !(h264 && (c.H264HWAccel == "auto" || c.H264HWAccel == "vaapi")) {
		reason := "H264_HW_ACCEL=" + c.H264HWAccel + " does not use VA-API"
		if !h264 {
			reason = "VP8 uses libvpx only"
		}
		note(reason+" and CAPTURE_MODE="+c.CaptureMode+" decodes nothing", "VAAPI_DEVICE")
	}
	return out
}

// Token is one API token: a name for logs and limits, its secret, and its
// rights.
type Token struct {
	Name   string
	Secret string
	// ViewOnly tokens watch but send no input and take no control.
	ViewOnly bool
	// Devices, when set, are the path.Match patterns of the device
	// serials the token may open.
	Devices []string
}

var tokenName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ParseTokens parses API_TOKENS entries: SECRET or NAME=SECRET, then
// optional ";view" and ";devices=PATTERN|PATTERN".
func ParseTokens(entries []string) ([]Token, error) {
	var out []Token
	names := map[string]bool{}
	for i, e := range entries {
		parts := strings.Split(e, ";")
		t := Token{Name: fmt.Sprintf("token%d", i+1), Secret: strings.TrimSpace(parts[0])}
		if name, secret, ok := strings.Cut(t.Secret, "="); ok {
			t.Name, t.Secret = strings.TrimSpace(name), strings.TrimSpace(secret)
			if !tokenName.MatchString(t.Name) {
				return nil, fmt.Errorf("%w: API_TOKENS entry %d: name %q (want 1-64 of A-Z a-z 0-9 . _ -)", ErrInvalid, i+1, t.Name)
			}
		}
		if len(t.Secret) < 16 {
			return nil, fmt.Errorf("%w: API_TOKENS has a token (%s) of %d characters (want at least 16)", ErrInvalid, t.Name, len(t.Secret))
		}
		if names[t.Name] {
			return nil, fmt.Errorf("%w: API_TOKENS names two tokens %q", ErrInvalid, t.Name)
		}
		names[t.Name] = true
		for _, attr := range parts[1:] {
			attr = strings.TrimSpace(attr)
			switch k, v, _ := strings.Cut(attr, "="); k {
			case "view", "view-only":
				t.ViewOnly = true
			case "devices":
				for pat := range strings.SplitSeq(v, "|") {
					if _, err := path.Match(pat, ""); err != nil || pat == "" {
						return nil, fmt.Errorf("%w: API_TOKENS %s: device pattern %q is not a valid pattern", ErrInvalid, t.Name, pat)
					}
					t.Devices = append(t.Devices, pat)
				}
			default:
				return nil, fmt.Errorf("%w: API_TOKENS %s: unknown attribute %q (want view or devices=PATTERN|PATTERN)", ErrInvalid, t.Name, attr)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// MayOpen reports whether the token may open the device.
func (t Token) MayOpen(serial string) bool {
	if len(t.Devices) == 0 {
		return true
	}
	for _, p := range t.Devices {
		if ok, _ := path.Match(p, serial); ok {
			return true
		}
	}
	return false
}

// describe is the token as it may be shown: its name and rights, never
// its secret.
func (t Token) describe() string {
	n := t.Name
	if t.ViewOnly {
		n += ";view"
	}
	if len(t.Devices) > 0 {
		n += ";devices=" + strings.Join(t.Devices, "|")
	}
	return n
}

// Same reports whether t and u are the same token: name, secret and
// rights.
func (t Token) Same(u Token) bool {
	return t.Name == u.Name && t.Secret == u.Secret && t.ViewOnly == u.ViewOnly && slices.Equal(t.Devices, u.Devices)
}
