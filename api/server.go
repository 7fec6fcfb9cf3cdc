// Package api serves the service's HTTP interface on Echo: the REST and
// WHEP routes, the embedded viewer page, Prometheus metrics and pprof.
// Everything sits on the service's own mux, never on http.DefaultServeMux.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"
)

// Info describes the running binary; /health reports it.
type Info struct {
	Version string `json:"version"`
	FFmpeg  string `json:"ffmpeg,omitempty"`
}

// Options configures the server.
type Options struct {
	Info Info
	// Tokens are the accepted bearer tokens (API_TOKENS).
	Tokens []string
	// AuthDisabled lets every API call through (AUTH_DISABLED).
	AuthDisabled bool
	// CORSOrigins may call the API from browsers (CORS_ALLOW_ORIGINS).
	CORSOrigins []string
	// RateLimit is API requests per second per client address; 0 means 20.
	RateLimit int
	Log       *slog.Logger
}

// Server is the HTTP server. Create it with New, run it with Serve.
type Server struct {
	deps     Deps
	opts     Options
	echo     *echo.Echo
	registry *prometheus.Registry
	log      *slog.Logger
	started  time.Time
}

// shutdownTimeout bounds how long Serve waits for requests in flight.
const shutdownTimeout = 5 * time.Second

// maxBodyBytes bounds every request body (an SDP offer is a few KB).
const maxBodyBytes = 256 << 10

// New returns a server with every route registered.
func New(o Options, deps Deps) *Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 20
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorHandler(o.Log)
	s := &Server{echo: e, deps: deps, opts: o, registry: prometheus.NewRegistry(), log: o.Log, started: time.Now()}
	s.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	s.registry.MustRegister(deps.Metrics...)
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit(fmt.Sprintf("%dB", maxBodyBytes)))
	if len(o.CORSOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  o.CORSOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
			AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, "If-Match"},
			ExposeHeaders: []string{echo.HeaderLocation, "ETag"},
		}))
	}

	// Public: the viewer page and the health check.
	e.GET("/", s.viewer)
	e.GET("/health", s.health)

	// Operators: loopback clients, or a valid token.
	ops := e.Group("", s.loopbackOrToken)
	ops.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})))
	registerPprof(ops)

	// The API: a bearer token (unless disabled) and a per-client rate limit.
	limiter := middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(o.RateLimit), Burst: 2 * o.RateLimit, ExpiresIn: 3 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return c.RealIP(), nil },
		ErrorHandler: func(c echo.Context, err error) error {
			return errorJSON(c, http.StatusForbidden, "forbidden", "cannot identify the client")
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			return errorJSON(c, http.StatusTooManyRequests, "rate_limited", "too many requests; slow down")
		},
	})
	apiGroup := e.Group("/api/media", limiter, s.requireToken)
	apiGroup.GET("/devices", s.devices)
	apiGroup.GET("/encoders", s.encoders)
	apiGroup.GET("/stats", s.stats)
	apiGroup.POST("/sessions", s.createSession)
	apiGroup.GET("/sessions", s.listSessions)
	apiGroup.GET("/sessions/:id", s.getSession)
	apiGroup.DELETE("/sessions/:id", s.deleteSession)
	apiGroup.POST("/sessions/:id/candidates", s.addCandidate)
	whep := e.Group("/whep", limiter, s.requireToken)
	whep.POST("/:deviceId", s.whepCreate)
	whep.PATCH("/:deviceId/:id", s.whepPatch)
	whep.DELETE("/:deviceId/:id", s.whepDelete)
	return s
}

// Handler returns the server's routes as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Registry returns the registry /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

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
		Info:          s.opts.Info,
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
