package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/capture"
	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/metrics"
	"github.com/cloudphone/media-service/native"
	"github.com/cloudphone/media-service/rtc"
	"github.com/cloudphone/media-service/stream"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// serve runs the service until ctx ends.
func serve(ctx context.Context, logw io.Writer, lookup func(string) (string, bool)) error {
	cfg, err := config.Load(".env", lookup)
	if err != nil {
		return err
	}
	log := newLogger(logw, cfg.LogLevel, cfg.LogFormat)
	runtime.SetBlockProfileRate(cfg.PprofBlockRate)
	runtime.SetMutexProfileFraction(cfg.PprofMutexFraction)
	native.SetLogger(log)
	defer native.SetLogger(nil)

	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d (PORT): %w", cfg.Port, err)
	}
	log.Info("starting", "version", binaryVersion(), "ffmpeg", native.FFmpegVersion(),
		"capture_mode", cfg.CaptureMode, "encoder_type", cfg.VideoEncoderType, "hw_accel", cfg.H264HWAccel,
		"adb_server", cfg.ADBServer, "adb_devices", cfg.ADBDevices)
	if cfg.AuthDisabled {
		log.Warn("authentication is disabled (AUTH_DISABLED=true): anyone who can reach the port can use the API")
	} else if len(cfg.APITokens) == 0 {
		log.Warn("no API_TOKENS configured: every API call will be refused")
	}
	adb, err := capture.NewClient(cfg.ADBServer)
	if err != nil {
		ln.Close()
		return fmt.Errorf("ADB_SERVER: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// Encoders: probe once, in the background, so the port answers at once.
	prober := native.NewProber(0, cfg.VAAPIDevice)
	probed := make(chan []string, 1)
	wg.Go(func() {
		res := prober.All(ctx)
		for _, r := range res {
			log.Info("encoder probe", "encoder", r.Encoder, "available", r.Available, "reason", r.Reason, "elapsed", r.Elapsed)
		}
		probed <- h264Chain(cfg.H264HWAccel, res)
	})
	var chainOnce sync.Once
	var chain []string
	h264 := func() []string {
		chainOnce.Do(func() { chain = <-probed })
		return chain
	}

	wg.Go(func() { adb.KeepConnected(ctx, log, cfg.ADBDevices, 0) })
	wg.Go(func() {
		adb.Watch(ctx, log, 0, func(list []capture.DeviceInfo) {
			for _, d := range list {
				log.Info("device", "device", d.Serial, "state", d.State, "model", d.Model)
			}
		})
	})

	src := &lazySource{h264: h264, pool: cfg.UseWorkerPool, workers: cfg.WorkerCount, opts: stream.Options{
		Client:              adb,
		Mode:                cfg.CaptureMode,
		Kind:                encoder.Kind(cfg.VideoEncoderType),
		Encoder:             native.Options{FrameRate: cfg.VideoFrameRate, BitRate: cfg.VideoBitRate, Preset: cfg.H264Preset, Profile: cfg.H264Profile, KeyFrameInterval: cfg.KeyFrameInterval, VAAPIDevice: cfg.VAAPIDevice},
		ScreenrecordBitRate: cfg.VideoBitRate,
		EncodeTimeout:       cfg.EncodeTimeout,
		WriteTimeout:        cfg.WriteTimeout,
		CloseTimeout:        cfg.EncoderCloseTimeout,
		Log:                 log,
	}}
	rcfg := rtc.Config{
		ICEPortMin: uint16(cfg.ICEPortMin), ICEPortMax: uint16(cfg.ICEPortMax), ICEUDPMuxPort: cfg.ICEUDPMuxPort,
		ICETCP: cfg.ICETCPPort > 0, ICETCPPort: cfg.ICETCPPort,
		STUNURLs: cfg.STUNURLs, TURNURLs: cfg.TURNURLs, TURNUsername: cfg.TURNUsername, TURNPassword: cfg.TURNPassword,
		NAT1To1IPs: cfg.NAT1To1IPs, Shards: cfg.SessionShards, MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		StartBitRate: cfg.VideoBitRate, Log: log,
	}
	e2e := metrics.NewE2ELatency()
	rcfg.OnClientReport = func(device string, raw json.RawMessage) {
		var r struct {
			Type string  `json:"type"`
			Ms   float64 `json:"ms"`
		}
		if json.Unmarshal(raw, &r) == nil && r.Type == "latency" && r.Ms > 0 && r.Ms < 60_000 {
			e2e.Observe(device, time.Duration(r.Ms*float64(time.Millisecond)))
		}
	}
	hub := rtc.NewHub(src, rcfg)
	defer src.Close() // after the hub has stopped every device
	defer hub.Close()
	manager, err := rtc.NewManager(rcfg, hub)
	if err != nil {
		ln.Close()
		return fmt.Errorf("webrtc: %w", err)
	}
	defer manager.Close()

	res := metrics.NewResources()
	wg.Go(func() {
		(&metrics.GoroutineMonitor{Interval: cfg.GoroutineMonitorInterval, Gauge: res.Goroutines, Log: log}).Run(ctx)
	})
	wg.Go(func() { (&metrics.ResourceMonitor{Interval: cfg.ResourceMonitorInterval, R: res, Log: log}).Run(ctx) })
	collector := metrics.NewCollector(metrics.Sources{Streams: src.Stats, Broadcasters: hub.Stats, Sessions: manager.List})

	srv := api.New(api.Options{
		Info:         api.Info{Version: binaryVersion(), FFmpeg: native.FFmpegVersion()},
		Tokens:       cfg.APITokens,
		AuthDisabled: cfg.AuthDisabled,
		CORSOrigins:  cfg.CORSAllowOrigins,
		RateLimit:    cfg.RateLimit,
		Log:          log,
	}, api.Deps{
		Devices:  func(ctx context.Context) (any, error) { return devices(ctx, adb, src, hub, cfg.CaptureMode) },
		Encoders: func(ctx context.Context) any { return prober.All(ctx) },
		Stats: func() any {
			return statsView{Devices: src.Stats(), Broadcasters: hub.Stats(), Sessions: manager.List(), E2ELatency: e2e.Summary()}
		},
		Metrics:     append([]prometheus.Collector{collector, e2e.Collector()}, res.Collectors()...),
		Sessions:    sessions{manager},
		ErrorStatus: rtc.StatusCode,
	})
	return srv.Serve(ctx, ln)
}

// h264Chain turns the probe results and H264_HW_ACCEL into the H.264
// encoders to try, best first (libx264 is added last by the factory).
func h264Chain(accel string, res []native.ProbeResult) []string {
	var out []string
	for _, r := range res {
		if !r.Available || native.MediaCodecOf(r.Encoder) != native.MediaCodecH264 {
			continue
		}
		if name, ok := hwAccelEncoder(accel); ok && r.Encoder != name {
			continue
		}
		if accel == "none" {
			continue
		}
		out = append(out, r.Encoder)
	}
	return out
}

// lazySource is a stream.Source whose H.264 encoder list comes from the
// probe, waited for at the first device start.
type lazySource struct {
	h264    func() []string
	opts    stream.Options
	pool    bool // USE_WORKER_POOL
	workers int
	once    sync.Once
	src     *stream.Source
	router  *stream.PoolRouter
}

func (l *lazySource) get() *stream.Source {
	l.once.Do(func() {
		o := l.opts
		o.H264 = l.h264()
		if l.pool && o.Mode != stream.ModeScreenrecord {
			choice, err := encoder.RecommendedEncoderForCaptureFormat(encoder.CaptureRaw, o.Kind, o.H264)
			if err == nil {
				l.router, err = stream.NewPoolRouter(l.workers, choice.Candidates, o.Encoder, o.EncodeTimeout, o.CloseTimeout, o.Log)
			}
			if err != nil {
				o.Log.Error("worker pool; encoding per device instead", "err", err)
			}
			o.Pool = l.router
		}
		l.src = stream.NewSource(o)
	})
	return l.src
}

// Close stops the worker pool, if there is one.
func (l *lazySource) Close() {
	if l.router != nil {
		l.router.Close()
	}
}

func (l *lazySource) Start(ctx context.Context, id string, out *rtc.Broadcaster) (rtc.Device, error) {
	return l.get().Start(ctx, id, out)
}
func (l *lazySource) Stop(id string)        { l.get().Stop(id) }
func (l *lazySource) Stats() []stream.Stats { return l.get().Stats() }

// statsView is the body of GET /api/media/stats.
type statsView struct {
	Devices      []stream.Stats         `json:"devices"`
	Broadcasters []rtc.BroadcasterStats `json:"broadcasters"`
	Sessions     []rtc.SessionInfo      `json:"sessions"`
	// E2ELatency is each device's recent glass-to-glass latency, as its
	// viewers measured it.
	E2ELatency map[string]metrics.LatencySummary `json:"e2eLatency"`
}

// deviceView is one device in GET /api/media/devices.
type deviceView struct {
	capture.DeviceInfo
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	CaptureMode string `json:"captureMode"`
	Encoder     string `json:"encoder,omitempty"`
	Viewers     int    `json:"viewers"`
}

func devices(ctx context.Context, adb *capture.Client, src *lazySource, hub *rtc.Hub, mode string) ([]deviceView, error) {
	list, err := adb.Devices(ctx)
	if err != nil {
		return nil, err
	}
	viewers := map[string]int{}
	for _, b := range hub.Stats() {
		viewers[b.DeviceID] = b.Viewers
	}
	out := make([]deviceView, 0, len(list))
	for _, d := range list {
		v := deviceView{DeviceInfo: d, CaptureMode: mode, Viewers: viewers[d.Serial]}
		if s, ok := src.get().Running(d.Serial); ok {
			size := s.Size()
			v.Width, v.Height, v.Encoder = size.Width, size.Height, s.EncoderName()
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b deviceView) int { return strings.Compare(a.Serial, b.Serial) })
	return out, nil
}

// sessions adapts rtc.Manager to the API.
type sessions struct{ m *rtc.Manager }

func (s sessions) Create(ctx context.Context, device, user, offer string) (string, string, error) {
	sess, answer, err := s.m.Create(ctx, rtc.CreateRequest{DeviceID: device, UserID: user, Offer: offer})
	if err != nil {
		return "", "", err
	}
	return sess.Info().ID, answer, nil
}

func (s sessions) List() any { return s.m.List() }

func (s sessions) Get(id string) (any, error) {
	sess, err := s.m.Get(id)
	if err != nil {
		return nil, err
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
