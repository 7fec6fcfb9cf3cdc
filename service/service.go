// Package service wires the service together: the adb client and device
// watch, the encoder probe, the device registry (one owner per device),
// the WebRTC session manager, the metrics and monitors, and the HTTP API.
// Command media-service parses the configuration, builds the logger and
// the listener, and calls Run.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	"github.com/cloudphone/media-service/rtc"
	"github.com/pion/webrtc/v4"
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
// has ended, then stops every session and device and returns.
func Run(ctx context.Context, o Options) error {
	cfg, log, ln := o.Config, o.Log, o.Listener
	native.SetLogger(log)
	defer native.SetLogger(nil)
	log.Info("starting", "version", o.Version, "ffmpeg", native.FFmpegVersion(),
		"capture_mode", cfg.CaptureMode, "encoder_type", cfg.VideoEncoderType, "hw_accel", cfg.H264HWAccel,
		"adb_server", cfg.ADBServer, "adb_devices", cfg.ADBDevices)
	if list := cfg.Ineffective(); len(list) > 0 {
		log.Warn("settings with no effect in this mode (CAPTURE_MODE="+cfg.CaptureMode+", VIDEO_ENCODER_TYPE="+cfg.VideoEncoderType+")",
			"settings", strings.Join(list, "; "))
	}
	if cfg.AuthDisabled {
		log.Warn("authentication is disabled (AUTH_DISABLED=true): anyone who can reach the port can use the API")
	} else if len(cfg.Tokens) == 0 {
		log.Warn("no API_TOKENS configured: every API call will be refused")
	}
	client, err := adb.NewClient(cfg.ADBServer)
	if err != nil {
		ln.Close()
		return fmt.Errorf("ADB_SERVER: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// Encoders: probe once, in the background, so the port answers at once.
	// The prober logs each result once ("encoder probe", via SetLogger).
	prober := native.NewProber(0, cfg.VAAPIDevice)
	probed := make(chan []string, 1)
	wg.Go(func() {
		res := prober.All(ctx)
		chain := H264Chain(cfg.H264HWAccel, res)
		logChoice(ctx, log, prober, cfg.H264HWAccel, res, chain)
		probed <- chain
	})
	var chainOnce sync.Once
	var chain []string
	h264 := func() []string {
		chainOnce.Do(func() { chain = <-probed })
		return chain
	}

	registry := device.NewRegistry(device.Config{
		ADB:                 client,
		Mode:                media.CaptureMode(cfg.CaptureMode),
		Kind:                media.EncoderKind(cfg.VideoEncoderType),
		H264:                h264,
		Encoder:             native.Options{FrameRate: cfg.VideoFrameRate, BitRate: cfg.VideoBitRate, Preset: cfg.H264Preset, Profile: cfg.H264Profile, KeyFrameInterval: cfg.KeyFrameInterval, VAAPIDevice: cfg.VAAPIDevice},
		ScreenrecordBitRate: cfg.VideoBitRate,
		EncodeTimeout:       cfg.EncodeTimeout,
		WriteTimeout:        cfg.WriteTimeout,
		CloseTimeout:        cfg.EncoderCloseTimeout,
		MinBitRate:          cfg.MinBitRate,
		MaxBitRate:          cfg.MaxBitRate,
		Rungs:               device.Rungs(cfg.Rungs, cfg.MinBitRate, cfg.MaxBitRate),
		WorkerPool:          cfg.UseWorkerPool,
		Workers:             cfg.WorkerCount,
		Log:                 log,
	})
	defer registry.Close() // after the manager has ended every session
	// Devices: kept connected, watched; one that is back resumes capture
	// at once (recovery.go).
	wg.Go(func() { client.KeepConnected(ctx, log, cfg.ADBDevices, 0, deviceBack(log, registry)) })
	var connected atomic.Int64 // devices listed in state "device", for metrics
	watch := deviceWatch(log, registry)
	wg.Go(func() {
		client.Watch(ctx, log, 500*time.Millisecond, func(list []adb.DeviceInfo) {
			n := 0
			for _, d := range list {
				if d.State == "device" {
					n++
				}
			}
			connected.Store(int64(n))
			watch(list)
		})
	})
	rcfg := rtc.Config{
		ICEPortMin: uint16(cfg.ICEPortMin), ICEPortMax: uint16(cfg.ICEPortMax), ICEUDPMuxPort: cfg.ICEUDPMuxPort,
		ICETCP: cfg.ICETCPPort > 0, ICETCPPort: cfg.ICETCPPort,
		STUNURLs: cfg.STUNURLs, TURNURLs: cfg.TURNURLs, TURNUsername: cfg.TURNUsername, TURNPassword: cfg.TURNPassword,
		NAT1To1IPs: cfg.NAT1To1IPs, Shards: cfg.SessionShards, MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		MaxSessions: cfg.MaxSessions, MaxViewersPerDevice: cfg.MaxViewersPerDevice, MaxSessionsPerToken: cfg.MaxSessionsPerToken,
		StartBitRate: cfg.VideoBitRate, MinBitRate: cfg.MinBitRate, MaxBitRate: cfg.MaxBitRate, Log: log,
	}
	e2e := metrics.NewE2ELatency()
	rcfg.OnClientReport = e2e.ClientReport
	manager, err := rtc.NewManager(rcfg, registry)
	if err != nil {
		ln.Close()
		return fmt.Errorf("webrtc: %w", err)
	}
	defer manager.Close()
	// The drain (drain.go): adm refuses new sessions once it starts; it
	// ends serving (serveCtx) when no session is left or DRAIN_TIMEOUT
	// passed, and then the deferred Closes end the sessions left cleanly.
	adm := &admission{}
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	wg.Go(func() {
		runDrain(ctx, log, drainOf(ctx, o), cfg.DrainTimeout, adm, func() int { return len(manager.List()) }, stopServing)
	})

	res := metrics.NewResources()
	wg.Go(func() {
		(&metrics.GoroutineMonitor{Interval: cfg.GoroutineMonitorInterval, Gauge: res.Goroutines, Log: log}).Run(ctx)
	})
	wg.Go(func() { (&metrics.ResourceMonitor{Interval: cfg.ResourceMonitorInterval, R: res, Log: log}).Run(ctx) })
	collector := metrics.NewCollector(metrics.Sources{Streams: registry.Stats, Broadcasters: registry.BroadcasterStats, Sessions: manager.List, Totals: manager.Totals,
		DevicesConnected: func() int { return int(connected.Load()) }})

	reload := newReloader(log, o, cfg)

	proxies, err := api.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		ln.Close()
		return fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	srv := api.New(api.Options{
		Info:           api.Info{Version: o.Version, FFmpeg: native.FFmpegVersion()},
		Tokens:         apiTokens(cfg.Tokens),
		TrustedProxies: proxies,
		MaxConnections: cfg.MaxConnections,
		Ready:          adm.Ready, // /ready: 503 while draining
		AuthDisabled:   cfg.AuthDisabled,
		CORSOrigins:    cfg.CORSAllowOrigins,
		RateLimit:      cfg.RateLimit,
		Log:            log,
	}, api.Deps{
		Devices: func(ctx context.Context) ([]api.DeviceView, error) {
			return devices(ctx, client, registry, cfg.CaptureMode)
		},
		Encoders: func(ctx context.Context) []api.EncoderView { return encoderViews(prober.All(ctx)) },
		Stats: func() api.StatsResponse {
			return api.StatsResponse{Devices: registry.Stats(), Broadcasters: registry.BroadcasterStats(),
				WorkerPool: registry.WorkerPoolStats(), Sessions: manager.List(), E2ELatency: e2e.Summary()}
		},
		Metrics:     append(append([]prometheus.Collector{collector, e2e.Collector()}, res.Collectors()...), reload.collectors()...),
		Sessions:    sessions{manager, adm, reload.revoked}, // adm: no new session while draining
		ErrorStatus: errorStatus,
	})
	reload.srv, reload.manager, reload.registry = srv, manager, registry
	signals := o.Reload
	if signals == nil {
		signals = ReloadOf(ctx)
	}
	wg.Go(func() { reload.run(serveCtx, signals) })
	return srv.Serve(serveCtx, ln)
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

func encoderViews(res []native.ProbeResult) []api.EncoderView {
	out := make([]api.EncoderView, 0, len(res))
	for _, r := range res {
		out = append(out, api.EncoderView{Encoder: r.Encoder, Available: r.Available, Reason: r.Reason,
			ElapsedMs: float64(r.Elapsed) / float64(time.Millisecond)})
	}
	return out
}

func devices(ctx context.Context, client *adb.Client, reg *device.Registry, mode string) ([]api.DeviceView, error) {
	list, err := client.Devices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.DeviceView, 0, len(list))
	for _, d := range list {
		v := api.DeviceView{Serial: d.Serial, State: d.State, Model: d.Model, Product: d.Product, Device: d.Device, CaptureMode: mode}
		if dev, ok := reg.Device(d.Serial); ok {
			size := dev.Size()
			v.Width, v.Height, v.Encoder, v.Viewers = size.Width, size.Height, dev.EncoderName(), dev.Viewers()
			v.Outputs = dev.Stats().Outputs
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b api.DeviceView) int { return strings.Compare(a.Serial, b.Serial) })
	return out, nil
}

// sessions adapts rtc.Manager to the API; it refuses new sessions while
// the service drains, and those of a token a reload removed.
type sessions struct {
	m       *rtc.Manager
	adm     *admission
	revoked *revocations
}

// errRevoked refuses a session whose token a reload removed or changed
// while the session was being created; the API answers 401.
var errRevoked = errors.New("the API token was removed or changed by a configuration reload; the session was ended")

// errorStatus is the API's status for a Sessions error.
func errorStatus(err error) int {
	if errors.Is(err, errRevoked) {
		return http.StatusUnauthorized
	}
	return rtc.StatusCode(err)
}

func (s sessions) Create(ctx context.Context, caller api.Caller, device, user, offer string) (string, string, error) {
	if err := s.adm.Ready(); err != nil {
		return "", "", err
	}
	if s.revoked.since(caller.Token, caller.Checked) {
		return "", "", errRevoked
	}
	// Limits key on the caller: its token, or with AUTH_DISABLED its
	// address.
	sess, answer, err := s.m.Create(ctx, rtc.CreateRequest{DeviceID: device, UserID: user, Token: principal(caller), ViewOnly: caller.ViewOnly, Offer: offer})
	if err != nil {
		return "", "", err
	}
	id := sess.Info().ID
	// A reload that removed the token while the session was being
	// created may have listed the sessions before this one was there.
	if s.revoked.since(caller.Token, caller.Checked) {
		s.m.Delete(id)
		return "", "", errRevoked
	}
	return id, answer, nil
}

func (s sessions) List() []rtc.SessionInfo { return s.m.List() }

func (s sessions) Get(id string) (rtc.SessionInfo, error) {
	sess, err := s.m.Get(id)
	if err != nil {
		return rtc.SessionInfo{}, err
	}
	return sess.Info(), nil
}

func (s sessions) Delete(id string) error { return s.m.Delete(id) }

func (s sessions) AddSDPFragment(id, frag string) error { return s.m.AddSDPFragment(id, frag) }

func (s sessions) AddCandidate(id, candidate string) error {
	if candidate == "" {
		return nil // end of candidates: nothing to do
	}
	var init webrtc.ICECandidateInit
	if strings.HasPrefix(candidate, "{") {
		if err := json.Unmarshal([]byte(candidate), &init); err != nil {
			return fmt.Errorf("%w: candidate is not valid JSON", rtc.ErrBadRequest)
		}
	} else {
		init.Candidate = candidate
	}
	return s.m.AddCandidate(id, init)
}

// principal names the caller for rtc's limits: its token's name, or its
// address when authentication is off.
func principal(c api.Caller) string {
	if c.Token != "" {
		return c.Token
	}
	if c.Addr.IsValid() {
		return "addr-" + strings.ReplaceAll(c.Addr.String(), "%", "-")
	}
	return ""
}

// apiTokens converts the configured tokens for the API.
func apiTokens(tokens []config.Token) []api.Token {
	out := make([]api.Token, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, api.Token{Name: t.Name, Secret: t.Secret, ViewOnly: t.ViewOnly, Devices: t.Devices})
	}
	return out
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
