package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudphone/media-service/media"

	"github.com/labstack/echo/v4"
)

// Recordings (package recording, through Deps.Recordings):
//
//	POST   /api/media/devices/:id/recording           start (201, the recording)
//	DELETE /api/media/devices/:id/recording           stop (200, the recording as it ended)
//	GET    /api/media/recordings                      list
//	GET    /api/media/recordings/:id                  one
//	GET    /api/media/recordings/:id/segments/:n      download a segment (http.ServeContent: ranges, conditional)
//	DELETE /api/media/recordings/:id                  delete its files (stopping it first)
//
// Rights: the caller must be allowed to open the device. Starting,
// stopping and deleting need control: a view-only token gets 403.
// Listing and downloading are watching: a view-only token may list and
// download the recordings of the devices it may open. A recording of a
// device the caller may not open is not listed, and answers 404 as an
// unknown one does.
//
// In a fleet a recording runs where its device runs (the start goes to
// the device's owner, as a session does; the stop to the instance that
// runs the device), and its files are that instance's (RECORDINGS_DIR on
// its own volume). Its ID starts with the writer's tag, as a session's
// does: its GET, download and DELETE are forwarded to the writer
// (signed, streamed without a size bound for a download); the list
// gathers every instance's. A recording whose writer left the fleet
// answers 404.

// Recordings is the recorder as the API sees it. Its errors are
// ErrRecordingRunning (409), ErrNoRecording (404), or what ErrorStatus
// maps (an unknown device 404, 503 over MAX_RECORDINGS or without
// FFmpeg, 500 for a directory that cannot be written).
type Recordings interface {
	// Start starts recording a device for the caller; the API has
	// checked that the caller may open the device and is not view-only.
	Start(ctx context.Context, caller Caller, deviceID string) (RecordingView, error)
	// Stop ends the device's running recording here.
	Stop(deviceID string) (RecordingView, error)
	// List returns the recordings of this instance.
	List() []RecordingView
	// Get returns one recording of this instance.
	Get(id string) (RecordingView, error)
	// Open opens a recording's segment n (from 1) for reading.
	Open(id string, n int) (*os.File, RecordingSegmentView, error)
	// Delete stops the recording if it runs and deletes its files.
	Delete(id string) error
}

// Errors of Recordings with their own status.
var (
	ErrRecordingRunning = errors.New("a recording of the device is running")
	ErrNoRecording      = errors.New("no such recording")
)

