package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/rtc"

	"github.com/labstack/echo/v4"
)

func (s *Server) devices(c echo.Context) error {
	if s.deps.Devices == nil {
		return errorJSON(c, http.StatusServiceUnavailable, "unavailable", "device discovery is not configured")
	}
	list, err := s.deps.Devices(c.Request().Context())
	if err != nil {
		// The caller gets the error; the log says it at most once per
		// interval (an adb server that is still starting is no news).
		s.devicesLog.Log(s.log, slog.LevelInfo, "list devices: the adb server does not answer", "err", err)
		return errorJSON(c, http.StatusBadGateway, "bad_gateway", "adb server unavailable: "+err.Error())
	}
	if who := caller(c); who.restricted() {
		list = slices.DeleteFunc(slices.Clone(list), func(d DeviceView) bool { return !who.MayOpen(d.Serial) })
	}
	return c.JSON(http.StatusOK, DevicesResponse{Devices: nonNil(list)})
}

func (s *Server) encoders(c echo.Context) error {
	if s.deps.Encoders == nil {
		return errorJSON(c, http.StatusServiceUnavailable, "unavailable", "encoder probing is not configured")
	}
	return c.JSON(http.StatusOK, EncodersResponse{Encoders: nonNil(s.deps.Encoders(c.Request().Context()))})
}

func (s *Server) stats(c echo.Context) error {
	if s.deps.Stats == nil {
		return errorJSON(c, http.StatusServiceUnavailable, "unavailable", "statistics are not configured")
	}
	st := s.deps.Stats()
	if who := caller(c); who.restricted() {
		st = filterStats(st, who.MayOpen)
	}
	// Lists are lists, and the latency map an object, even when empty.
	st.Devices, st.Broadcasters, st.Sessions = nonNil(st.Devices), nonNil(st.Broadcasters), nonNil(st.Sessions)
	if st.E2ELatency == nil {
		st.E2ELatency = map[string]LatencyView{}
	}
	return c.JSON(http.StatusOK, st)
}

// nonNil returns s, or an empty slice for nil: a JSON [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// filterStats keeps the devices a restricted token may open.
func filterStats(st StatsResponse, may func(string) bool) StatsResponse {
	st.Devices = slices.DeleteFunc(slices.Clone(st.Devices), func(d DeviceStatsView) bool { return !may(d.Serial) })
	st.Broadcasters = slices.DeleteFunc(slices.Clone(st.Broadcasters), func(b StreamView) bool { return !may(b.DeviceID) })
	st.Sessions = slices.DeleteFunc(slices.Clone(st.Sessions), func(s SessionView) bool { return !may(s.DeviceID) })
	if st.E2ELatency != nil {
		kept := make(map[string]LatencyView, len(st.E2ELatency))
		for k, v := range st.E2ELatency {
			if may(k) {
				kept[k] = v
			}
		}
		st.E2ELatency = kept
	}
	st.WorkerPool = nil // shared by every device
	return st
}

// CreateSessionRequest is the body of POST /api/media/sessions.
type CreateSessionRequest struct {
	DeviceID string `json:"deviceId"`
	UserID   string `json:"userId"`
	Offer    string `json:"offer"`
}

// CreateSessionResponse is the body of a 201 from POST /api/media/sessions.
type CreateSessionResponse struct {
	SessionID string `json:"sessionId"`
	Answer    string `json:"answer"`
}

