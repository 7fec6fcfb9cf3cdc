// Package api serves the service's HTTP interface on Echo: the REST and
// WHEP routes, the embedded viewer page, health and readiness, Prometheus
// metrics and pprof. Everything sits on the service's own mux, never on
// http.DefaultServeMux.
//
// # Callers
//
// API calls carry a bearer token (Options.Tokens); each token has a name
// for logs and limits, and may be view-only or limited to some devices.
// With Options.JWT they may carry a signed access token instead (jwt.go):
// a JWT whose claims name its user (sub), devices and rights, verified
// with no state, so that any instance of a fleet accepts it.
// Authentication puts a Caller into the request's context (CallerFrom),
// and the session manager gets it with Sessions.Create. A token sees and
// ends only the sessions it created (GET, DELETE, candidates and WHEP
// PATCH on another's answer 404); /api/media/stats remains the view of
// them all (of its devices' for a device-restricted token, which also
// lists only its devices), as /metrics is for operators. With
// AUTH_DISABLED every caller is anonymous and sees every session.
//
// The client address is the TCP peer, unless the peer is a trusted proxy
// (Options.TrustedProxies): then it is the rightmost X-Forwarded-For hop
// that is not itself a trusted proxy, or X-Real-IP. Forwarding headers
// from any other peer are ignored, and a loopback peer that sends them
// does not pass for a local client. Operator endpoints (/metrics,
// /debug/pprof/) answer local clients, or an unrestricted token.
//
// Rate limits (RATE_LIMIT a second, twice that in a burst): an address
// that has spent its budget on requests without a valid token is refused
// before any work (token comparison, body); authenticated requests spend
// their token's budget; with AUTH_DISABLED, their address's. Over a
// limit: 429 with Retry-After. Every 503 carries Retry-After too.
//
// # Slow clients
//
// Serve gives a request 10 s for its headers and 20 s for headers and
// body together (ReadTimeout; a body that stops arriving is cut, 408
// when a handler was reading it), 30 s to write its answer (set per
// request, so that the pprof profile and trace get their ?seconds= on
// top), 16 KiB of headers (431 past that), and keeps idle connections 2
// minutes. When it stops, it closes idle connections at once, gives a
// connection that has sent no request yet a second from its opening
// (a browser keeps spare sockets that never will), and requests in
// flight 5 s; only a request cut short is a shutdown error. The uploads
// of files and apps (files.go) move their own read and write deadlines:
// MAX_UPLOAD_BYTES, UPLOAD_TIMEOUT and a minimum rate bound them instead
// of the 256 KiB body limit and the 20 s.
//
// Options.MaxConnections (at most half the open-file limit, so that
// accept never fails for want of descriptors) caps the connections open
// at once. Health reserve: the last 16 of those slots (a quarter of the
// cap when that is less) serve only GET /health and /ready, one request
// a connection, whose reading must end within 2 s; anything else there
// is answered 503 (Retry-After, naming MAX_CONNECTIONS) and the
// connection closed at once. So while slow clients hold every normal
// slot, probes still get through, on the same port: no second listener
// to deploy. Past the cap, connections are closed as soon as accepted.
// Reaching the cap is logged once, and its relief (a quarter of the
// normal slots free again) once, with the count turned away; not a line
// per connection.
//
// # Contract
//
// openapi.json is the API's OpenAPI 3.1 document, embedded and served at
// GET /api/openapi.json, public like /health: it describes routes and
// bodies, nothing secret. It is written by hand, and openapi_test.go keeps
// it true with kin-openapi:
//
//   - it loads and validates as OpenAPI 3.1;
//   - its paths and methods are exactly the routes registered on Echo
//     (e.Routes(), :name read as {name});
//   - each schema of a Go type (ErrorResponse, DeviceView, DeviceStatsView,
//     SessionView, PipelineView, ...) names exactly that type's
//     JSON fields, of matching JSON types, with the fields always written
//     marked required;
//   - every error response is the Error schema (ErrorResponse), whose
//     codes are those of errors.go, and every 429 and 503 has Retry-After;
//   - real answers of a running server with fake Deps, successes and
//     errors, validate against it (openapi3filter.ValidateResponse, an
//     undocumented status failing), the requests meant to be valid
//     validate too, and every status the document lists is produced.
//
// So a new route, field or status fails the tests until the document
// says it. Answers net/http gives before any route (a request line that
// does not parse: 400; headers over the limit: 431) are plain text.
//
// Path parameters are percent-decoded, once, before any handler checks
// them (unescapePathParams, on every route): Echo matches on the raw path
// and would otherwise hand "127.0.0.1%3A5555" to the device-ID check.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/internal/lograte"

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