// RecordingView is a recording as the API shows it.
type RecordingView struct {
	ID       string `json:"id"`
	DeviceID string `json:"deviceId"`
	// Instance wrote it (POD_NAME, or the host name): in a fleet, the
	// instance that serves its files.
	Instance string `json:"instance"`
	// Codec is "h264" (MP4 segments) or "vp8" (WebM), once known.
	Codec string `json:"codec,omitempty"`
	// State is recording, finished or failed.
	State string `json:"state"`
	// Reason says why it ended: stopped, max_duration, shutdown, or a
	// failure's (disk_full, permission, io, stream, device_gone,
	// interrupted).
	Reason string `json:"reason,omitempty"`
	// Error is a failed recording's error.
	Error     string     `json:"error,omitempty"`
	StartedAt time.Time  `json:"startedAt"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
	// StartedBy is the principal of the caller that started it.
	StartedBy  string                 `json:"startedBy,omitempty"`
	DurationMs int64                  `json:"durationMs"`
	Bytes      int64                  `json:"bytes"`
	Segments   []RecordingSegmentView `json:"segments"`
}

// RecordingSegmentView is one file of a recording.
type RecordingSegmentView struct {
	// Index counts from 1: GET .../segments/{index} downloads it.
	Index      int       `json:"index"`
	Name       string    `json:"name"`
	Bytes      int64     `json:"bytes"`
	DurationMs int64     `json:"durationMs"`
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	StartedAt  time.Time `json:"startedAt"`
	// Open is true while the segment is written (it holds the fragments
	// written so far).
	Open bool `json:"open"`
}

// RecordingsResponse is the body of GET /api/media/recordings.
type RecordingsResponse struct {
	Recordings []RecordingView `json:"recordings"`
}

// recordingPattern is a recording ID's shape.
var recordingPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// recordingsOr503 answers 503 when recordings are not configured.
func (s *Server) recordingsOr503(c echo.Context) bool {
	if s.deps.Recordings == nil {
		errorJSON(c, http.StatusServiceUnavailable, "unavailable", "recordings are not configured")
		return false
	}
	return true
}

// recordingError answers a recorder error with its status.
func (s *Server) recordingError(c echo.Context, err error) error {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrRecordingRunning):
		status = http.StatusConflict
	case errors.Is(err, ErrNoRecording):
		status = http.StatusNotFound
	case s.deps.ErrorStatus != nil:
		status = s.deps.ErrorStatus(err)
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		s.log.Error("recording", "err", err)
	}
	code := codes[status]
	if code == "" {
		code = "error"
	}
	return errorJSON(c, status, code, err.Error())
}

// controlsRecordings answers 403 to a view-only caller, which may not
// start, stop or delete recordings.
func (s *Server) controlsRecordings(c echo.Context) bool {
	who := caller(c)
	if !who.ViewOnly {
		return true
	}
	msg := fmt.Sprintf("token %q is view-only: it may list and download recordings, not start, stop or delete them", who.Token)
	if who.Kind == KindJWT {
		msg = fmt.Sprintf("the signed token of %q has no control right: it may list and download recordings, not start, stop or delete them", who.Subject)
	}
	errorJSON(c, http.StatusForbidden, "forbidden", msg)
	return false
}

// recordingDevice is the device the path names, when it is well formed
// and the caller may open it (else it answered).
func (s *Server) recordingDevice(c echo.Context) (string, bool) {
	device := c.Param("id") // percent-decoded: unescapePathParams
	if err := media.CheckDeviceID(device); err != nil {
		errorJSON(c, http.StatusBadRequest, "bad_request", "id: "+err.Error())
		return "", false
	}
	if s.forbiddenDevice(c, device) {
		return "", false
	}
	return device, true
}

func (s *Server) startRecording(c echo.Context) error {
	if !s.recordingsOr503(c) {
		return nil
	}
	device, ok := s.recordingDevice(c)
	if !ok || !s.controlsRecordings(c) {
		return nil
	}
	return s.createRouted(c, device, nil, func() error {
		v, err := s.deps.Recordings.Start(c.Request().Context(), caller(c), device)
		if _, ok := errors.AsType[*media.ElsewhereError](err); ok {
			return err // another instance took the device: createRouted goes there
		}
		if err != nil {
			return s.recordingError(c, err)
		}
		who := caller(c)
		s.log.Info("api: recording started", "recording", v.ID, "device", device, "token", who.Token, "addr", who.Addr)
		c.Response().Header().Set(echo.HeaderLocation, "/api/media/recordings/"+v.ID)
		return c.JSON(http.StatusCreated, v)
	})
}

func (s *Server) stopRecording(c echo.Context) error {
	if !s.recordingsOr503(c) {
		return nil
	}
	device, ok := s.recordingDevice(c)
	if !ok || !s.controlsRecordings(c) {
		return nil
	}
	v, err := s.deps.Recordings.Stop(device)
	if errors.Is(err, ErrNoRecording) && s.recordingElsewhere(c, device) {
		return nil
	}
	if err != nil {
		return s.recordingError(c, err)
	}
	who := caller(c)
	s.log.Info("api: recording stopped", "recording", v.ID, "device", device, "token", who.Token, "addr", who.Addr)
	return c.JSON(http.StatusOK, v)
}

// recordingElsewhere forwards a client's stop to the instance of the
// fleet that runs the device (where its recording runs), and reports
// whether that instance answered.
func (s *Server) recordingElsewhere(c echo.Context, device string) bool {
	loc, ok := s.deps.Fleet.(DeviceLocator)
	if !ok || s.hops(c.Request()) > 0 {
		return false
	}
	base, err := loc.RunningAt(c.Request().Context(), device)
	if err != nil || base == "" {
		return false
	}
	return !errors.Is(s.forward(c, base, nil), errNoAnswer)
}

func (s *Server) listRecordings(c echo.Context) error {
	if !s.recordingsOr503(c) {
		return nil
	}
	who := caller(c)
	list := s.deps.Recordings.List()
	list = append(list, s.fleetRecordings(c)...)
	// An instance sharing the directory (a shared volume) lists the same
	// recording: once.
	seen := map[string]bool{}
	list = slices.DeleteFunc(list, func(v RecordingView) bool {
		dup := seen[v.ID]
		seen[v.ID] = true
		return dup || !who.MayOpen(v.DeviceID)
	})
	slices.SortStableFunc(list, func(a, b RecordingView) int { return a.StartedAt.Compare(b.StartedAt) })
	for i := range list {
		list[i].Segments = nonNil(list[i].Segments)
	}
	return c.JSON(http.StatusOK, RecordingsResponse{Recordings: nonNil(list)})
}

// fleetRecordings lists the recordings of the other instances.
func (s *Server) fleetRecordings(c echo.Context) []RecordingView {
	f := s.deps.Fleet
	if f == nil || s.hops(c.Request()) > 0 {
		return nil
	}
	var mu sync.Mutex
	var out []RecordingView
	var wg sync.WaitGroup
	for _, p := range f.Peers() {
		wg.Go(func() {
			var list RecordingsResponse
			if err := s.peerGet(c, p, "/api/media/recordings", &list); err != nil {
				s.log.Debug("fleet: list recordings of an instance", "instance", p, "err", err)
				return
			}
			mu.Lock()
			out = append(out, list.Recordings...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// peerGet asks one instance for a JSON document, as the caller.
func (s *Server) peerGet(c echo.Context, base, path string, v any) error {
	in := c.Request()
	ctx, cancel := context.WithTimeout(in.Context(), 3*time.Second)
	defer cancel()
	req, err := s.gatherRequest(ctx, c, base+path)
	if err != nil {
		return err
	}
	resp, err := forwardClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v)
}

// recordingID is the recording the path names when it is well formed,
// else it answers 404.
func recordingID(c echo.Context) (string, bool) {
	id := c.Param("id")
	if !recordingPattern.MatchString(id) {
		errorJSON(c, http.StatusNotFound, "not_found", "no such recording")
		return "", false
	}
	return id, true
}

// ownRecording is the recording the path names, when this instance wrote
// it and the caller may open its device (else it answered: 404).
func (s *Server) ownRecording(c echo.Context) (RecordingView, bool) {
	id, ok := recordingID(c)
	if !ok {
		return RecordingView{}, false
	}
	v, err := s.deps.Recordings.Get(id)
	if err != nil {
		s.recordingError(c, err)
		return RecordingView{}, false
	}
	if !caller(c).MayOpen(v.DeviceID) {
		errorJSON(c, http.StatusNotFound, "not_found", "no such recording")
		return RecordingView{}, false
	}
	return v, true
}

// routeRecording sends a recording's request to the instance that wrote
// it (its ID's tag), and reports whether it answered the request.
func (s *Server) routeRecording(c echo.Context, stream bool) bool {
	f := s.deps.Fleet
	if f == nil {
		return false
	}
	id := c.Param("id")
	if !recordingPattern.MatchString(id) {
		return false // the local path answers 404
	}
	owner, ok := f.SessionOwner(id) // IDs start with their writer's tag, as sessions'
	if ok && owner == "" {
		return false
	}
	if !ok || s.hops(c.Request()) >= maxHops {
		errorJSON(c, http.StatusNotFound, "not_found", "no such recording: the instance that wrote it is not in the fleet")
		return true
	}
	var err error
	if stream {
		err = s.forwardDownload(c, owner)
	} else {
		err = s.forward(c, owner, nil)
	}
	if errors.Is(err, errNoAnswer) {
		errorJSON(c, http.StatusNotFound, "not_found", "no such recording: the instance that wrote it does not answer")
	}
	return true
}

func (s *Server) getRecording(c echo.Context) error {
	if !s.recordingsOr503(c) || s.routeRecording(c, false) {
		return nil
	}
	v, ok := s.ownRecording(c)
	if !ok {
		return nil
	}
	v.Segments = nonNil(v.Segments)
	return c.JSON(http.StatusOK, v)
}

func (s *Server) deleteRecording(c echo.Context) error {
	if !s.recordingsOr503(c) || !s.controlsRecordings(c) || s.routeRecording(c, false) {
		return nil
	}
	v, ok := s.ownRecording(c)
	if !ok {
		return nil
	}
	if err := s.deps.Recordings.Delete(v.ID); err != nil {
		return s.recordingError(c, err)
	}
	who := caller(c)
	s.log.Info("api: recording deleted", "recording", v.ID, "device", v.DeviceID, "token", who.Token, "addr", who.Addr)
	return c.NoContent(http.StatusNoContent)
}

// downloadRate is the slowest a download may go before the write
// deadline cuts it: the deadline grows with the file.
const downloadRate = 256 << 10 // bytes a second

func (s *Server) downloadSegment(c echo.Context) error {
	if !s.recordingsOr503(c) || s.routeRecording(c, true) {
		return nil
	}
	v, ok := s.ownRecording(c)
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(c.Param("n"))
	if err != nil || n < 1 {
		return errorJSON(c, http.StatusNotFound, "not_found", "no such segment (segments count from 1)")
	}
	f, seg, err := s.deps.Recordings.Open(v.ID, n)
	if err != nil {
		return s.recordingError(c, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return s.recordingError(c, err)
	}
	s.extendWrite(c, st.Size())
	h := c.Response().Header()
	ctype := "video/mp4"
	if strings.HasSuffix(seg.Name, ".webm") {
		ctype = "video/webm"
	}
	h.Set(echo.HeaderContentType, ctype)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": downloadName(v.DeviceID, v.ID, seg.Name)}))
	if seg.Open {
		h.Set("Cache-Control", "no-store") // still growing
	}
	http.ServeContent(c.Response(), c.Request(), seg.Name, st.ModTime(), f)
	return nil
}

// extendWrite gives a download of size bytes the time to go out at
// downloadRate, on top of the usual write timeout.
func (s *Server) extendWrite(c echo.Context, size int64) {
	d := s.t.write + time.Duration(size/downloadRate)*time.Second
	_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Now().Add(d))
}

// downloadName is a segment's file name for the client: the device (its
// characters outside A-Z a-z 0-9 . _ - replaced), the recording and the
// segment.
func downloadName(device, id, segment string) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, device)
	return safe + "_" + id + "_" + segment
}

// downloadHeaders are the headers a forwarded download carries each way.
var (
	downloadRequestHeaders = []string{echo.HeaderAuthorization, "Range", "If-Range", "If-Modified-Since", "If-None-Match", "If-Unmodified-Since", "User-Agent"}
	downloadAnswerHeaders  = []string{echo.HeaderContentType, echo.HeaderContentLength, "Content-Range", "Accept-Ranges", "Last-Modified", "ETag",
		"Content-Disposition", "Cache-Control", "Retry-After", "WWW-Authenticate", HeaderInstance}
)

// forwardDownload streams a download from the instance at base, ranges
// and conditions included, with no bound on its size: the client's
// request, not a timeout, bounds it once the answer started. It returns
// errNoAnswer (wrapped) when nothing was written.
func (s *Server) forwardDownload(c echo.Context, base string) error {
	in := c.Request()
	req, err := http.NewRequestWithContext(in.Context(), in.Method, base+in.URL.RequestURI(), nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	s.forwardHeaders(c, req, downloadRequestHeaders)
	resp, err := forwardClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errNoAnswer, base, err)
	}
	defer resp.Body.Close()
	copyHeaders(c.Response().Header(), resp.Header, downloadAnswerHeaders)
	if resp.ContentLength > 0 {
		s.extendWrite(c, resp.ContentLength)
	}
	c.Response().WriteHeader(resp.StatusCode)
	_, err = io.Copy(c.Response(), resp.Body)
	return err
}

// registerRecordings adds the recordings' routes.
func (s *Server) registerRecordings(e *echo.Echo, mw ...echo.MiddlewareFunc) {
	e.POST("/api/media/devices/:id/recording", s.startRecording, mw...)
	e.DELETE("/api/media/devices/:id/recording", s.stopRecording, mw...)
	e.GET("/api/media/recordings", s.listRecordings, mw...)
	e.GET("/api/media/recordings/:id", s.getRecording, mw...)
	e.DELETE("/api/media/recordings/:id", s.deleteRecording, mw...)
	e.GET("/api/media/recordings/:id/segments/:n", s.downloadSegment, mw...)
}
