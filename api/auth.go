package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// validToken reports whether the request carries one of the configured
// bearer tokens. Tokens are compared in constant time, through their
// hashes so that their lengths do not leak either.
func (s *Server) validToken(c echo.Context) bool {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	match := 0
	for _, t := range s.opts.Tokens {
		want := sha256.Sum256([]byte(t))
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return match == 1
}

// requireToken admits API calls with a valid bearer token, or all of them
// when authentication is disabled.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.opts.AuthDisabled || s.validToken(c) {
			return next(c)
		}
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="media-service"`)
		return errorJSON(c, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
	}
}

// loopbackOrToken admits operator endpoints for clients on this host, and
// for others that present a valid token.
func (s *Server) loopbackOrToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
		if err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && !forwarded(c.Request()) {
				return next(c)
			}
		}
		if s.validToken(c) {
			return next(c)
		}
		return errorJSON(c, http.StatusForbidden, "forbidden", "operator endpoints answer loopback clients or a valid bearer token")
	}
}

// forwarded reports whether a proxy on this host relayed the request for
// someone else, who must not pass for a local client.
func forwarded(r *http.Request) bool {
	return r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != ""
}
