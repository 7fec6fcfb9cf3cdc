package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudphone/media-service/media"

	"github.com/labstack/echo/v4"
)

// Fleet routes requests among the instances of a fleet
// (DEVICE_SOURCE=kubernetes): each device runs on one instance, its
// owner, and any instance answers for any device by forwarding the
// request to the owner. Nil in Deps: this instance serves everything.
type Fleet interface {
	// Owner returns where the device's new sessions are made: "" for this
	// instance (which then holds the device), else the base URL
	// ("http://host:port") of the instance that does. forwarded says
	// that the request came from another instance, which chose this one:
	// a device nobody holds is then taken here, not placed again. avoid
	// is an owner that did not answer: Owner waits, within ctx, for its
	// Lease to expire, and places the device again.
	Owner(ctx context.Context, deviceID string, forwarded bool, avoid string) (string, error)
	// SessionOwner returns the base URL of the instance that serves a
	// session (session IDs start with their instance's tag), "" for this
	// one; false when no instance of the fleet has its tag.
	SessionOwner(id string) (string, bool)
	// Peers returns the other instances' base URLs, for the lists that
	// span the fleet (GET /api/media/sessions).
	Peers() []string
	// Name is this instance's name (POD_NAME): every answer carries it
	// in X-Media-Instance.
	Name() string
}

// Headers of the requests instances forward to each other.
const (
	// headerHops counts the forwards a request has had.
	headerHops = "X-Fleet-Hops"
	// headerSignature is "UNIX.HEX": an HMAC-SHA256, with the fleet's
	// secret, of the time, method, request URI, X-Forwarded-For and hops.
	headerSignature = "X-Fleet-Signature"
	// HeaderInstance names the instance that served a request.
	HeaderInstance = "X-Media-Instance"
)

// maxHops bounds the forwards of one request: a client's request goes to
// the owner, and on to a new owner at most once more (a placement that
// changed meanwhile).
const maxHops = 2

// signatureSkew is how far a signature's time may be from this clock.
const signatureSkew = time.Minute

// forwardTimeout bounds a forwarded request: the owner starts the device
// and gathers its candidates within it.
const forwardTimeout = 25 * time.Second

// sign signs a request forwarded to another instance.
func sign(secret []byte, r *http.Request, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	r.Header.Set(headerSignature, ts+"."+signature(secret, ts, r))
}