var (
	sessionPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// validOffer parses an SDP offer fully (rtc.ValidateOffer) before
// anything is allocated.
func validOffer(sdp string) error {
	if sdp == "" {
		return errors.New("offer is empty")
	}
	return rtc.ValidateOffer(sdp)
}

// forbiddenDevice answers 403 when the caller's token may not open the
// device.
func (s *Server) forbiddenDevice(c echo.Context, device string) bool {
	who := caller(c)
	if who.MayOpen(device) {
		return false
	}
	if who.Kind == KindJWT {
		why := "its devices claim does not name it"
		if len(who.Devices) == 0 {
			why = "it has no devices claim: a signed token opens only the devices it names"
		}
		errorJSON(c, http.StatusForbidden, "forbidden", fmt.Sprintf("the signed token of %q may not open device %q (%s)", who.Subject, device, why))
		return true
	}
	errorJSON(c, http.StatusForbidden, "forbidden", fmt.Sprintf("token %q may not open device %q", who.Token, device))
	return true
}

// signedUser applies a signed token's user rule: its sessions are its
// subject's. A request that names no user gets the subject; one that
// names another is answered 403 (false). Other callers' user stays as
// the request has it.
func signedUser(c echo.Context, user, field string) (string, bool) {
	who := caller(c)
	if who.Kind != KindJWT {
		return user, true
	}
	if user == "" {
		return who.Subject, true
	}
	if user != who.Subject {
		errorJSON(c, http.StatusForbidden, "forbidden", fmt.Sprintf("%s %s is not the signed token's subject %q: a signed token opens sessions for its own user only",
			field, strconv.QuoteToASCII(clip(user, 140)), who.Subject))
		return "", false
	}
	return user, true
}

// create creates a session for the caller and records its owner.
func (s *Server) create(c echo.Context, device, user, offer string) (id, answer string, err error) {
	who := caller(c)
	id, answer, err = s.deps.Sessions.Create(c.Request().Context(), who, device, user, offer)
	if err != nil {
		return "", "", err
	}
	s.owners.add(id, who.Token, s.deps.Sessions.List)
	s.log.Info("api: session created", "session", id, "device", device, "token", who.Token, "token_kind", who.Kind, "view_only", who.ViewOnly, "addr", who.Addr)
	return id, answer, nil
}

func (s *Server) sessionsOr503(c echo.Context) bool {
	if s.deps.Sessions == nil {
		errorJSON(c, http.StatusServiceUnavailable, "unavailable", "sessions are not configured")
		return false
	}
	return true
}

// sessionError answers a session manager error with its status.
func (s *Server) sessionError(c echo.Context, err error) error {
	status := http.StatusInternalServerError
	if s.deps.ErrorStatus != nil {
		status = s.deps.ErrorStatus(err)
	}
	if status >= 500 {
		s.log.Error("session", "err", err)
	}
	code := codes[status]
	if code == "" {
		code = "error"
	}
	return errorJSON(c, status, code, err.Error())
}

func (s *Server) createSession(c echo.Context) error {
	if !s.sessionsOr503(c) {
		return nil
	}
	var req CreateSessionRequest
	if ct := c.Request().Header.Get(echo.HeaderContentType); !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return errorJSON(c, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
	}
	body, ok := readBody(c, "body")
	if !ok {
		return nil
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorJSON(c, http.StatusBadRequest, "bad_request", "malformed JSON body")
	}
	if req.UserID, ok = signedUser(c, req.UserID, "userId"); !ok {
		return nil
	}
	if req.UserID == "" {
		req.UserID = "anonymous"
	}
	if err := media.CheckDeviceID(req.DeviceID); err != nil {
		return errorJSON(c, http.StatusBadRequest, "bad_request", "deviceId: "+err.Error())
	}
	if err := media.CheckUserID(req.UserID); err != nil {
		return errorJSON(c, http.StatusBadRequest, "bad_request", "userId: "+err.Error())
	}
	if err := validOffer(req.Offer); err != nil {
		return errorJSON(c, http.StatusBadRequest, "bad_request", err.Error())
	}
	if s.forbiddenDevice(c, req.DeviceID) {
		return nil
	}
	return s.createRouted(c, req.DeviceID, body, func() error {
		id, answer, err := s.create(c, req.DeviceID, req.UserID, req.Offer)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, CreateSessionResponse{SessionID: id, Answer: answer})
	})
}

func (s *Server) listSessions(c echo.Context) error {
	if !s.sessionsOr503(c) {
		return nil
	}
	who := caller(c)
	list := slices.DeleteFunc(slices.Clone(s.deps.Sessions.List()), func(i SessionView) bool { return !s.owners.owns(who.Token, i.ID) })
	list = append(list, s.fleetSessions(c)...)
	return c.JSON(http.StatusOK, SessionsResponse{Sessions: nonNil(list)})
}

// sessionID is the session the path names (percent-decoded, as every
// path parameter: unescapePathParams), when it is well formed and the
// caller's; else it answers 404.
func (s *Server) sessionID(c echo.Context) (string, bool) {
	id := c.Param("id")
	if !sessionPattern.MatchString(id) || !s.owners.owns(caller(c).Token, id) {
		errorJSON(c, http.StatusNotFound, "not_found", "no such session")
		return "", false
	}
	return id, true
}

func (s *Server) getSession(c echo.Context) error {
	if !s.sessionsOr503(c) || s.routeSession(c) {
		return nil
	}
	id, ok := s.sessionID(c)
	if !ok {
		return nil
	}
	info, err := s.deps.Sessions.Get(id)
	if err != nil {
		return s.sessionError(c, err)
	}
	return c.JSON(http.StatusOK, info)
}

func (s *Server) deleteSession(c echo.Context) error {
	if !s.sessionsOr503(c) || s.routeSession(c) {
		return nil
	}
	id, ok := s.sessionID(c)
	if !ok {
		return nil
	}
	if err := s.deps.Sessions.Delete(id); err != nil {
		return s.sessionError(c, err)
	}
	s.owners.remove(id)
	return c.NoContent(http.StatusNoContent)
}