// Options configures the server.
type Options struct {
	Info Info
	// Tokens are the accepted bearer tokens (API_TOKENS).
	Tokens []Token
	// JWT, when set, verifies the signed access tokens accepted beside
	// Tokens (JWT_*); the server does not close it.
	JWT *Verifier
	// AuthDisabled lets every API call through (AUTH_DISABLED); the
	// client address is then the principal for limits.
	AuthDisabled bool
	// CORSOrigins may call the API from browsers (CORS_ALLOW_ORIGINS).
	CORSOrigins []string
	// RateLimit is API requests per second per token, and per client
	// address for requests without a valid token; 0 means 20.
	RateLimit int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Real-IP name the client (TRUSTED_PROXIES; ParseTrustedProxies).
	TrustedProxies []netip.Prefix
	// MaxConnections caps the connections open at once, the health
	// reserve included (MAX_CONNECTIONS); 0 means 4096. Serve lowers it
	// to half the open-file limit.
	MaxConnections int
	// FleetSecret, when set, signs the requests this instance forwards to
	// the others of its fleet (Deps.Fleet), and vouches for theirs: the
	// client address is then read from them as from a trusted proxy's,
	// and the forwarding instance, which rate-limited the request, is not
	// charged again (FLEET_SECRET).
	FleetSecret []byte
	// Uploads bounds the file and app uploads (MAX_UPLOAD_BYTES,
	// UPLOAD_TIMEOUT; files.go), which the API's body limit and read
	// deadline do not.
	Uploads Uploads
	// Ready says whether the service takes new sessions (GET /ready): nil
	// when it does, else why not. A nil Ready is always ready.
	Ready func() error
	Log   *slog.Logger
}

// Server is the HTTP server. Create it with New, run it with Serve.
type Server struct {
	deps     Deps
	opts     Options
	echo     *echo.Echo
	registry *prometheus.Registry
	log      *slog.Logger
	started  time.Time
	t        timeouts
	up       uploadLimits // files.go

	live       atomic.Pointer[liveOptions]
	addrLimit  *keyedLimiter // per client address: failed attempts, or all with AUTH_DISABLED
	tokenLimit *keyedLimiter // per token name
	limitLog   lograte.Limiter
	jwtLog     lograte.Limiter // bad signed tokens, at most once a second
	devicesLog lograte.Limiter
	owners     owners
	// authChecks counts token comparisons (tests).
	authChecks atomic.Int64
	// conns is the listener Serve runs on (tests).
	conns atomic.Pointer[connLimiter]
}

// timeouts are the HTTP server's; tests shorten them.
type timeouts struct {
	header  time.Duration // request headers
	body    time.Duration // request body, after the headers
	write   time.Duration // the answer
	idle    time.Duration // between requests
	reserve time.Duration // a health reserve connection's request
	// shutdown is the grace Serve gives requests in flight when it
	// stops; unsent, the time a connection that has not sent a whole
	// request yet has, from when it opened, to send one once Serve
	// stops.
	shutdown, unsent time.Duration
}

var defaultTimeouts = timeouts{header: 10 * time.Second, body: 10 * time.Second, write: 30 * time.Second,
	idle: 2 * time.Minute, reserve: 2 * time.Second, shutdown: 5 * time.Second, unsent: time.Second}