func signature(secret []byte, ts string, r *http.Request) string {
	m := hmac.New(sha256.New, secret)
	for _, part := range []string{ts, r.Method, r.URL.RequestURI(), r.Header.Get("X-Forwarded-For"), r.Header.Get(headerHops)} {
		m.Write([]byte(part))
		m.Write([]byte{'\n'})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// fleetSigned reports whether r was forwarded by another instance of the
// fleet: it carries a fresh signature made with the fleet's secret.
func (s *Server) fleetSigned(r *http.Request) bool {
	secret := s.opts.FleetSecret
	v := r.Header.Get(headerSignature)
	if len(secret) == 0 || v == "" {
		return false
	}
	ts, sig, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := time.Since(time.Unix(unix, 0)); d > signatureSkew || d < -signatureSkew {
		return false
	}
	want := signature(secret, ts, r)
	return hmac.Equal([]byte(sig), []byte(want))
}

// hops is how many times the request was forwarded by instances of the
// fleet: 0 for a client's own request, or for headers no trusted
// instance vouches for.
func (s *Server) hops(r *http.Request) int {
	v := r.Header.Get(headerHops)
	if v == "" {
		return 0
	}
	if !s.fleetSigned(r) && !s.trusted(peerAddr(r)) {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// forwardClient sends the requests forwarded to other instances. A
// connection that cannot be made within 2 s is an owner that does not
// answer.
var forwardClient = &http.Client{
	Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: forwardTimeout,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// errNoAnswer is a forward that reached no instance: the request was not
// served, and may go elsewhere.
var errNoAnswer = errors.New("the instance did not answer")

// forwardedHeaders are the request headers a forward carries.
var forwardedHeaders = []string{echo.HeaderAuthorization, echo.HeaderContentType, echo.HeaderAccept, "X-User-Id", "If-Match", "User-Agent"}

// answeredHeaders are the answer headers a forward passes back.
var answeredHeaders = []string{echo.HeaderContentType, echo.HeaderLocation, "ETag", "Retry-After", "WWW-Authenticate", HeaderInstance,
	"Cache-Control", "Content-Disposition", "X-Screenshot-Source"}

// maxForwardedAnswer bounds the answer a forward passes back: a
// full-size screenshot is the largest.
const maxForwardedAnswer = 64 << 20

// forward sends the request, with body, to the instance at base and
// writes its answer. It returns errNoAnswer (wrapped) when the instance
// could not be reached or sent no answer: nothing was written then.
func (s *Server) forward(c echo.Context, base string, body []byte) error {
	in := c.Request()
	ctx, cancel := context.WithTimeout(in.Context(), forwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, in.Method, base+in.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	s.forwardHeaders(c, req, forwardedHeaders)
	resp, err := forwardClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errNoAnswer, base, err)
	}
	defer resp.Body.Close()
	copyHeaders(c.Response().Header(), resp.Header, answeredHeaders)
	c.Response().WriteHeader(resp.StatusCode)
	_, err = io.Copy(c.Response(), io.LimitReader(resp.Body, maxForwardedAnswer))
	return err
}

// forwardHeaders readies a forward of c's request: it copies the named
// headers, says who the client is (X-Forwarded-For), counts the hop and
// signs the request with the fleet's secret.
func (s *Server) forwardHeaders(c echo.Context, req *http.Request, names []string) {
	in := c.Request()
	copyHeaders(req.Header, in.Header, names)
	if addr := caller(c).Addr; addr.IsValid() {
		req.Header.Set("X-Forwarded-For", addr.String())
	}
	req.Header.Set(headerHops, strconv.Itoa(s.hops(in)+1))
	if len(s.opts.FleetSecret) > 0 {
		sign(s.opts.FleetSecret, req, time.Now())
	}
}

// gatherRequest is a GET of url at another instance for a listing that
// gathers every instance's (sessions, recordings): with the client's
// token and address, signed, and marked as already forwarded once so
// that the instance answers with its own only.
func (s *Server) gatherRequest(ctx context.Context, c echo.Context, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	copyHeaders(req.Header, c.Request().Header, []string{echo.HeaderAuthorization})
	if addr := caller(c).Addr; addr.IsValid() {
		req.Header.Set("X-Forwarded-For", addr.String())
	}
	req.Header.Set(headerHops, "1")
	if len(s.opts.FleetSecret) > 0 {
		sign(s.opts.FleetSecret, req, time.Now())
	}
	return req, nil
}

// copyHeaders copies the named headers that from has to to.
func copyHeaders(to, from http.Header, names []string) {
	for _, k := range names {
		if v := from.Get(k); v != "" {
			to.Set(k, v)
		}
	}
}

// createRouted makes a new session of a device where the device runs:
// here (local), or at its owner, to which the request (body) goes. An
// owner that does not answer is avoided: the fleet waits for its Lease
// to expire and places the device again.
func (s *Server) createRouted(c echo.Context, device string, body []byte, local func() error) error {
	f := s.deps.Fleet
	if f == nil {
		if err := local(); err != nil {
			return s.sessionError(c, err)
		}
		return nil
	}
	r := c.Request()
	hops := s.hops(r)
	// The wait for a silent owner's Lease ends in time for an answer
	// within the server's write timeout.
	ctx, cancel := context.WithTimeout(r.Context(), forwardTimeout)
	defer cancel()
	avoid := ""
	for attempt := 0; ; attempt++ {
		owner, err := f.Owner(ctx, device, hops > 0, avoid)
		if err != nil {
			return s.sessionError(c, err)
		}
		if owner == "" {
			err := local()
			if _, ok := errors.AsType[*media.ElsewhereError](err); ok && attempt < 3 {
				continue // another instance took it first: go there
			}
			if err != nil {
				return s.sessionError(c, err)
			}
			return nil
		}
		if hops >= maxHops {
			return s.sessionError(c, fmt.Errorf("%w: device %s moved while the request was forwarded; try again", media.ErrUnavailable, device))
		}
		err = s.forward(c, owner, body)
		if err == nil || !errors.Is(err, errNoAnswer) {
			return nil // answered (an answer cut short cannot be taken back)
		}
		s.log.Warn("fleet: the device's owner does not answer; waiting for its Lease to expire", "device", device, "owner", owner, "err", err)
		if attempt >= 3 {
			return s.sessionError(c, fmt.Errorf("%w: the owner of device %s does not answer", media.ErrUnavailable, device))
		}
		avoid = owner
	}
}

// routeSession forwards a session's request to the instance that serves
// it, and reports whether it answered the request (forwarded it, or
// answered 404 for a session of an instance the fleet no longer has).
func (s *Server) routeSession(c echo.Context) bool {
	f := s.deps.Fleet
	if f == nil {
		return false
	}
	id := c.Param("id")
	if !sessionPattern.MatchString(id) {
		return false // the local path answers 404
	}
	owner, ok := f.SessionOwner(id)
	if ok && owner == "" {
		return false
	}
	if !ok || s.hops(c.Request()) >= maxHops {
		errorJSON(c, http.StatusNotFound, "not_found", "no such session")
		return true
	}
	var body []byte
	if r := c.Request(); r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodDelete {
		b, ok := readBody(c, "body")
		if !ok {
			return true
		}
		body = b
	}
	if err := s.forward(c, owner, body); errors.Is(err, errNoAnswer) {
		errorJSON(c, http.StatusNotFound, "not_found", "no such session: the instance that served it does not answer")
	}
	return true
}

// fleetSessions lists the caller's sessions on the other instances.
func (s *Server) fleetSessions(c echo.Context) []SessionView {
	f := s.deps.Fleet
	if f == nil || s.hops(c.Request()) > 0 {
		return nil
	}
	peers := f.Peers()
	var mu sync.Mutex
	var out []SessionView
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			list, err := s.peerSessions(c, p)
			if err != nil {
				s.log.Debug("fleet: list sessions of an instance", "instance", p, "err", err)
				return
			}
			mu.Lock()
			out = append(out, list...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b SessionView) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

// peerSessions asks one instance for the caller's sessions there.
func (s *Server) peerSessions(c echo.Context, base string) ([]SessionView, error) {
	in := c.Request()
	ctx, cancel := context.WithTimeout(in.Context(), 3*time.Second)
	defer cancel()
	req, err := s.gatherRequest(ctx, c, base+"/api/media/sessions")
	if err != nil {
		return nil, err
	}
	resp, err := forwardClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var list SessionsResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&list); err != nil {
		return nil, err
	}
	return list.Sessions, nil
}
