package api

// Files and apps dropped onto a device.
//
//	POST /api/media/devices/{id}/files?path=/sdcard/Download/NAME
//	POST /api/media/devices/{id}/apps
//
// The body is the file itself (Content-Type: application/octet-stream;
// its name from ?path= or ?name=) or multipart/form-data whose first file
// part is the file (its file name). It streams to the device as it
// arrives (Files.Push, adb's sync protocol in 64 KiB chunks): never held
// whole. A file goes to ?path=, or to ?name= (or the part's file name) in
// /sdcard/Download; only below /sdcard and /data/local/tmp. An app goes
// to /data/local/tmp/<random>.apk, is installed with pm install -r and
// removed; the installer's Failure [...] answers 422.
//
// These routes have their own bounds instead of the API's 256 KiB body
// and 20 s read deadline: MAX_UPLOAD_BYTES of body (413, counted as it
// arrives: the push is cut and its partial file removed), UPLOAD_TIMEOUT
// for the whole request, and a minimum rate: 64 KiB every 30 s, or the
// upload is cut (408), so that a stalled client does not hold its
// connection for UPLOAD_TIMEOUT.
//
// Progress: with Accept: application/x-ndjson the answer is 200 and NDJSON
// once the upload runs: {"bytes":N,"total":M} lines (the body's bytes so
// far and its Content-Length, at most every 250 ms), then one line with
// the outcome's "status" and the fields of the plain answer. What fails
// before the first byte is pushed answers with its own status, as without
// NDJSON.
//
// Rights: the device's (403 for a token limited to other devices), and a
// view-only token may neither upload nor install (403). In a fleet, the
// device's adb connection is on the instance that streams it: Files.Target
// names that instance and the request is forwarded to it, its body
// streamed on; a device that no instance runs answers 409.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cloudphone/media-service/media"

	"github.com/labstack/echo/v4"
)

// Files puts files on devices and installs apps (Deps.Files).
type Files interface {
	// Target returns where the device's files go: the adb serial to push
	// to from here, or the base URL of the instance of the fleet that
	// holds the device (owner). An unknown device is an error wrapping
	// media.ErrUnknownDevice; one that no instance runs, ErrNotRunning.
	Target(ctx context.Context, device string) (serial, owner string, err error)
	// Push stores what r yields at remote, a clean absolute path, as it
	// reads it. A push that does not reach r's end leaves no file. The
	// device's refusal (a directory there, no space) wraps ErrRefused.
	Push(ctx context.Context, serial string, r io.Reader, remote string) error
	// Install pushes r as an APK to a file of its own, installs it (pm
	// install -r) and removes the file, whatever the outcome. It returns
	// the installer's result ("Success"), or an *InstallError with its
	// failure.
	Install(ctx context.Context, serial string, r io.Reader) (string, error)
	// Remove removes a file (rm -f), if it is there.
	Remove(ctx context.Context, serial, remote string) error
}

// FileMetrics count uploads and installs (metrics.Files); results are
// those of package metrics.
type FileMetrics interface {
	FilePushed(result string, n int64)
	AppInstalled(result string, n int64)
}

var (
	// ErrNotRunning is a device that no instance of the fleet runs: its
	// adb connection is made where it streams.
	ErrNotRunning = errors.New("the device runs on no instance of the fleet")
	// ErrRefused is the device's refusal of a file.
	ErrRefused = errors.New("the device refused the file")
)

// InstallError is the installer's failure: its "Failure [CODE: ...]"
// line.
type InstallError struct{ Failure string }

func (e *InstallError) Error() string { return e.Failure }

// Uploads bounds the upload routes (Options.Uploads).
type Uploads struct {
	// MaxBytes bounds a request's body (MAX_UPLOAD_BYTES); 0 means 1 GiB.
	MaxBytes int64
	// Timeout bounds a whole upload, the install included
	// (UPLOAD_TIMEOUT); 0 means 10 minutes.
	Timeout time.Duration
}

// Upload defaults and bounds.
const (
	defaultMaxUpload     = 1 << 30
	defaultUploadTimeout = 10 * time.Minute
	// An upload must bring uploadMinBytes every uploadWindow.
	uploadWindow   = 30 * time.Second
	uploadMinBytes = 64 << 10
	// uploadProgress spaces the NDJSON progress lines.
	uploadProgress = 250 * time.Millisecond
	// uploadDir is where a file goes without ?path=.
	uploadDir = "/sdcard/Download"
	// maxDevicePath bounds a file's path on the device (adb's sync
	// protocol takes 1024 bytes, its ",MODE" included).
	maxDevicePath = 1000
	// maxFileName bounds a file's name (Linux: 255 bytes).
	maxFileName = 255
	// ndjson is the progress answer's media type.
	ndjson = "application/x-ndjson"
	// apkType is an APK's media type, which the apps route takes raw too.
	apkType = "application/vnd.android.package-archive"
)