// CandidateRequest is the body of POST /api/media/sessions/:id/candidates.
type CandidateRequest struct {
	Candidate string `json:"candidate"`
}

func (s *Server) addCandidate(c echo.Context) error {
	if !s.sessionsOr503(c) || s.routeSession(c) {
		return nil
	}
	id, ok := s.sessionID(c)
	if !ok {
		return nil
	}
	var req CandidateRequest
	if err := c.Bind(&req); err != nil {
		return errorJSON(c, http.StatusBadRequest, "bad_request", "malformed JSON body")
	}
	if len(req.Candidate) > 1024 || strings.ContainsAny(req.Candidate, "\r\n") {
		return errorJSON(c, http.StatusBadRequest, "bad_request", "candidate must be one line of at most 1024 bytes")
	}
	if err := s.deps.Sessions.AddCandidate(id, req.Candidate); err != nil {
		return s.sessionError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// readBody reads a request body; when it cannot, it answers: 413 past
// the body limit, 408 when the body did not arrive in time (the server's
// body deadline), 400 otherwise.
func readBody(c echo.Context, what string) ([]byte, bool) {
	body, err := io.ReadAll(c.Request().Body)
	var ne net.Error
	switch {
	case err == nil:
		return body, true
	case errors.Is(err, echo.ErrStatusRequestEntityTooLarge):
		errorJSON(c, http.StatusRequestEntityTooLarge, "too_large", what+" too large")
	case errors.As(err, &ne) && ne.Timeout():
		c.Response().Header().Set("Connection", "close")
		errorJSON(c, http.StatusRequestTimeout, "timeout", what+" did not arrive in time")
	default:
		errorJSON(c, http.StatusBadRequest, "bad_request", "cannot read the "+what)
	}
	return nil, false
}

// WHEP (RFC 9725): POST /whep/:deviceId with an SDP offer answers 201 with
// the answer and a Location; PATCH on it carries trickle candidates
// (application/trickle-ice-sdpfrag), DELETE ends the session.

func (s *Server) whepCreate(c echo.Context) error {
	if !s.sessionsOr503(c) {
		return nil
	}
	if ct := c.Request().Header.Get(echo.HeaderContentType); !strings.HasPrefix(ct, "application/sdp") {
		return errorJSON(c, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the offer as application/sdp")
	}
	device := c.Param("deviceId") // percent-decoded: unescapePathParams
	if err := media.CheckDeviceID(device); err != nil {
		return errorJSON(c, http.StatusBadRequest, "bad_request", "deviceId: "+err.Error())
	}
	if s.forbiddenDevice(c, device) {
		return nil
	}
	body, ok := readBody(c, "offer")
	if !ok {
		return nil
	}
	offer := string(body)
	if err := validOffer(offer); err != nil {
		return errorJSON(c, http.StatusBadRequest, "bad_request", err.Error())
	}
	user, ok := signedUser(c, c.Request().Header.Get("X-User-Id"), "X-User-Id")
	if !ok {
		return nil
	}
	if user == "" {
		user = "whep"
	}
	if err := media.CheckUserID(user); err != nil {
		return errorJSON(c, http.StatusBadRequest, "bad_request", "X-User-Id: "+err.Error())
	}
	return s.createRouted(c, device, body, func() error {
		id, answer, err := s.create(c, device, user, offer)
		if err != nil {
			return err
		}
		h := c.Response().Header()
		h.Set(echo.HeaderLocation, "/whep/"+url.PathEscape(device)+"/"+url.PathEscape(id))
		h.Set("ETag", `"`+id+`"`)
		// The ICE servers, TURN with the caller's credentials (RFC 9725).
		for _, l := range iceServerLinks(s.iceServersFor(c)) {
			h.Add("Link", l)
		}
		return c.Blob(http.StatusCreated, "application/sdp", []byte(answer))
	})
}

func (s *Server) whepPatch(c echo.Context) error {
	if !s.sessionsOr503(c) || s.routeSession(c) {
		return nil
	}
	id, ok := s.sessionID(c)
	if !ok {
		return nil
	}
	if ct := c.Request().Header.Get(echo.HeaderContentType); !strings.HasPrefix(ct, "application/trickle-ice-sdpfrag") {
		return errorJSON(c, http.StatusUnsupportedMediaType, "unsupported_media_type", "send candidates as application/trickle-ice-sdpfrag")
	}
	body, ok := readBody(c, "fragment")
	if !ok {
		return nil
	}
	if !utf8.Valid(body) {
		return errorJSON(c, http.StatusBadRequest, "bad_request", "fragment is not UTF-8 text")
	}
	if err := s.deps.Sessions.AddSDPFragment(id, string(body)); err != nil {
		return s.sessionError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) whepDelete(c echo.Context) error {
	return s.deleteSession(c)
}
