package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Token is one accepted bearer token (API_TOKENS). Its fields are those
// of config.Token, in the same order, so the service converts one with
// api.Token(t).
type Token struct {
	// Name names the token in logs and limits; never the secret. Empty:
	// "token1", "token2", ... by position in Options.Tokens.
	Name string
	// Secret is what the client sends: "Authorization: Bearer SECRET".
	Secret string
	// ViewOnly tokens watch but send no input and take no control; the
	// session manager enforces it from Caller.ViewOnly.
	ViewOnly bool
	// Devices, when set, are the path.Match patterns of the device
	// serials the token may open and see.
	Devices []string
}

// MayOpen reports whether the token may open the device.
func (t Token) MayOpen(serial string) bool { return mayOpen(t.Devices, serial) }

func mayOpen(patterns []string, serial string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, serial); ok {
			return true
		}
	}
	return false
}

// Caller is who makes a request, as authentication found it. Every
// request's context carries one (CallerFrom); the session manager gets
// it with Sessions.Create.
type Caller struct {
	// Token is the name of the token the request carried: a static
	// token's name, or "jwt:SUB" for a signed token of subject SUB.
	// Empty when authentication is disabled (AUTH_DISABLED: the address
	// is the principal) and for operator endpoints reached from loopback.
	Token string
	// Kind is how the caller authenticated: KindStatic (API_TOKENS),
	// KindJWT (a signed access token), "" when authentication is
	// disabled.
	Kind string
	// ViewOnly and Devices are the token's rights (see Token). For a
	// signed token, ViewOnly is !control, and Devices its devices claim:
	// none opens no device (a static token without devices opens all).
	ViewOnly bool
	Devices  []string
	// Subject is a signed token's sub, the user its sessions belong to;
	// Expires its exp; MaxSessions its max_sessions (0: none), the
	// subject's sessions on this instance; MaxSessionDuration its
	// max_session_seconds (0: none), which lowers MAX_SESSION_DURATION
	// for its sessions. Zero for other callers.
	Subject            string
	Expires            time.Time
	MaxSessions        int
	MaxSessionDuration time.Duration
	// Addr is the client's address: the TCP peer, or what a trusted
	// proxy (Options.TrustedProxies) says the client is. Invalid only for
	// a request that did not come over IP.
	Addr netip.Addr
	// Checked is when the token was checked (zero without one): a token
	// removed by Update after that moment may still have let this
	// request in, and the session it creates must end (the service
	// checks).
	Checked time.Time
}

// MayOpen reports whether the caller may open the device. A signed
// token without devices may open none.
func (c Caller) MayOpen(serial string) bool {
	if c.Kind == KindJWT && len(c.Devices) == 0 {
		return false
	}
	return mayOpen(c.Devices, serial)
}

// restricted reports whether the caller may open only some devices: the
// lists then show only those.
func (c Caller) restricted() bool { return len(c.Devices) > 0 || c.Kind == KindJWT }

// Principal names the caller for per-caller limits: "token:NAME",
// "jwt:SUB" for a signed token, or without a token (AUTH_DISABLED)
// "addr:ADDRESS".
func (c Caller) Principal() string {
	if c.Kind == KindJWT {
		return KindJWT + ":" + c.Subject
	}
	if c.Token != "" {
		return "token:" + c.Token
	}
	return "addr:" + c.Addr.String()
}

type callerKey struct{}

// CallerFrom returns the caller a request's context carries; the zero
// Caller when there is none.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

func withCaller(c echo.Context, caller Caller) {
	r := c.Request()
	c.SetRequest(r.WithContext(context.WithValue(r.Context(), callerKey{}, caller)))
}

func caller(c echo.Context) Caller { return CallerFrom(c.Request().Context()) }

// identify puts the caller's address into every request's context.
func (s *Server) identify(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		addr, _ := s.clientAddr(c.Request())
		withCaller(c, Caller{Addr: addr})
		return next(c)
	}
}

// secretTokens are the configured tokens with their secrets' hashes.
type secretToken struct {
	Token
	sum [sha256.Size]byte
}

func hashTokens(in []Token) []secretToken {
	out := make([]secretToken, 0, len(in))
	for i, t := range in {
		if t.Name == "" {
			t.Name = fmt.Sprintf("token%d", i+1)
		}
		out = append(out, secretToken{Token: t, sum: sha256.Sum256([]byte(t.Secret))})
	}
	return out
}