// uploadRoots are where files may go: what adb's shell user may write.
var uploadRoots = []string{"/sdcard", "/data/local/tmp"}

// Route paths, for the body limit's exemption.
const (
	filesRoute = "/api/media/devices/:id/files"
	appsRoute  = "/api/media/devices/:id/apps"
)

// uploadLimits are Uploads with the defaults applied, and the rate and
// progress spacing (tests shorten them).
type uploadLimits struct {
	max              int64
	timeout          time.Duration
	window           time.Duration
	minBytes         int64
	progressInterval time.Duration
}

func uploadLimitsOf(u Uploads) uploadLimits {
	l := uploadLimits{max: u.MaxBytes, timeout: u.Timeout, window: uploadWindow, minBytes: uploadMinBytes, progressInterval: uploadProgress}
	if l.max <= 0 {
		l.max = defaultMaxUpload
	}
	if l.timeout <= 0 {
		l.timeout = defaultUploadTimeout
	}
	return l
}

// FileResult is the answer of a file upload: where the file is, and its
// size.
type FileResult struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// AppResult is the answer of an install: the installer's "Success".
type AppResult struct {
	Result string `json:"result"`
}

// TransferLine is one line of an upload's NDJSON answer. Progress lines
// have Bytes and Total (the Content-Length; absent when the body is
// chunked); the last line has Status, the outcome's HTTP status, and the
// fields of the plain answer: Path and Bytes, Result, or Error and
// Message.
type TransferLine struct {
	Bytes   int64  `json:"bytes"`
	Total   int64  `json:"total,omitempty"`
	Status  int    `json:"status,omitempty"`
	Path    string `json:"path,omitempty"`
	Result  string `json:"result,omitempty"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

// registerFiles registers the upload routes.
func (s *Server) registerFiles(e *echo.Echo, mw ...echo.MiddlewareFunc) {
	e.POST(filesRoute, s.uploadFile, mw...)
	e.POST(appsRoute, s.installApp, mw...)
}

// uploadRoute reports whether the request is for an upload route: those
// bound by Uploads, not by the API's body limit.
func uploadRoute(c echo.Context) bool {
	p := c.Path()
	return p == filesRoute || p == appsRoute
}

func (s *Server) uploadFile(c echo.Context) error { return s.transfer(c, false) }
func (s *Server) installApp(c echo.Context) error { return s.transfer(c, true) }

// transfer serves both routes: app is an install.
func (s *Server) transfer(c echo.Context, app bool) error {
	device := c.Param("id") // percent-decoded: unescapePathParams
	if err := media.CheckDeviceID(device); err != nil {
		return errorJSON(c, http.StatusBadRequest, "bad_request", "id: "+err.Error())
	}
	if s.forbiddenDevice(c, device) {
		return nil
	}
	if who := caller(c); who.ViewOnly {
		msg := fmt.Sprintf("token %q is view-only: it may not upload files or install apps", who.Token)
		if who.Kind == KindJWT {
			msg = fmt.Sprintf("the signed token of %q has no control right: it may not upload files or install apps", who.Subject)
		}
		return errorJSON(c, http.StatusForbidden, "forbidden", msg)
	}
	if s.deps.Files == nil {
		return errorJSON(c, http.StatusServiceUnavailable, "unavailable", "file uploads are not configured")
	}
	r := c.Request()
	mt, params, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	multi := mt == "multipart/form-data"
	if !multi && mt != "application/octet-stream" && (!app || mt != apkType) {
		want := "application/octet-stream"
		if app {
			want += " (or " + apkType + ")"
		}
		return errorJSON(c, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the file as "+want+", or as multipart/form-data with one file part")
	}
	if multi && params["boundary"] == "" {
		return errorJSON(c, http.StatusBadRequest, "bad_request", "multipart/form-data without a boundary")
	}
	var dest destination
	if !app {
		var err error
		if dest, err = destinationOf(c.QueryParam("path"), c.QueryParam("name")); err != nil {
			return errorJSON(c, http.StatusBadRequest, "bad_request", err.Error())
		}
		if !multi && dest.name == "" {
			return errorJSON(c, http.StatusBadRequest, "bad_request", "name the file: ?path=/sdcard/Download/NAME or ?name=NAME")
		}
	}
	lim := s.up
	if r.ContentLength > lim.max {
		s.observe(app, transferResult(http.StatusRequestEntityTooLarge, app, nil), 0)
		c.Response().Header().Set("Connection", "close") // the body is not read
		return errorJSON(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body of %d bytes is over MAX_UPLOAD_BYTES (%d)", r.ContentLength, lim.max))
	}

	// The API's read deadline and write deadline give way to the
	// upload's own.
	start := time.Now()
	deadline := start.Add(lim.timeout)
	rc := http.NewResponseController(c.Response().Writer)
	_ = rc.SetWriteDeadline(deadline.Add(s.t.write))
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	body := &uploadBody{r: r.Body, rc: rc, lim: lim, deadline: deadline}
	if err := body.setDeadline(start); err != nil {
		s.log.Debug("api: upload: cannot set the read deadline", "err", err)
	}
	defer body.close()

	serial, owner, err := s.deps.Files.Target(ctx, device)
	if err != nil {
		status, code, msg := s.transferStatus(ctx, err, body)
		return errorJSON(c, status, code, msg)
	}
	if owner != "" {
		return s.forwardUpload(ctx, c, owner, body, rc)
	}

	t := &transferRun{s: s, c: c, rc: rc, body: body, app: app, total: r.ContentLength}
	if accepts(r, ndjson) {
		body.progress = t.progress
	}
	var content io.Reader = body
	if multi {
		part, err := filePart(multipart.NewReader(body, params["boundary"]))
		if err != nil {
			if body.failed() == nil {
				return t.finish(http.StatusBadRequest, "bad_request", err.Error(), nil)
			}
			return t.fail(ctx, err)
		}
		defer part.Close()
		if !app && dest.name == "" {
			if err := checkFileName(part.FileName()); err != nil {
				return t.finish(http.StatusBadRequest, "bad_request", "the file part's name: "+err.Error(), nil)
			}
			dest.name = part.FileName()
			if _, err := checkDevicePath(dest.path(), false); err != nil {
				return t.finish(http.StatusBadRequest, "bad_request", "path: "+err.Error(), nil)
			}
		}
		content = part
	}
	t.content = &fileCounter{r: content}
	if app {
		result, err := s.deps.Files.Install(ctx, serial, t.content)
		if err != nil {
			return t.fail(ctx, err)
		}
		s.observe(app, "success", t.content.n)
		s.log.Info("api: app installed", "device", device, "bytes", t.content.n, "result", result, "token", caller(c).Token)
		return t.finish(http.StatusOK, "", "", AppResult{Result: result})
	}
	remote := dest.path()
	t.remote, t.serial = remote, serial
	if err := s.deps.Files.Push(ctx, serial, t.content, remote); err != nil {
		return t.fail(ctx, err)
	}
	s.observe(app, "success", t.content.n)
	s.log.Info("api: file uploaded", "device", device, "path", remote, "bytes", t.content.n, "token", caller(c).Token)
	return t.finish(http.StatusOK, "", "", FileResult{Path: remote, Bytes: t.content.n})
}

// destination is where a file goes: dir, and name once known.
type destination struct{ dir, name string }

func (d destination) path() string { return path.Join(d.dir, d.name) }

// destinationOf reads ?path= and ?name=: a path names the file, or with a
// trailing slash its directory; without a path, the file goes to
// /sdcard/Download. The name may be left to the multipart file part.
func destinationOf(p, name string) (destination, error) {
	d := destination{dir: uploadDir}
	if p != "" {
		clean, err := checkDevicePath(p, strings.HasSuffix(p, "/"))
		if err != nil {
			return d, fmt.Errorf("path: %w", err)
		}
		if !strings.HasSuffix(p, "/") {
			d.dir, d.name = path.Dir(clean), path.Base(clean)
			return d, nil
		}
		d.dir = clean
	}
	if name != "" {
		if err := checkFileName(name); err != nil {
			return d, fmt.Errorf("name: %w", err)
		}
		d.name = name
		if _, err := checkDevicePath(d.path(), false); err != nil {
			return d, fmt.Errorf("path: %w", err)
		}
	}
	return d, nil
}

// checkDevicePath checks a path on the device a file may go to, and
// returns it clean: absolute, below /sdcard or /data/local/tmp (or one of
// them, for a directory), without a ".." segment, a NUL or a line break,
// valid UTF-8, at most 1000 bytes.
func checkDevicePath(p string, dir bool) (string, error) {
	switch {
	case len(p) > maxDevicePath:
		return "", fmt.Errorf("%d bytes (at most %d)", len(p), maxDevicePath)
	case strings.ContainsAny(p, "\x00\r\n"):
		return "", errors.New("contains a NUL or a line break")
	case !utf8.ValidString(p):
		return "", errors.New("is not UTF-8")
	case !strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("%q is not absolute", p)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return "", fmt.Errorf("%q contains .. (a parent directory)", p)
		}
	}
	clean := path.Clean(p)
	for _, root := range uploadRoots {
		if strings.HasPrefix(clean, root+"/") || dir && clean == root {
			return clean, nil
		}
	}
	return "", fmt.Errorf("%q is outside /sdcard and /data/local/tmp, where files may go", p)
}

// checkFileName checks a file's name: one path segment, not . or ..,
// without a NUL or a line break, valid UTF-8, at most 255 bytes.
func checkFileName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > maxFileName:
		return fmt.Errorf("%d bytes (at most %d)", len(name), maxFileName)
	case name == "." || name == ".." || strings.Contains(name, "/"):
		return fmt.Errorf("%q is not a file name", name)
	case strings.ContainsAny(name, "\x00\r\n"):
		return errors.New("contains a NUL or a line break")
	case !utf8.ValidString(name):
		return errors.New("is not UTF-8")
	}
	return nil
}

// filePart returns the first file part of a multipart body; form fields
// before it are skipped.
func filePart(mr *multipart.Reader) (*multipart.Part, error) {
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, errors.New("the multipart body has no file part")
		}
		if err != nil {
			return nil, fmt.Errorf("malformed multipart body: %w", err)
		}
		if part.FileName() != "" {
			return part, nil
		}
		if _, err := io.Copy(io.Discard, part); err != nil {
			return nil, fmt.Errorf("malformed multipart body: %w", err)
		}
	}
}

// accepts reports whether the request's Accept names the media type.
func accepts(r *http.Request, mediaType string) bool {
	for v := range strings.SplitSeq(r.Header.Get(echo.HeaderAccept), ",") {
		mt, _, _ := strings.Cut(v, ";")
		if strings.EqualFold(strings.TrimSpace(mt), mediaType) {
			return true
		}
	}
	return false
}

// errUploadTooLarge is a body past MAX_UPLOAD_BYTES.
var errUploadTooLarge = errors.New("the body is over MAX_UPLOAD_BYTES")

// errUploadClosed is a read after the request was answered.
var errUploadClosed = errors.New("the upload was answered")

// uploadBody is an upload's request body: it counts the bytes, fails past
// the limit, moves the connection's read deadline as the body arrives
// and reports progress. The client has a window of time spent waiting in
// Read for each uploadMinBytes (the time the device takes is not the
// client's), within the upload's deadline. Read may run on another
// goroutine than the handler's (a forward's transport).
type uploadBody struct {
	r        io.Reader
	rc       *http.ResponseController
	lim      uploadLimits
	deadline time.Time
	progress func(n int64) // nil without NDJSON

	// Read's own.
	winN   int64         // bytes when the window started
	waited time.Duration // in Read since then

	mu     sync.Mutex
	n      int64
	err    error // the first error, io.EOF excepted
	closed bool
}

// setDeadline sets the read deadline for a read at now: what is left of
// the window, a new one once the last brought uploadMinBytes.
func (b *uploadBody) setDeadline(now time.Time) error {
	if b.n-b.winN >= b.lim.minBytes {
		b.winN, b.waited = b.n, 0
	}
	dl := now.Add(b.lim.window - b.waited)
	if dl.After(b.deadline) {
		dl = b.deadline
	}
	return b.rc.SetReadDeadline(dl)
}

func (b *uploadBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, errUploadClosed
	}
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	if len(p) == 0 {
		b.mu.Unlock()
		return 0, nil
	}
	start := time.Now()
	_ = b.setDeadline(start)
	// One byte more than allowed tells a body over the limit.
	if room := b.lim.max + 1 - b.n; int64(len(p)) > room {
		p = p[:room]
	}
	b.mu.Unlock()
	n, err := b.r.Read(p)
	b.mu.Lock()
	b.waited += time.Since(start)
	b.n += int64(n)
	if b.n > b.lim.max {
		n -= int(b.n - b.lim.max)
		b.n = b.lim.max
		err = errUploadTooLarge
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	total := b.n
	b.mu.Unlock()
	if n > 0 && b.progress != nil {
		b.progress(total)
	}
	return n, err
}

// failed returns the body's error: errUploadTooLarge, a read's.
func (b *uploadBody) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// received returns the bytes read.
func (b *uploadBody) received() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// close makes further reads fail: the request is answered.
func (b *uploadBody) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

// fileCounter counts what it reads: the file's bytes.
type fileCounter struct {
	r io.Reader
	n int64
}

func (r *fileCounter) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}

// transferRun is an upload being pushed: its answer, plain or NDJSON.
type transferRun struct {
	s              *Server
	c              echo.Context
	rc             *http.ResponseController
	body           *uploadBody
	content        *fileCounter
	app            bool
	total          int64
	serial, remote string // a file's, once its push started

	streaming bool // the NDJSON answer has started
	last      time.Time
	werr      error // the first error writing NDJSON
}

// progress writes a progress line, at most every progressInterval; the
// first starts the NDJSON answer (200): the upload runs.
func (t *transferRun) progress(n int64) {
	if t.werr != nil {
		return
	}
	now := time.Now()
	if t.streaming && now.Sub(t.last) < t.s.up.progressInterval {
		return
	}
	if !t.streaming {
		// The body is read while the answer is written.
		if err := t.rc.EnableFullDuplex(); err != nil {
			t.s.log.Debug("api: upload: no full duplex; progress comes with the answer", "err", err)
			t.body.progress = nil
			return
		}
		resp := t.c.Response()
		resp.Header().Set(echo.HeaderContentType, ndjson)
		resp.Header().Set("X-Content-Type-Options", "nosniff")
		resp.WriteHeader(http.StatusOK)
		t.streaming = true
	}
	t.last = now
	t.line(TransferLine{Bytes: n, Total: max(t.total, 0)})
}

func (t *transferRun) line(l TransferLine) {
	if t.werr != nil {
		return
	}
	b, _ := json.Marshal(l)
	if _, err := t.c.Response().Write(append(b, '\n')); err != nil {
		t.werr = err
		return
	}
	t.werr = t.rc.Flush()
}

// fail answers a failed push or install, counts it, and removes a partial
// file.
func (t *transferRun) fail(ctx context.Context, err error) error {
	s := t.s
	status, code, msg := s.transferStatus(ctx, err, t.body)
	var sent int64
	if t.content != nil {
		sent = t.content.n
	}
	s.observe(t.app, transferResult(status, t.app, err), sent)
	level := s.log.Warn
	if status < 500 {
		level = s.log.Info
	}
	level("api: upload failed", "device", t.c.Param("id"), "app", t.app, "status", status, "err", err, "token", caller(t.c).Token)
	if t.remote != "" && !errors.Is(err, ErrRefused) && !errors.Is(err, media.ErrUnknownDevice) {
		// The device drops a push cut short; this is in case it did
		// not (a push may also fail past its end).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if rerr := s.deps.Files.Remove(rctx, t.serial, t.remote); rerr != nil {
			s.log.Debug("api: upload: remove the partial file", "path", t.remote, "err", rerr)
		}
		cancel()
	}
	return t.finish(status, code, msg, nil)
}

// finish answers: the JSON answer with its status, or the NDJSON last
// line. v is the success's body.
func (t *transferRun) finish(status int, code, msg string, v any) error {
	if status == http.StatusRequestTimeout || t.body.failed() != nil {
		t.c.Response().Header().Set("Connection", "close") // the rest of the body is not read
	}
	if !t.streaming {
		if v == nil {
			return errorJSON(t.c, status, code, msg)
		}
		return t.c.JSON(status, v)
	}
	l := TransferLine{Bytes: t.body.received(), Total: max(t.total, 0), Status: status, Error: code, Message: msg}
	switch v := v.(type) {
	case FileResult:
		l.Path = v.Path
	case AppResult:
		l.Result = v.Result
	}
	t.line(l)
	return nil
}

// transferStatus maps an upload's failure to its answer. The body's own
// failure comes first: a push fails because its reader did.
func (s *Server) transferStatus(ctx context.Context, err error, body *uploadBody) (int, string, string) {
	berr := body.failed()
	var ne net.Error
	var ie *InstallError
	switch {
	case errors.Is(berr, errUploadTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over MAX_UPLOAD_BYTES (%d bytes): the upload was cut", s.up.max)
	case errors.As(berr, &ne) && ne.Timeout():
		return http.StatusRequestTimeout, "timeout", fmt.Sprintf("the upload stalled: it must bring %d KiB every %v, and end within UPLOAD_TIMEOUT (%v)",
			s.up.minBytes>>10, s.up.window, s.up.timeout)
	case berr != nil:
		return http.StatusBadRequest, "bad_request", "the upload was cut short: " + berr.Error()
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return http.StatusBadGateway, "bad_gateway", fmt.Sprintf("the device did not finish within UPLOAD_TIMEOUT (%v)", s.up.timeout)
	case errors.As(err, &ie):
		return http.StatusUnprocessableEntity, "unprocessable", ie.Failure
	case errors.Is(err, ErrRefused):
		return http.StatusUnprocessableEntity, "unprocessable", err.Error()
	case errors.Is(err, media.ErrUnknownDevice):
		return http.StatusNotFound, "not_found", err.Error()
	case errors.Is(err, ErrNotRunning):
		return http.StatusConflict, "conflict", err.Error() + ": files reach a device through the instance that streams it; open a session on it first"
	case errors.Is(err, media.ErrUnavailable):
		return http.StatusServiceUnavailable, "unavailable", err.Error()
	case errors.Is(err, media.ErrInvalidArgument):
		return http.StatusBadRequest, "bad_request", err.Error()
	}
	return http.StatusBadGateway, "bad_gateway", err.Error()
}

// transferResult is the metrics' result of a failed upload.
func transferResult(status int, app bool, err error) string {
	var ie *InstallError
	switch {
	case app && errors.As(err, &ie):
		return "failure"
	case app:
		return "error"
	case status == http.StatusRequestEntityTooLarge:
		return "too_large"
	case status == http.StatusRequestTimeout || status == http.StatusBadRequest:
		return "aborted"
	case errors.Is(err, ErrRefused):
		return "refused"
	}
	return "error"
}

func (s *Server) observe(app bool, result string, n int64) {
	m := s.deps.FileMetrics
	if m == nil {
		return
	}
	if app {
		m.AppInstalled(result, n)
	} else {
		m.FilePushed(result, n)
	}
}

// uploadClient forwards uploads to the instance that holds the device:
// the body streams on, and the answer may take the whole upload and the
// install (the request's context bounds it).
var uploadClient = &http.Client{
	Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// forwardUpload sends the upload to the instance at base, its body
// streamed as it arrives, and streams back the answer.
func (s *Server) forwardUpload(ctx context.Context, c echo.Context, base string, body *uploadBody, rc *http.ResponseController) error {
	in := c.Request()
	if s.hops(in) >= maxHops {
		return errorJSON(c, http.StatusServiceUnavailable, "unavailable", "the device moved while the upload was forwarded; try again")
	}
	req, err := http.NewRequestWithContext(ctx, in.Method, base+in.URL.RequestURI(), body)
	if err != nil {
		return errorJSON(c, http.StatusBadGateway, "bad_gateway", err.Error())
	}
	req.ContentLength = in.ContentLength
	if req.ContentLength == 0 {
		req.Body = http.NoBody
	}
	s.forwardHeaders(c, req, forwardedHeaders)
	// The owner's answer may come while the body still goes out (its
	// NDJSON progress).
	_ = rc.EnableFullDuplex()
	resp, err := uploadClient.Do(req)
	if err != nil {
		s.log.Warn("fleet: forward an upload", "owner", base, "err", err)
		if body.received() == 0 && body.failed() == nil {
			return errorJSON(c, http.StatusServiceUnavailable, "unavailable", "the instance that streams the device does not answer: "+err.Error())
		}
		status, code, msg := s.transferStatus(ctx, err, body)
		if body.failed() != nil {
			c.Response().Header().Set("Connection", "close")
		}
		return errorJSON(c, status, code, msg)
	}
	defer resp.Body.Close()
	h := c.Response().Header()
	copyHeaders(h, resp.Header, answeredHeaders)
	if body.failed() != nil {
		h.Set("Connection", "close")
	}
	c.Response().WriteHeader(resp.StatusCode)
	buf := make([]byte, 32<<10)
	for left := int64(4 << 20); left > 0; {
		n, err := resp.Body.Read(buf[:min(int64(len(buf)), left)])
		if n > 0 {
			if _, werr := c.Response().Write(buf[:n]); werr != nil {
				return nil
			}
			_ = rc.Flush()
			left -= int64(n)
		}
		if err != nil {
			break
		}
	}
	return nil
}
