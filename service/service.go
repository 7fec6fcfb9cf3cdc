// Package service wires the service together: the adb client and device
// watch, the encoder probe, the device registry (one owner per device),
// the WebRTC session manager, the metrics and monitors, and the HTTP API.
// Command media-service parses the configuration, builds the logger and
// the listener, and calls Run.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/metrics"
	"github.com/cloudphone/media-service/native"
	"github.com/cloudphone/media-service/recording"
	"github.com/cloudphone/media-service/rtc"
	"github.com/prometheus/client_golang/prometheus"
)

// Options are what Run serves with.
type Options struct {
	Config config.Config
	Log    *slog.Logger
	// Listener is the HTTP listener (PORT); Run closes it.
	Listener net.Listener
	// Version names the build in /health and the logs.
	Version string
	// Drain, when closed, starts the drain (drain.go): new sessions are
	// refused, running ones kept for DRAIN_TIMEOUT at most, then Run
	// returns. Nil: the one WithDrain put in Run's ctx, if any.
	Drain <-chan struct{}
	// Reload asks for a configuration reload on every receive
	// (reload.go): Load is called, and its live settings applied. Nil:
	// the one WithReload put in Run's ctx, if any.
	Reload <-chan struct{}
	// Load reads the configuration again (config.FromEnvironment).
	Load func() (config.Config, error)
	// LogLevel, if set, is Log's level: a reload sets it from LOG_LEVEL.
	LogLevel *slog.LevelVar
}

// Run runs the service until ctx ends, or until a drain (Options.Drain)
// has ended, then stops every session and device and returns. It starts
// the components in order; each is stopped in the reverse order.
func Run(ctx context.Context, o Options) error {
	s, err := newService(ctx, o)
	if err != nil {
		o.Listener.Close()
		return err
	}
	defer s.wg.Wait()
	defer s.cancel()
	native.SetLogger(s.log)
	defer native.SetLogger(nil)
	s.logStart()
	if err := s.startWebhooks(); err != nil { // lifecycle webhooks (webhooks.go)
		o.Listener.Close()
		return err
	}
	// Closed last: the sessions' and devices' final events go out, within a bound.
	defer s.hooks.close()
	if err := s.startFleet(); err != nil { // DEVICE_SOURCE=kubernetes: the device pods, Leases, members
		o.Listener.Close()
		return err
	}
	if s.fleet != nil {
		defer s.fleet.close(context.Background()) // after the registry released its devices
	}
	s.startProbe()           // encoders, in the background: the port answers at once
	s.startDevices()         // the registry of device owners, the adb watch
	defer s.registry.Close() // after the manager has ended every session
	if err := s.startSessions(); err != nil {
		o.Listener.Close()
		return err
	}
	defer s.closeSessions()
	s.startRecordings() // recordings.go: they end before the sessions and the registry
	defer s.closeRecordings()
	if s.fleet != nil {
		s.fleet.run(s.registry, s.manager)
	}
	s.startDrain()    // refuses new sessions once a drain starts
	s.startMonitors() // goroutines, resources
	s.startAPI()
	s.startReload()
	return s.srv.Serve(s.serveCtx, o.Listener)
}

// service is the running service's components, in the order Run starts
// them.
type service struct {
	o       Options
	cfg     config.Config
	log     *slog.Logger
	client  *adb.Client
	proxies []netip.Prefix

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	prober *native.Prober
	h264   func() []string // the probe's H.264 encoders, waited for on first use

	fleet *member // DEVICE_SOURCE=kubernetes: this instance in its fleet; nil otherwise
	hooks *hooks  // the lifecycle webhooks (webhooks.go)

	hardware  atomic.Bool   // the probe found a working hardware H.264 encoder
	probeDone chan struct{} // closed once the probe's results are in

	registry  *device.Registry
	shots     *metrics.Screenshots
	connected atomic.Int64 // devices listed in state "device", for metrics

	recorder   *recording.Recorder // recordings.go; nil with MAX_RECORDINGS=0
	recMetrics *metrics.Recordings

	e2e     *metrics.E2ELatency
	manager *rtc.Manager

	adm         *admission
	serveCtx    context.Context
	stopServing context.CancelFunc
	res         *metrics.Resources
	srv         *api.Server
	reload      *reloader
	jwt         *api.Verifier // signed access tokens (JWT_*); nil without a key
}

