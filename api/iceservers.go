package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// ICEServer is one ICE server as a browser's RTCIceServer takes it: its
// URLs, and for a TURN server the username and credential to use
// (credential type "password").
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICEServersResponse is the body of GET /api/media/ice-servers: the
// iceServers of an RTCConfiguration.
type ICEServersResponse struct {
	ICEServers []ICEServer `json:"iceServers"`
}

// turnUser is who derived TURN credentials are for: the caller's token
// name, or "anonymous" without one (AUTH_DISABLED).
func turnUser(c echo.Context) string {
	if t := caller(c).Token; t != "" {
		return t
	}
	return "anonymous"
}

// iceServersFor returns the ICE servers for the caller of c; nil when
// none are configured.
func (s *Server) iceServersFor(c echo.Context) []ICEServer {
	if s.deps.ICEServers == nil {
		return nil
	}
	return s.deps.ICEServers(turnUser(c))
}

// iceServers answers GET /api/media/ice-servers: the STUN and TURN servers
// a viewer passes to RTCPeerConnection before it makes its offer, TURN
// with credentials of its own (short-lived ones with TURN_SECRET). Never
// cached: the credentials are the caller's.
func (s *Server) iceServers(c echo.Context) error {
	if s.deps.ICEServers == nil {
		return errorJSON(c, http.StatusServiceUnavailable, "unavailable", "ICE servers are not configured")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, ICEServersResponse{ICEServers: nonNil(s.iceServersFor(c))})
}

// iceServerLinks returns the Link header values that tell a WHIP or WHEP
// client the ICE servers (RFC 9725, section 4.6): one per URL, rel
// "ice-server", with the TURN username and credential as quoted target
// attributes and credential-type "password".
func iceServerLinks(servers []ICEServer) []string {
	var out []string
	for _, srv := range servers {
		for _, u := range srv.URLs {
			l := "<" + u + `>; rel="ice-server"`
			if srv.Username != "" || srv.Credential != "" {
				l += `; username="` + quoteLinkParam(srv.Username) + `"; credential="` + quoteLinkParam(srv.Credential) + `"; credential-type="password"`
			}
			out = append(out, l)
		}
	}
	return out
}

// quoteLinkParam escapes v for an HTTP quoted-string: backslash and
// double quote get a backslash; control characters, which a header
// cannot carry, are dropped.
func quoteLinkParam(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