// shutdownPoll is how often a stopping Serve looks at the connections
// left.
const shutdownPoll = 20 * time.Millisecond

// maxBodyBytes bounds every request body (an SDP offer is a few KB).
const maxBodyBytes = 256 << 10

// maxHeaderBytes bounds a request's headers.
const maxHeaderBytes = 16 << 10

// defaultMaxConnections is MaxConnections when unset.
const defaultMaxConnections = 4096

// retryAfter is the Retry-After of a 503, in seconds.
const retryAfter = "5"

// New returns a server with every route registered.
func New(o Options, deps Deps) *Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 20
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = defaultMaxConnections
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorHandler(o.Log)
	s := &Server{echo: e, deps: deps, opts: o, registry: prometheus.NewRegistry(), log: o.Log, started: time.Now(),
		t:          defaultTimeouts,
		up:         uploadLimitsOf(o.Uploads),
		addrLimit:  newKeyedLimiter(o.RateLimit, 2*o.RateLimit),
		tokenLimit: newKeyedLimiter(o.RateLimit, 2*o.RateLimit),
	}
	s.jwtLog.Interval = time.Second
	s.live.Store(&liveOptions{tokens: hashTokens(o.Tokens), jwt: o.JWT, cors: o.CORSOrigins, rateLimit: o.RateLimit})
	// Whatever asks Echo for the client's address gets ours, never an
	// unchecked forwarding header.
	e.IPExtractor = func(r *http.Request) string { a, _ := s.clientAddr(r); return a.String() }
	s.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	s.registry.MustRegister(deps.Metrics...)
	e.Use(middleware.Recover())
	e.Use(s.identify)
	// Uploads have their own limit (files.go).
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: fmt.Sprintf("%dB", maxBodyBytes), Skipper: uploadRoute}))
	e.Use(s.cors())
	// Every route's path parameters are percent-decoded before a handler
	// checks them.
	e.Use(unescapePathParams)

	// Middleware is per route, never per group: a group with middleware
	// would run it for unknown paths under it too, which must answer 404
	// to everyone.

	// Public: the viewer page, health and readiness, the OpenAPI document.
	e.GET("/", s.viewer)
	e.GET("/health", s.health)
	e.GET("/ready", s.ready)
	e.GET("/api/openapi.json", s.openapi)

	// Operators: local clients, or an unrestricted token.
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})), s.loopbackOrToken)
	s.registerPprof(e, s.loopbackOrToken)

	// The API: a bearer token (unless disabled), rate-limited.
	api := []echo.MiddlewareFunc{s.authenticate, s.logRequests}
	e.GET("/api/media/devices", s.devices, api...)
	e.GET("/api/media/devices/:id/screenshot", s.screenshot, api...)
	e.GET("/api/media/encoders", s.encoders, api...)
	e.GET("/api/media/stats", s.stats, api...)
	e.POST("/api/media/sessions", s.createSession, api...)
	e.GET("/api/media/sessions", s.listSessions, api...)
	e.GET("/api/media/sessions/:id", s.getSession, api...)
	e.DELETE("/api/media/sessions/:id", s.deleteSession, api...)
	e.POST("/api/media/sessions/:id/candidates", s.addCandidate, api...)
	e.GET("/api/media/ice-servers", s.iceServers, api...)
	e.POST("/whep/:deviceId", s.whepCreate, api...)
	e.PATCH("/whep/:deviceId/:id", s.whepPatch, api...)
	e.DELETE("/whep/:deviceId/:id", s.whepDelete, api...)
	s.registerFiles(e, api...) // files and apps dropped onto a device
	s.registerRecordings(e, api...)
	return s
}

// liveOptions are the options Update changes while the server runs.
type liveOptions struct {
	tokens    []secretToken
	jwt       *Verifier
	cors      []string
	rateLimit int
}