// newService checks what the service needs before anything starts: the
// adb server's address and the trusted proxies.
func newService(ctx context.Context, o Options) (*service, error) {
	cfg := o.Config
	client, err := adb.NewClient(cfg.ADBServer)
	if err != nil {
		return nil, fmt.Errorf("ADB_SERVER: %w", err)
	}
	proxies, err := api.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	s := &service{o: o, cfg: cfg, log: o.Log, client: client, proxies: proxies}
	s.ctx, s.cancel = context.WithCancel(ctx)
	// Signed access tokens: the keys file read, the JWKS fetched once
	// (refreshed until the service stops).
	if s.jwt, err = api.NewVerifier(s.ctx, jwtOptions(cfg, o.Log)); err != nil {
		s.cancel()
		return nil, err
	}
	return s, nil
}

// logStart says what runs and warns of settings that cannot work as set.
func (s *service) logStart() {
	cfg, log := s.cfg, s.log
	log.Info("starting", "version", s.o.Version, "ffmpeg", native.FFmpegVersion(),
		"capture_mode", cfg.CaptureMode, "encoder_type", cfg.VideoEncoderType, "hw_accel", cfg.H264HWAccel,
		"adb_server", cfg.ADBServer, "adb_devices", cfg.ADBDevices)
	if list := cfg.Ineffective(); len(list) > 0 {
		log.Warn("settings with no effect in this mode (CAPTURE_MODE="+cfg.CaptureMode+", VIDEO_ENCODER_TYPE="+cfg.VideoEncoderType+")",
			"settings", strings.Join(list, "; "))
	}
	if cfg.AuthDisabled {
		log.Warn("authentication is disabled (AUTH_DISABLED=true): anyone who can reach the port can use the API")
	} else if len(cfg.Tokens) == 0 && s.jwt == nil {
		log.Warn("no API_TOKENS configured: every API call will be refused")
	}
	if s.jwt != nil && !cfg.AuthDisabled {
		log.Info("signed access tokens accepted", "algorithms", s.jwt.Algorithms(), "jwks_url", cfg.JWTJWKSURL,
			"keys_file", cfg.JWTKeysFile, "audience", cfg.JWTAudience, "issuer", cfg.JWTIssuer)
	}
}

// startProbe probes the encoders once, in the background; the prober logs
// each result once, and logChoice the choice.
func (s *service) startProbe() {
	s.probeDone = make(chan struct{})
	s.prober = native.NewProber(0, s.cfg.VAAPIDevice)
	probed := make(chan []string, 1)
	s.wg.Go(func() {
		res := s.prober.All(s.ctx)
		chain := H264Chain(s.cfg.H264HWAccel, res)
		logChoice(s.ctx, s.log, s.prober, s.cfg.H264HWAccel, res, chain)
		hw := slices.ContainsFunc(chain, func(e string) bool {
			return e == native.CodecNVENC || e == native.CodecQSV || e == native.CodecVAAPI
		})
		s.hardware.Store(hw)
		if s.fleet != nil {
			s.fleet.hardware.Store(hw)
		}
		close(s.probeDone)
		probed <- chain
	})
	var once sync.Once
	var chain []string
	s.h264 = func() []string {
		once.Do(func() { chain = <-probed })
		return chain
	}
}

// startFleet joins the fleet with DEVICE_SOURCE=kubernetes (fleet.go):
// the device pods, the Leases, the members.
func (s *service) startFleet() error {
	if s.cfg.DeviceSource != "kubernetes" {
		return nil
	}
	m, err := newMember(s.ctx, s.cfg, s.log, s.client)
	if err != nil {
		return err
	}
	s.fleet = m
	return nil
}