// match returns the configured token the request carries. Secrets are
// compared in constant time, through their hashes so that their lengths
// do not leak either, and every token is compared whichever matches.
func (s *Server) match(r *http.Request) (Token, bool) {
	s.authChecks.Add(1)
	tok, ok := strings.CutPrefix(r.Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok || tok == "" {
		return Token{}, false
	}
	got := sha256.Sum256([]byte(tok))
	tokens := s.live.Load().tokens
	found := -1
	for i := range tokens {
		eq := subtle.ConstantTimeCompare(got[:], tokens[i].sum[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return Token{}, false
	}
	return tokens[found].Token, true
}

// authenticate admits API calls and rate-limits them.
//
// With authentication on, a client address that has spent its budget
// (RATE_LIMIT a second, twice that in a burst) on requests without a
// valid token is refused before anything else is done: no token
// comparison, no body read. A request that fails authentication spends
// from that budget; one that passes spends from its token's own budget
// instead. With AUTH_DISABLED every request spends from its address's
// budget: the address is the principal.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		who := caller(c)
		key := addrKey(who.Addr)
		// A request another instance forwarded was rate-limited there.
		signed := s.fleetSigned(c.Request())
		if s.opts.AuthDisabled {
			if signed {
				return next(c)
			}
			if !s.addrLimit.allow(key) {
				return s.rateLimited(c, "client address "+key)
			}
			return next(c)
		}
		if !signed && s.addrLimit.blocked(key) {
			return s.rateLimited(c, "client address "+key)
		}
		checked := time.Now() // before the tokens are read
		if raw, ok := s.signedToken(c.Request()); ok {
			return s.authenticateSigned(c, next, who, raw, signed, checked)
		}
		tok, ok := s.match(c.Request())
		if !ok {
			s.addrLimit.allow(key)
			s.log.Debug("api: unauthorized", "method", c.Request().Method, "path", c.Request().URL.Path, "addr", who.Addr)
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="media-service"`)
			return errorJSON(c, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
		}
		if !signed && !s.tokenLimit.allow(tok.Name) {
			return s.rateLimited(c, fmt.Sprintf("token %q", tok.Name))
		}
		who.Token, who.Kind, who.ViewOnly, who.Devices, who.Checked = tok.Name, KindStatic, tok.ViewOnly, tok.Devices, checked
		withCaller(c, who)
		return next(c)
	}
}

// signedToken returns the request's bearer token when it is to be
// checked as a signed token: signed tokens are configured, and it is
// shaped as a JWT (isJWT). Any other is a static token.
func (s *Server) signedToken(r *http.Request) (string, bool) {
	if s.live.Load().jwt == nil {
		return "", false
	}
	raw, ok := strings.CutPrefix(r.Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok {
		return "", false
	}
	_, ok = isJWT(raw)
	return raw, ok
}

// authenticateSigned admits a request with a signed token: its caller is
// the token's subject, with the token's rights. A bad token is answered
// 401 with why, spends from the address's budget like a bad static token,
// and is logged at most once a second.
func (s *Server) authenticateSigned(c echo.Context, next echo.HandlerFunc, who Caller, raw string, signed bool, checked time.Time) error {
	s.authChecks.Add(1)
	claims, err := s.live.Load().jwt.verify(c.Request().Context(), raw)
	if err != nil {
		s.addrLimit.allow(addrKey(who.Addr))
		s.jwtLog.Log(s.log, slog.LevelWarn, "api: signed token refused", "reason", err.Error(),
			"method", c.Request().Method, "path", c.Request().URL.Path, "addr", who.Addr)
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="media-service"`)
		return errorJSON(c, http.StatusUnauthorized, "unauthorized", err.Error())
	}
	who = signedCaller(who, claims)
	if !signed && !s.tokenLimit.allow(who.Token) {
		return s.rateLimited(c, fmt.Sprintf("signed tokens of subject %q", who.Subject))
	}
	who.Checked = checked
	withCaller(c, who)
	return next(c)
}

func (s *Server) rateLimited(c echo.Context, whose string) error {
	rate := s.live.Load().rateLimit
	s.limitLog.Log(s.log, slog.LevelWarn, "api: rate limit reached", "limit", whose, "rate_limit", rate)
	c.Response().Header().Set("Retry-After", "1")
	return errorJSON(c, http.StatusTooManyRequests, "rate_limited",
		fmt.Sprintf("rate limit reached for %s: RATE_LIMIT=%d requests a second; slow down", whose, rate))
}

// loopbackOrToken admits operator endpoints (/metrics, /debug/pprof) for
// clients on this host (isLocal), and for others that present a valid
// token with no restrictions (not view-only, not limited to devices).
func (s *Server) loopbackOrToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.isLocal(c.Request()) {
			return next(c)
		}
		who := caller(c)
		key := addrKey(who.Addr)
		if s.addrLimit.blocked(key) {
			return s.rateLimited(c, "client address "+key)
		}
		tok, ok := s.match(c.Request())
		if !ok {
			s.addrLimit.allow(key)
			return errorJSON(c, http.StatusForbidden, "forbidden", "operator endpoints answer loopback clients or a valid bearer token")
		}
		if tok.ViewOnly || len(tok.Devices) > 0 {
			return errorJSON(c, http.StatusForbidden, "forbidden", fmt.Sprintf("token %q is restricted; operator endpoints need a token without restrictions", tok.Name))
		}
		if !s.tokenLimit.allow(tok.Name) {
			return s.rateLimited(c, fmt.Sprintf("token %q", tok.Name))
		}
		who.Token = tok.Name
		withCaller(c, who)
		return next(c)
	}
}

// logRequests logs API requests with the caller's token name (never its
// secret): changes at Info, reads at Debug.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		r := c.Request()
		level := slog.LevelInfo
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			level = slog.LevelDebug
		}
		who := caller(c)
		s.log.Log(r.Context(), level, "api request", "method", r.Method, "path", r.URL.Path,
			"status", c.Response().Status, "token", who.Token, "token_kind", who.Kind, "addr", who.Addr,
			"ms", float64(time.Since(start).Microseconds())/1000)
		return nil
	}
}