// Live are the options that a configuration reload changes while the
// server runs (Update).
type Live struct {
	// Tokens replace Options.Tokens: requests with a token no longer
	// listed are refused from then on. Ending the sessions such a token
	// opened is the caller's part.
	Tokens []Token
	// JWT replaces Options.JWT (nil: no signed token is accepted from
	// then on). Closing the one replaced is the caller's part.
	JWT *Verifier
	// CORSOrigins replace Options.CORSOrigins.
	CORSOrigins []string
	// RateLimit replaces Options.RateLimit (0: 20); every bucket takes
	// the new rate and burst at once.
	RateLimit int
}

// Update applies l to the requests that arrive from then on.
func (s *Server) Update(l Live) {
	if l.RateLimit <= 0 {
		l.RateLimit = 20
	}
	s.addrLimit.setRate(l.RateLimit, 2*l.RateLimit)
	s.tokenLimit.setRate(l.RateLimit, 2*l.RateLimit)
	s.live.Store(&liveOptions{tokens: hashTokens(l.Tokens), jwt: l.JWT, cors: slices.Clone(l.CORSOrigins), rateLimit: l.RateLimit})
}

// cors answers CORS for the origins currently allowed; with none it does
// nothing, as if the middleware were not there.
func (s *Server) cors() echo.MiddlewareFunc {
	mw := middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOriginFunc: func(origin string) (bool, error) {
			return slices.Contains(s.live.Load().cors, origin) || slices.Contains(s.live.Load().cors, "*"), nil
		},
		AllowMethods:  []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
		AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, "If-Match", "X-User-Id"},
		ExposeHeaders: []string{echo.HeaderLocation, "ETag", "Retry-After", "Link", "Content-Disposition", "X-Screenshot-Source"},
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		withCORS := mw(next)
		return func(c echo.Context) error {
			if len(s.live.Load().cors) == 0 {
				return next(c)
			}
			return withCORS(c)
		}
	}
}

// Handler returns the server's routes as an http.Handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// serveHTTP sets what every answer carries and the write deadline, and
// keeps reserve connections to health probes.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	if s.deps.Fleet != nil {
		h.Set(HeaderInstance, s.deps.Fleet.Name())
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.t.write))
	if limit, ok := onReserve(r.Context()); ok {
		h.Set("Connection", "close")
		if !probe(r) {
			s.refuseReserve(w, limit)
			return
		}
	}
	s.echo.ServeHTTP(w, r)
}

// refuseReserve answers a request other than a probe on a reserve
// connection: 503, and the connection closed at once, without waiting
// for a body, so that the slot is free for the next probe.
func (s *Server) refuseReserve(w http.ResponseWriter, limit int) {
	body, _ := json.Marshal(ErrorResponse{Error: "unavailable",
		Message: fmt.Sprintf("the server is at its connection limit (MAX_CONNECTIONS=%d); retry later", limit)})
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Retry-After", retryAfter)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write(body)
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
		"Retry-After: %s\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n%s", len(body), retryAfter, body)
	buf.Flush()
}

// probe reports whether r is a health or readiness probe.
func probe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.URL.Path == "/health" || r.URL.Path == "/ready")
}

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