// deviceConfig is the registry's configuration: the devices' settings
// and what they run with. In a fleet, a device runs only where its
// Lease is held, at its pod's address.
func (s *service) deviceConfig() device.Config {
	c := device.ConfigFrom(s.cfg)
	c.ADB, c.H264, c.Log = s.client, s.h264, s.log
	c.Workers = s.workers(s.cfg)
	c.LocateCapture, c.Screenshots = s.screenshotDeps() // screenshots.go
	if s.fleet != nil {
		c.Locate, c.Release = s.fleet.locate, s.fleet.release
		c.Locate, c.Release = s.hooks.fleetDevices(c.Locate, c.Release) // device.connected, device.disconnected
	}
	if limit := s.cfg.MaxDevices; limit > 0 {
		locate := c.Locate
		if locate == nil {
			locate = func(_ context.Context, id string) (string, error) { return id, nil }
		}
		// The registry counts the device being started.
		c.Locate = func(ctx context.Context, id string) (string, error) {
			if n := s.registry.Count(); n > limit {
				return "", fmt.Errorf("%w: this instance runs MAX_DEVICES=%d devices", media.ErrUnavailable, limit)
			}
			return locate(ctx, id)
		}
	}
	return c
}

// startDevices starts the registry of device owners, keeps the
// ADB_DEVICES connected and watches the adb server's list; a device that
// is back resumes capture at once (recovery.go).
func (s *service) startDevices() {
	s.shots = metrics.NewScreenshots() // screenshots.go
	s.registry = device.NewRegistry(s.deviceConfig())
	if s.cfg.WorkerCount == 0 {
		// WORKER_COUNT=auto: sized again once the probe says whether a
		// hardware encoder works here.
		s.wg.Go(func() {
			select {
			case <-s.probeDone:
			case <-s.ctx.Done():
				return
			}
			s.registry.SetLive(s.deviceConfig())
			s.log.Info("WORKER_COUNT=auto: encode slots sized from the hardware", "workers", s.workers(s.cfg),
				"cpus", runtime.GOMAXPROCS(0), "hardware_encoder", s.hardware.Load())
		})
	}
	s.wg.Go(func() { s.client.KeepConnected(s.ctx, s.log, s.cfg.ADBDevices, 0, deviceBack(s.log, s.registry)) })
	watch := deviceWatch(s.log, s.registry)
	s.wg.Go(func() {
		s.client.Watch(s.ctx, s.log, 500*time.Millisecond, func(list []adb.DeviceInfo) {
			n := 0
			for _, d := range list {
				if d.State == "device" {
					n++
				}
			}
			s.connected.Store(int64(n))
			watch(list)
			s.hooks.adbList(list) // device.connected, device.disconnected (static)
		})
	})
}

// startSessions starts the session manager over the registry, with the
// viewers' latency reports going to the glass-to-glass summary.
func (s *service) startSessions() error {
	s.e2e = metrics.NewE2ELatency()
	c := rtc.ConfigFrom(s.cfg)
	c.Log, c.OnClientReport = s.log, s.e2e.ClientReport
	c.OnSessionEvent = s.hooks.sessionEvent // session.*, control.changed
	if s.fleet != nil {
		c.SessionPrefix = s.fleet.tag + "_" // routable: any instance finds the session's
	}
	m, err := rtc.NewManager(c, provider{s.registry})
	if err != nil {
		return fmt.Errorf("webrtc: %w", err)
	}
	s.manager = m
	return nil
}

// startDrain (drain.go): adm refuses new sessions once the drain starts;
// it ends serving (serveCtx) when no session is left or DRAIN_TIMEOUT
// passed, and then Run's deferred Closes end the sessions left cleanly.
func (s *service) startDrain() {
	s.adm = &admission{}
	if s.fleet != nil {
		s.adm.onDrain = s.fleet.drain
	}
	s.adm.onDrain = s.hooks.onDrain(s.adm.onDrain, func() int { return len(s.manager.List()) }, s.cfg.DrainTimeout) // draining
	s.serveCtx, s.stopServing = context.WithCancel(s.ctx)
	s.wg.Go(func() {
		defer s.stopServing()
		runDrain(s.ctx, s.log, drainOf(s.ctx, s.o), s.cfg.DrainTimeout, s.adm, func() int { return len(s.manager.List()) }, s.stopServing)
	})
}

// startMonitors starts the goroutine and resource monitors.
func (s *service) startMonitors() {
	s.res = metrics.NewResources()
	s.wg.Go(func() {
		(&metrics.GoroutineMonitor{Interval: s.cfg.GoroutineMonitorInterval, Gauge: s.res.Goroutines, Log: s.log}).Run(s.ctx)
	})
	s.wg.Go(func() {
		(&metrics.ResourceMonitor{Interval: s.cfg.ResourceMonitorInterval, R: s.res, Log: s.log}).Run(s.ctx)
	})
}

