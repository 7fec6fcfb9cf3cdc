// Package api serves the service's HTTP interface on Echo: health and
// Prometheus metrics today; the REST and WHEP routes, pprof and the viewer
// page as the service grows.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cloudphone/media-service/capture"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Info describes the running binary; /health reports it.
type Info struct {
	Version string `json:"version"`
	FFmpeg  string `json:"ffmpeg,omitempty"`
}

// Deps are the components the routes serve from. A nil field leaves its
// routes answering 503.
type Deps struct {
	// Devices lists the devices the adb server knows.
	Devices func(ctx context.Context) ([]capture.DeviceInfo, error)
}

// Server is the HTTP server. Create it with New, run it with Serve.
type Server struct {
	deps     Deps
	echo     *echo.Echo
	registry *prometheus.Registry
	log      *slog.Logger
	info     Info
	started  time.Time
}

// shutdownTimeout bounds how long Serve waits for requests in flight.
const shutdownTimeout = 5 * time.Second

// maxBodyBytes bounds every request body.
const maxBodyBytes = 1 << 20

// New returns a server with every route registered.
func New(info Info, deps Deps, log *slog.Logger) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{echo: e, deps: deps, registry: prometheus.NewRegistry(), log: log, info: info, started: time.Now()}
	s.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit(fmt.Sprintf("%dB", maxBodyBytes)))
	e.GET("/health", s.health)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})))
	e.GET("/api/media/devices", s.devices)
	return s
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// DevicesResponse is the body of GET /api/media/devices.
type DevicesResponse struct {
	Devices []capture.DeviceInfo `json:"devices"`
}

func (s *Server) devices(c echo.Context) error {
	if s.deps.Devices == nil {
		return c.JSON(http.StatusServiceUnavailable, ErrorResponse{"device discovery is not configured"})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	list, err := s.deps.Devices(ctx)
	if err != nil {
		s.log.Warn("list devices", "err", err)
		return c.JSON(http.StatusBadGateway, ErrorResponse{"adb server unavailable: " + err.Error()})
	}
	if list == nil {
		list = []capture.DeviceInfo{}
	}
	return c.JSON(http.StatusOK, DevicesResponse{Devices: list})
}

// Registry returns the registry /metrics serves, for components to
// register their collectors in.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Handler returns the server's routes as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// HealthResponse is the body of GET /health.
type HealthResponse struct {
	Status        string  `json:"status"`
	UptimeSeconds float64 `json:"uptimeSeconds"`
	Info
}

func (s *Server) health(c echo.Context) error {
	return c.JSON(http.StatusOK, HealthResponse{
		Status:        "ok",
		UptimeSeconds: time.Since(s.started).Seconds(),
		Info:          s.info,
	})
}

// Serve answers requests on ln until ctx ends, then shuts down gracefully,
// waiting up to five seconds for requests in flight. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	s.log.Info("stopped")
	return nil
}