// ReadyResponse is the body of GET /ready: 200 with Ready true, or 503
// (with Retry-After) with an error and why.
type ReadyResponse struct {
	Ready   bool   `json:"ready"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

func (s *Server) ready(c echo.Context) error {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			c.Response().Header().Set("Retry-After", retryAfter)
			return c.JSON(http.StatusServiceUnavailable, ReadyResponse{Error: "unavailable", Message: err.Error()})
		}
	}
	return c.JSON(http.StatusOK, ReadyResponse{Ready: true})
}

// Serve answers requests on ln until ctx ends, then shuts down gracefully
// (shutdown): it waits up to five seconds for requests in flight, and
// closes idle connections, and those that never sent a request, without
// calling it an error. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	limit := s.opts.MaxConnections
	if fds := openFileLimit(); fds > 0 && limit > fds/2 {
		s.log.Warn("MAX_CONNECTIONS is above half the open-file limit; using half the limit",
			"max_connections", limit, "open_file_limit", fds, "using", max(fds/2, 16))
		limit = max(fds/2, 16)
	}
	cl := newConnLimiter(ln, limit, s.t.reserve, s.log)
	s.conns.Store(cl)
	states := &connStates{m: map[net.Conn]connState{}}
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: s.t.header,
		// The body's deadline. The write deadline is set per request
		// (serveHTTP): a server-wide WriteTimeout would make pprof refuse
		// profiles longer than it.
		ReadTimeout:    s.t.header + s.t.body,
		IdleTimeout:    s.t.idle,
		MaxHeaderBytes: maxHeaderBytes,
		ConnContext:    connContext,
		ConnState:      states.set,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(cl) }()
	s.log.Info("listening", "addr", ln.Addr().String(), "max_connections", limit, "health_reserve", reserveSlots(limit))
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	return s.shutdown(srv, states, errc)
}

// shutdown stops srv, whose Serve reports to errc. The listener is
// closed at once, and so are idle keep-alive connections. A connection
// that has not sent a whole request gets s.t.unsent from its opening to
// send one, then is closed: a browser keeps spare sockets open that never
// will, which Shutdown alone would wait five seconds for. Requests in
// flight get s.t.shutdown; whatever is still open after that is closed.
// Only requests cut short that way are an error: idle connections and
// those without a request are not, so that a stop with browsers
// connected ends cleanly.
func (s *Server) shutdown(srv *http.Server, states *connStates, errc <-chan error) error {
	start := time.Now()
	deadline := start.Add(s.t.shutdown)
	// Shutdown with a context already done makes one pass: it closes
	// the listener and the idle connections, and says whether any other
	// is left. The passes are made here, every shutdownPoll, rather than
	// by Shutdown's own polling, which backs off to half a second.
	pass, cancel := context.WithCancel(context.Background())
	cancel()
	t := time.NewTicker(shutdownPoll)
	defer t.Stop()
	var closed, cut int
	var err error
	for {
		closed += states.closeUnsent(s.t.unsent)
		if err = srv.Shutdown(pass); !errors.Is(err, context.Canceled) {
			break // none left (err: closing the listener's)
		}
		if !time.Now().Before(deadline) {
			// Close what is left. Idle connections that the last pass
			// missed are no error.
			cut = states.count(http.StateActive)
			err = srv.Close()
			break
		}
		<-t.C
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && serr != nil {
		err = errors.Join(err, serr)
	}
	if cut > 0 {
		err = errors.Join(err, fmt.Errorf("%d requests still running after %v were cut short", cut, s.t.shutdown))
	}
	if err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	s.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond).String(), "closed_without_request", closed)
	return nil
}

// connStates follows the server's connections (http.Server.ConnState),
// for shutdown.
type connStates struct {
	mu sync.Mutex
	m  map[net.Conn]connState
}

type connState struct {
	state  http.ConnState
	opened time.Time
}

// set records c's new state; a closed or hijacked connection is no longer
// the server's.
func (cs *connStates) set(c net.Conn, st http.ConnState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch st {
	case http.StateNew:
		cs.m[c] = connState{state: st, opened: time.Now()}
	case http.StateActive, http.StateIdle:
		e := cs.m[c]
		e.state = st
		cs.m[c] = e
	default:
		delete(cs.m, c)
	}
}

// count returns how many connections are in state st.
func (cs *connStates) count(st http.ConnState) int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n := 0
	for _, e := range cs.m {
		if e.state == st {
			n++
		}
	}
	return n
}

// closeUnsent closes every connection that has not sent a whole request
// grace after it opened, and returns how many it closed.
func (cs *connStates) closeUnsent(grace time.Duration) int {
	var late []net.Conn
	cs.mu.Lock()
	for c, e := range cs.m {
		if e.state == http.StateNew && time.Since(e.opened) >= grace {
			late = append(late, c)
			// Its server goroutine reports it closed later; not
			// counted twice meanwhile.
			e.state = http.StateClosed
			cs.m[c] = e
		}
	}
	cs.mu.Unlock()
	for _, c := range late {
		c.Close()
	}
	return len(late)
}