// startAPI builds the HTTP API over the components.
func (s *service) startAPI() {
	cfg := s.cfg
	s.reload = newReloader(s.log, s.o, cfg)
	collector := metrics.NewCollector(metrics.Sources{Streams: s.registry.Stats, Broadcasters: s.registry.StreamStats,
		Sessions: s.manager.List, Totals: s.manager.Totals, DevicesConnected: func() int { return int(s.connected.Load()) },
		Load: s.load})
	registry, manager, e2e, client, prober := s.registry, s.manager, s.e2e, s.client, s.prober
	fileMetrics := metrics.NewFiles() // files and apps dropped onto devices
	s.srv = api.New(api.Options{
		Info:           api.Info{Version: s.o.Version, FFmpeg: native.FFmpegVersion()},
		Tokens:         apiTokens(cfg.Tokens),
		JWT:            s.jwt,
		TrustedProxies: s.proxies,
		MaxConnections: cfg.MaxConnections,
		Ready:          s.adm.Ready, // /ready: 503 while draining
		FleetSecret:    []byte(cfg.FleetSecret),
		AuthDisabled:   cfg.AuthDisabled,
		CORSOrigins:    cfg.CORSAllowOrigins,
		RateLimit:      cfg.RateLimit,
		Uploads:        api.Uploads{MaxBytes: int64(cfg.MaxUploadBytes), Timeout: cfg.UploadTimeout},
		Log:            s.log,
	}, api.Deps{
		Devices: func(ctx context.Context) ([]api.DeviceView, error) {
			if s.fleet != nil {
				return s.fleet.devices(ctx)
			}
			return devices(ctx, client, registry, cfg.CaptureMode)
		},
		Encoders:    func(ctx context.Context) []api.EncoderView { return encoderViews(prober.All(ctx)) },
		Stats:       func() api.StatsResponse { return statsResponse(registry, manager, e2e) },
		Metrics:     append(append(append([]prometheus.Collector{collector, e2e.Collector()}, s.res.Collectors()...), s.reload.collectors()...), s.hooks.collectors()...),
		Sessions:    sessions{manager, s.adm, s.reload.revoked}, // adm: no new session while draining
		ErrorStatus: errorStatus,
		Fleet:       s.fleetAPI(),
		ICEServers:  iceServers(cfg),
		Screenshot:  s.screenshot,
		Recordings:  s.recordingsDeps(),
		Files:       deviceFiles{client: client, fleet: s.fleet}, // files.go
		FileMetrics: fileMetrics,
	})
	s.srv.Registry().MustRegister(fileMetrics.Collectors()...)
	s.srv.Registry().MustRegister(s.shots.Collectors()...)
	s.srv.Registry().MustRegister(s.recMetrics.Collectors()...)
}

// load is the instance's use of its capacity, for the load_ratio gauge
// an autoscaler scales on: devices over MAX_DEVICES, encodes over the
// encode slots (WORKER_COUNT, live), sessions over MAX_SESSIONS (live).
func (s *service) load() metrics.Load {
	var l metrics.Load
	if n := s.cfg.MaxDevices; n > 0 {
		l.Devices = float64(s.registry.Count()) / float64(n)
	}
	if slots := s.registry.Workers(); slots > 0 {
		l.Encoders = float64(encodes(s.registry)) / float64(slots)
	}
	if n := s.manager.MaxSessions(); n > 0 {
		l.Sessions = float64(len(s.manager.List())) / float64(n)
	}
	return l
}

// workers is WORKER_COUNT, with auto (0) resolved: the CPUs the process
// may use, at least 8 when a hardware H.264 encoder works here (it
// encodes beside the CPUs: NVENC's sessions are not bound by cores).
func (s *service) workers(cfg config.Config) int {
	if cfg.WorkerCount > 0 {
		return cfg.WorkerCount
	}
	return AutoWorkers(runtime.GOMAXPROCS(0), s.hardware.Load())
}

// AutoWorkers is WORKER_COUNT=auto's encode slots for cpus CPUs, with or
// without a working hardware H.264 encoder.
func AutoWorkers(cpus int, hardware bool) int {
	n := max(cpus, 1)
	if hardware {
		n = max(n, 8)
	}
	return min(n, 256)
}

// encodes counts the outputs encoded here (not the device's own H.264
// passed through).
func encodes(reg *device.Registry) int {
	n := 0
	for _, st := range reg.Stats() {
		for _, o := range st.Outputs {
			if o.Encoder != "passthrough" {
				n++
			}
		}
	}
	return n
}

// fleetAPI is what the API routes requests with: nil outside a fleet.
func (s *service) fleetAPI() api.Fleet {
	if s.fleet == nil {
		return nil
	}
	return s.fleet
}

// startReload reloads the configuration on Options.Reload (or the
// channel WithReload put in Run's context) until serving ends.
func (s *service) startReload() {
	s.reload.srv, s.reload.manager, s.reload.registry, s.reload.workers = s.srv, s.manager, s.registry, s.workers
	s.reload.hooks = s.hooks
	s.reload.jwt, s.reload.ctx = s.jwt, s.ctx
	signals := s.o.Reload
	if signals == nil {
		signals = ReloadOf(s.ctx)
	}
	s.wg.Go(func() { s.reload.run(s.serveCtx, signals) })
}

// HWAccelEncoder returns the encoder of an accelerator that H264_HW_ACCEL
// names (nvenc, qsv or vaapi).
func HWAccelEncoder(accel string) (string, bool) {
	switch accel {
	case "nvenc":
		return native.CodecNVENC, true
	case "qsv":
		return native.CodecQSV, true
	case "vaapi":
		return native.CodecVAAPI, true
	}
	return "", false
}

// H264Chain turns the probe results and H264_HW_ACCEL into the H.264
// encoders to try, best first (libx264 is added last by the factory).
func H264Chain(accel string, res []native.ProbeResult) []string {
	var out []string
	for _, r := range res {
		if !r.Available || native.MediaCodecOf(r.Encoder) != native.MediaCodecH264 {
			continue
		}
		if name, ok := HWAccelEncoder(accel); ok && r.Encoder != name {
			continue
		}
		if accel == "none" {
			continue
		}
		out = append(out, r.Encoder)
	}
	return out
}

// apiTokens converts the configured tokens for the API.
func apiTokens(tokens []config.Token) []api.Token {
	out := make([]api.Token, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, api.Token{Name: t.Name, Secret: t.Secret, ViewOnly: t.ViewOnly, Devices: t.Devices})
	}
	return out
}

// jwtOptions are the signed access token settings of cfg for the API.
func jwtOptions(cfg config.Config, log *slog.Logger) api.JWTOptions {
	return api.JWTOptions{
		HS256Secrets: cfg.JWTHS256Secrets, KeysFile: cfg.JWTKeysFile, JWKSURL: cfg.JWTJWKSURL, JWKSRefresh: cfg.JWTJWKSRefresh,
		Audience: cfg.JWTAudience, Issuer: cfg.JWTIssuer, Leeway: cfg.JWTLeeway, Log: log,
	}
}

// logChoice says in one line which encoder each codec uses, the decoder
// of the devices' H.264, and why.
func logChoice(ctx context.Context, log *slog.Logger, prober *native.Prober, accel string, res []native.ProbeResult, chain []string) {
	works := func(name string) bool {
		return slices.ContainsFunc(res, func(r native.ProbeResult) bool { return r.Encoder == name && r.Available })
	}
	h264 := encoder.H264Chain(chain)
	if !works(h264[0]) {
		log.Warn("no H.264 encoder works: only pass-through can stream", "tried", h264)
		return
	}
	vp8 := native.CodecVP8
	if !works(vp8) {
		vp8 = "none (libvpx unavailable)"
	}
	dec, err := prober.BestDecoder(ctx)
	if err != nil {
		dec = "none (" + err.Error() + ")"
	}
	log.Info("encoders chosen", "h264", h264[0], "h264_fallbacks", h264[1:], "vp8", vp8, "h264_decoder", dec,
		"why", "the first that works in the probe order nvenc > qsv > vaapi > libx264, narrowed by H264_HW_ACCEL="+accel+"; decoders nvdec > qsv > vaapi > software")
}
