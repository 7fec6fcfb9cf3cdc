package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/media"
)

// fakeFiles is a device's files without a device: pushes are hashed, not
// kept. Devices named unknown-device, idle-device, busy-device and
// broken-device fail as their names say.
type fakeFiles struct {
	owner string        // Target's owner for every device: a forward
	pause time.Duration // slow-device's pause between chunks, and its installer's

	mu       sync.Mutex
	files    map[string]pushed // by path
	removed  []string
	installs []string // the installer's answers
	serials  []string
}

type pushed struct {
	size int64
	sum  string
	err  error // the push's
}

func (f *fakeFiles) Target(_ context.Context, device string) (string, string, error) {
	switch device {
	case "unknown-device":
		return "", "", fmt.Errorf("%w: %s", media.ErrUnknownDevice, device)
	case "idle-device":
		return "", "", fmt.Errorf("%w: device %s", ErrNotRunning, device)
	case "busy-device":
		return "", "", fmt.Errorf("%w: the device's Lease cannot be read", media.ErrUnavailable)
	}
	return "serial-" + device, f.owner, nil
}

func (f *fakeFiles) Push(_ context.Context, serial string, r io.Reader, remote string) error {
	f.mu.Lock()
	f.serials = append(f.serials, serial)
	f.mu.Unlock()
	switch {
	case serial == "serial-broken-device":
		return errors.New("adb: server: sync: connection reset by peer")
	case strings.HasSuffix(remote, "/is-a-dir"):
		return fmt.Errorf("%w: adb: server: push %s: device: couldn't create file: Is a directory", ErrRefused, remote)
	}
	if serial == "serial-slow-device" {
		r = &pausingReader{r: r, pause: f.pause}
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		err = fmt.Errorf("adb: push %s: read source: %w", remote, err)
	}
	f.mu.Lock()
	if f.files == nil {
		f.files = map[string]pushed{}
	}
	f.files[remote] = pushed{size: n, sum: hex.EncodeToString(h.Sum(nil)), err: err}
	f.mu.Unlock()
	return err
}

// pausingReader pauses before every read but the first: a device that
// takes its time.
type pausingReader struct {
	r     io.Reader
	pause time.Duration
	reads int
}

func (p *pausingReader) Read(b []byte) (int, error) {
	if p.reads++; p.reads > 1 {
		time.Sleep(p.pause)
	}
	return p.r.Read(b[:min(len(b), 64<<10)])
}

func (f *fakeFiles) Install(ctx context.Context, serial string, r io.Reader) (string, error) {
	if serial == "serial-broken-device" {
		return "", errors.New("adb: server: sync: connection reset by peer")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("adb: push: read source: %w", err)
	}
	if serial == "serial-slow-device" {
		time.Sleep(f.pause) // the installer takes its time
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("adb: pm install: %w", err)
		}
	}
	out := "Success"
	if !bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		out = "Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse /data/app/vmdl1.tmp/base.apk: Failed to load asset path /data/app/vmdl1.tmp/base.apk]"
	}
	f.mu.Lock()
	f.installs = append(f.installs, out)
	f.mu.Unlock()
	if out != "Success" {
		return "", &InstallError{Failure: out}
	}
	return out, nil
}

func (f *fakeFiles) Remove(_ context.Context, _, remote string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, remote)
	return nil
}

func (f *fakeFiles) file(p string) (pushed, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	got, ok := f.files[p]
	return got, ok
}

func (f *fakeFiles) removedPaths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.removed)
}

// fakeFileMetrics records what the routes count.
type fakeFileMetrics struct {
	mu     sync.Mutex
	counts map[string]int // "file:result", "app:result"
	bytes  int64
}

func (m *fakeFileMetrics) add(kind, result string, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]int{}
	}
	m.counts[kind+":"+result]++
	m.bytes += n
}
func (m *fakeFileMetrics) FilePushed(result string, n int64)   { m.add("file", result, n) }
func (m *fakeFileMetrics) AppInstalled(result string, n int64) { m.add("app", result, n) }
func (m *fakeFileMetrics) get(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[key]
}

// upload sends body to base+target and returns the status and body.
func upload(t *testing.T, base, target, token, contentType string, body io.Reader, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", base+target, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// multipartBody is a multipart/form-data body: a form field, then the
// file part named name with data.
func multipartBody(t *testing.T, name string, data []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("note", "a field before the file is skipped")
	fw, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestUploadFile: a raw body and a multipart one reach the device's
// Push whole, at the path asked for: ?path=, ?name= in /sdcard/Download,
// the part's file name, a directory with a trailing slash; bodies past
// the API's 256 KiB are theirs to take.
func TestUploadFile(t *testing.T) {
	files, m := &fakeFiles{}, &fakeFileMetrics{}
	base := startServer(t, Options{Tokens: testTokens}, Deps{Files: files, FileMetrics: m})
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB: past the API's body limit
	ct, mp := multipartBody(t, "photo 1.jpg", data)
	for _, tc := range []struct {
		target, ct string
		body       []byte
		want       string
	}{
		{"/api/media/devices/127.0.0.1:5555/files?path=/sdcard/Download/a.bin", "application/octet-stream", data, "/sdcard/Download/a.bin"},
		{"/api/media/devices/127.0.0.1%3A5555/files?name=b.bin", "application/octet-stream", data, "/sdcard/Download/b.bin"},
		{"/api/media/devices/emulator-5554/files?path=/data/local/tmp/./x/../c.bin", "application/octet-stream", data, ""},
		{"/api/media/devices/emulator-5554/files?path=/data/local/tmp//d.bin", "application/octet-stream; charset=binary", data, "/data/local/tmp/d.bin"},
		{"/api/media/devices/emulator-5554/files?path=/sdcard/Movies/&name=e.bin", "application/octet-stream", data, "/sdcard/Movies/e.bin"},
		{"/api/media/devices/emulator-5554/files", ct, mp, "/sdcard/Download/photo 1.jpg"},
		{"/api/media/devices/emulator-5554/files?path=/sdcard/DCIM/", ct, mp, "/sdcard/DCIM/photo 1.jpg"},
		{"/api/media/devices/emulator-5554/files?name=renamed.jpg", ct, mp, "/sdcard/Download/renamed.jpg"},
	} {
		status, body := upload(t, base, tc.target, aliceSecret, tc.ct, bytes.NewReader(tc.body), nil)
		if tc.want == "" {
			if status != 400 || !strings.Contains(string(body), "contains ..") {
				t.Errorf("%s: %d %s, want 400 for ..", tc.target, status, body)
			}
			continue
		}
		var res FileResult
		if status != 200 || json.Unmarshal(body, &res) != nil || res.Path != tc.want || res.Bytes != int64(len(data)) {
			t.Errorf("%s: %d %s, want 200 with %s", tc.target, status, body, tc.want)
			continue
		}
		if got, ok := files.file(tc.want); !ok || got.size != int64(len(data)) || got.sum != sum(data) {
			t.Errorf("%s: the device got %+v", tc.target, got)
		}
	}
	if n := m.get("file:success"); n != 7 {
		t.Errorf("%d successes counted, want 7", n)
	}
	if files.serials[0] != "serial-127.0.0.1:5555" || files.serials[1] != "serial-127.0.0.1:5555" {
		t.Errorf("serials %q: the device ID percent-decoded is Target's", files.serials[:2])
	}
}

// TestUploadRefused: bad paths and names 400 with why, before anything
// reaches the device; the wrong media type 415; the device's rights 403
// (limited to other devices, view-only); an unknown device 404, one no
// instance runs 409, a device refusal 422, adb failing 502.
func TestUploadRefused(t *testing.T) {
	files, m := &fakeFiles{}, &fakeFileMetrics{}
	base := startServer(t, Options{Tokens: testTokens}, Deps{Files: files, FileMetrics: m})
	raw := "application/octet-stream"
	long := "/sdcard/" + strings.Repeat("a", 1000)
	for _, tc := range []struct {
		target, token, ct string
		status            int
		why               string
	}{
		{"/files?path=/system/bin/sh", aliceSecret, raw, 400, "outside /sdcard and /data/local/tmp"},
		{"/files?path=/sdcard/../system/x", aliceSecret, raw, 400, "contains .."},
		{"/files?path=/sdcard/Download/..", aliceSecret, raw, 400, "contains .."},
		{"/files?path=/sdcard", aliceSecret, raw, 400, "outside"},
		{"/files?path=/sdcardx/a", aliceSecret, raw, 400, "outside"},
		{"/files?path=/data/local/tmpx", aliceSecret, raw, 400, "outside"},
		{"/files?path=sdcard/a", aliceSecret, raw, 400, "not absolute"},
		{"/files?path=" + url.QueryEscape("/sdcard/a\x00b"), aliceSecret, raw, 400, "NUL"},
		{"/files?path=" + url.QueryEscape("/sdcard/a\nb"), aliceSecret, raw, 400, "line break"},
		{"/files?path=" + url.QueryEscape("/sdcard/a\xffb"), aliceSecret, raw, 400, "UTF-8"},
		{"/files?path=" + long, aliceSecret, raw, 400, "at most 1000"},
		{"/files?name=a/b", aliceSecret, raw, 400, "not a file name"},
		{"/files?name=..", aliceSecret, raw, 400, "not a file name"},
		{"/files?name=" + strings.Repeat("n", 256), aliceSecret, raw, 400, "at most 255"},
		{"/files", aliceSecret, raw, 400, "name the file"},
		{"/files?path=/sdcard/", aliceSecret, raw, 400, "name the file"},
		{"/files?name=a", aliceSecret, "text/plain", 415, "application/octet-stream"},
		{"/apps", aliceSecret, "text/plain", 415, "application/vnd.android.package-archive"},
		{"/files?name=a.apk", aliceSecret, "application/vnd.android.package-archive", 415, "multipart/form-data"},
		{"/files?name=a", aliceSecret, "multipart/form-data", 400, "boundary"},
		{"/files?name=a", emuSecret, raw, 403, "may not open device"},
		{"/apps", emuSecret, raw, 403, "may not open device"},
		{"/files?name=a", viewerSecret, raw, 403, "view-only"},
		{"/apps", viewerSecret, raw, 403, "view-only"},
		{"/files?name=a", "", raw, 401, "bearer token"},
	} {
		status, body := upload(t, base, "/api/media/devices/127.0.0.1:5555"+tc.target, tc.token, tc.ct, strings.NewReader("data"), nil)
		if status != tc.status || !strings.Contains(string(body), tc.why) {
			t.Errorf("%s (token %q, %s): %d %s, want %d with %q", tc.target, tc.token, tc.ct, status, body, tc.status, tc.why)
		}
	}
	if len(files.serials) != 0 {
		t.Errorf("refused uploads reached the device: %q", files.serials)
	}
	for _, tc := range []struct {
		device, target string
		status         int
		why            string
	}{
		{"a;b", "/files?name=a", 400, "id:"},
		{"unknown-device", "/files?name=a", 404, "unknown device"},
		{"idle-device", "/files?name=a", 409, "open a session on it first"},
		{"busy-device", "/apps", 503, "unavailable"},
		{"broken-device", "/files?name=a", 502, "connection reset"},
		{"broken-device", "/apps", 502, "connection reset"},
		{"dev1", "/files?path=/sdcard/Download/is-a-dir", 422, "Is a directory"},
	} {
		status, body := upload(t, base, "/api/media/devices/"+tc.device+tc.target, aliceSecret, raw, strings.NewReader("data"), nil)
		if status != tc.status || !strings.Contains(string(body), tc.why) {
			t.Errorf("%s%s: %d %s, want %d with %q", tc.device, tc.target, status, body, tc.status, tc.why)
		}
	}
	if m.get("file:refused") != 1 || m.get("file:error") != 1 || m.get("app:error") != 1 {
		t.Errorf("metrics %v", m.counts)
	}
	// No partial file is removed that was refused; a failed push's is.
	if got := files.removedPaths(); !slices.Equal(got, []string{"/sdcard/Download/a"}) {
		t.Errorf("removed %q", got)
	}

	// Without Files: 503.
	none := startServer(t, Options{Tokens: testTokens}, Deps{})
	if status, body := upload(t, none, "/api/media/devices/dev1/files?name=a", aliceSecret, raw, strings.NewReader("x"), nil); status != 503 {
		t.Errorf("without Files: %d %s", status, body)
	}
}

// TestInstallApp: an APK installs (200, the installer's Success), what is
// not one is the installer's failure (422 with its line); both counted.
func TestInstallApp(t *testing.T) {
	files, m := &fakeFiles{}, &fakeFileMetrics{}
	base := startServer(t, Options{Tokens: testTokens}, Deps{Files: files, FileMetrics: m})
	apk := append([]byte("PK\x03\x04"), bytes.Repeat([]byte{7}, 300<<10)...)
	status, body := upload(t, base, "/api/media/devices/dev1/apps", aliceSecret, "application/octet-stream", bytes.NewReader(apk), nil)
	if status != 200 || string(body) != `{"result":"Success"}`+"\n" {
		t.Errorf("APK: %d %s", status, body)
	}
	ct, mp := multipartBody(t, "app.apk", apk)
	if status, body := upload(t, base, "/api/media/devices/dev1/apps", aliceSecret, ct, bytes.NewReader(mp), nil); status != 200 {
		t.Errorf("APK as multipart: %d %s", status, body)
	}
	status, body = upload(t, base, "/api/media/devices/dev1/apps", aliceSecret, "application/octet-stream", strings.NewReader("not an apk"), nil)
	var e ErrorResponse
	if status != 422 || json.Unmarshal(body, &e) != nil || e.Error != "unprocessable" ||
		e.Message != "Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse /data/app/vmdl1.tmp/base.apk: Failed to load asset path /data/app/vmdl1.tmp/base.apk]" {
		t.Errorf("not an APK: %d %s", status, body)
	}
	if m.get("app:success") != 2 || m.get("app:failure") != 1 || m.bytes != 2*int64(len(apk))+10 {
		t.Errorf("metrics %v, %d bytes", m.counts, m.bytes)
	}
}

// slowReader yields n bytes in chunks, waiting between them, and then
// stalls when stall is set.
type slowReader struct {
	n, chunk int
	wait     time.Duration
	stall    <-chan struct{} // closed: stop stalling (end)
	sent     int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.sent >= r.n {
		if r.stall != nil {
			<-r.stall
		}
		return 0, io.EOF
	}
	if r.sent > 0 {
		time.Sleep(r.wait)
	}
	k := min(len(p), r.chunk, r.n-r.sent)
	for i := range p[:k] {
		p[i] = byte(r.sent + i)
	}
	r.sent += k
	return k, nil
}

// TestUploadLimits: an upload is not bound by the API's read deadline but
// by its own: one longer than the API's deadline that keeps coming
// passes; one that stalls is cut (408) and its partial file removed; a
// body over MAX_UPLOAD_BYTES is refused (413): at once by its
// Content-Length, or as it arrives when chunked, the partial file
// removed.
func TestUploadLimits(t *testing.T) {
	files, m := &fakeFiles{pause: 600 * time.Millisecond}, &fakeFileMetrics{}
	s := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler), Uploads: Uploads{MaxBytes: 1 << 20}}, Deps{Files: files, FileMetrics: m})
	s.t.header, s.t.body = 200*time.Millisecond, 200*time.Millisecond
	s.up.window = 400 * time.Millisecond
	base := serve(t, s)
	raw := "application/octet-stream"

	// 1.2 s, 64 KiB every 80 ms: past the API's 400 ms, within the rate.
	start := time.Now()
	status, body := upload(t, base, "/api/media/devices/dev1/files?name=slow.bin", aliceSecret, raw, &slowReader{n: 15 * 64 << 10, chunk: 64 << 10, wait: 80 * time.Millisecond}, nil)
	if status != 200 {
		t.Fatalf("a slow steady upload: %d %s", status, body)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Fatalf("the slow upload took %v: it does not test the API's deadline", took)
	}

	// A device slower than the window is not the client's fault: the
	// window counts the time the upload waits for the body only. And an
	// installer that outlasts the window after the body ended is waited
	// for.
	status, body = upload(t, base, "/api/media/devices/slow-device/files?name=slowdev.bin", aliceSecret, raw, bytes.NewReader(make([]byte, 3*64<<10)), nil)
	if status != 200 {
		t.Errorf("a slow device: %d %s", status, body)
	}
	status, body = upload(t, base, "/api/media/devices/slow-device/apps", aliceSecret, raw, strings.NewReader("PK\x03\x04"), nil)
	if status != 200 {
		t.Errorf("a slow installer: %d %s", status, body)
	}

	// Stalled after 10 KB: 408, the partial file removed.
	stall := make(chan struct{})
	defer close(stall)
	status, body = upload(t, base, "/api/media/devices/dev1/files?name=stalled.bin", aliceSecret, raw, &slowReader{n: 10 << 10, chunk: 1 << 10, stall: stall}, nil)
	if status != 408 || !strings.Contains(string(body), "the upload stalled") {
		t.Errorf("a stalled upload: %d %s", status, body)
	}

	// Over the limit: by Content-Length, and chunked.
	big := bytes.Repeat([]byte{1}, 1<<20+1)
	status, body = upload(t, base, "/api/media/devices/dev1/files?name=big.bin", aliceSecret, raw, bytes.NewReader(big), nil)
	if status != 413 || !strings.Contains(string(body), "MAX_UPLOAD_BYTES") {
		t.Errorf("Content-Length over the limit: %d %s", status, body)
	}
	if _, ok := files.file("/sdcard/Download/big.bin"); ok {
		t.Error("a body refused by its Content-Length reached the device")
	}
	status, body = upload(t, base, "/api/media/devices/dev1/files?name=chunked.bin", aliceSecret, raw, io.MultiReader(bytes.NewReader(big)), nil)
	if status != 413 || !strings.Contains(string(body), "the upload was cut") {
		t.Errorf("a chunked body over the limit: %d %s", status, body)
	}
	if got, ok := files.file("/sdcard/Download/chunked.bin"); !ok || got.err == nil || got.size > 1<<20 {
		t.Errorf("the chunked push: %+v, want one cut at the limit", got)
	}
	// Exactly the limit passes.
	status, body = upload(t, base, "/api/media/devices/dev1/files?name=limit.bin", aliceSecret, raw, io.MultiReader(bytes.NewReader(big[1:])), nil)
	if status != 200 {
		t.Errorf("a body of exactly MAX_UPLOAD_BYTES: %d %s", status, body)
	}
	if got := files.removedPaths(); !slices.Equal(got, []string{"/sdcard/Download/stalled.bin", "/sdcard/Download/chunked.bin"}) {
		t.Errorf("removed %q", got)
	}
	if m.get("file:aborted") != 1 || m.get("file:too_large") != 2 || m.get("file:success") != 3 || m.get("app:success") != 1 {
		t.Errorf("metrics %v", m.counts)
	}
}

// ndjsonLines reads an NDJSON answer.
func ndjsonLines(t *testing.T, body []byte) []TransferLine {
	t.Helper()
	var out []TransferLine
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var l TransferLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// TestUploadProgress: with Accept: application/x-ndjson, progress lines
// come while the body goes up (the answer is read before the body ends),
// then the outcome; a failure found before the upload runs keeps its
// status.
func TestUploadProgress(t *testing.T) {
	files := &fakeFiles{}
	s := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{Files: files})
	s.up.progressInterval = 0
	base := serve(t, s)
	nd := map[string]string{"Accept": "application/x-ndjson"}

	// The client reads progress before it sends the end of the body.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", base+"/api/media/devices/dev1/files?name=p.bin", pr)
	req.ContentLength = 3 << 20
	req.Header.Set("Authorization", "Bearer "+aliceSecret)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Accept", "application/x-ndjson")
	chunk := bytes.Repeat([]byte{9}, 1<<20)
	go pw.Write(chunk)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadBytes('\n')
	var first TransferLine
	if err != nil || json.Unmarshal(line, &first) != nil || first.Bytes <= 0 || first.Bytes > 1<<20 || first.Total != 3<<20 || first.Status != 0 {
		t.Fatalf("first line %q (%v), before the body's end", line, err)
	}
	go func() { pw.Write(chunk); pw.Write(chunk); pw.Close() }()
	rest, _ := io.ReadAll(br)
	lines := ndjsonLines(t, rest)
	last := lines[len(lines)-1]
	if last.Status != 200 || last.Path != "/sdcard/Download/p.bin" || last.Bytes != 3<<20 {
		t.Fatalf("last line %+v", last)
	}
	for i, l := range lines[:len(lines)-1] {
		if l.Status != 0 || l.Bytes < first.Bytes || (i > 0 && l.Bytes < lines[i-1].Bytes) {
			t.Fatalf("progress lines %+v", lines)
		}
	}

	// An install's failure is the last line's.
	status, body := upload(t, base, "/api/media/devices/dev1/apps", aliceSecret, "application/octet-stream", strings.NewReader("not an apk"), nd)
	lines = ndjsonLines(t, body)
	if status != 200 || len(lines) < 2 || lines[len(lines)-1].Status != 422 || !strings.HasPrefix(lines[len(lines)-1].Message, "Failure [INSTALL_PARSE_FAILED_NOT_APK") {
		t.Errorf("install failure: %d %s", status, body)
	}
	status, body = upload(t, base, "/api/media/devices/dev1/apps", aliceSecret, "application/octet-stream", strings.NewReader("PK\x03\x04apk"), nd)
	if lines = ndjsonLines(t, body); status != 200 || lines[len(lines)-1].Status != 200 || lines[len(lines)-1].Result != "Success" {
		t.Errorf("install: %d %s", status, body)
	}
	// Before the upload runs: the status itself.
	if status, body = upload(t, base, "/api/media/devices/unknown-device/files?name=a", aliceSecret, "application/octet-stream", strings.NewReader("x"), nd); status != 404 {
		t.Errorf("unknown device with NDJSON: %d %s", status, body)
	}
}

// patternReader yields n pseudo-random bytes (a ChaCha8 stream) and
// hashes them.
type patternReader struct {
	n   int64
	rng *rand.ChaCha8
	h   io.Writer
}

func newPatternReader(n int64, seed byte, h io.Writer) *patternReader {
	return &patternReader{n: n, rng: rand.NewChaCha8([32]byte{seed}), h: h}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n)]
	r.rng.Read(p)
	r.h.Write(p)
	r.n -= int64(len(p))
	return len(p), nil
}

// heapWatch samples the heap in use every few milliseconds until stopped,
// and reports the most above where it started.
func heapWatch() (stop func() (maxAbove, allocated uint64)) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, alloc0 := ms.HeapInuse, ms.TotalAlloc
	var peak atomic.Uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		<-finished
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return peak.Load(), ms.TotalAlloc - alloc0
	}
}

// TestUploadStreams: 50 MB go through the API, raw and multipart, to a
// device (here one that hashes what it gets) while the heap in use stays
// within 10 MB of where it started: the body is streamed, never held.
func TestUploadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB uploads")
	}
	files := &fakeFiles{}
	base := startServer(t, Options{Tokens: testTokens}, Deps{Files: files})
	const size = 50 << 20
	for _, multi := range []bool{false, true} {
		h := sha256.New()
		var body io.Reader = newPatternReader(size, 1, h)
		ct := "application/octet-stream"
		if multi {
			pr, pw := io.Pipe()
			w := multipart.NewWriter(pw)
			ct = w.FormDataContentType()
			src := body
			go func() {
				fw, _ := w.CreateFormFile("file", "big.bin")
				_, err := io.Copy(fw, src)
				if err == nil {
					err = w.Close()
				}
				pw.CloseWithError(err)
			}()
			body = pr
		}
		target := "/api/media/devices/dev1/files?name=big.bin"
		if multi {
			target = "/api/media/devices/dev1/files?path=/sdcard/Download/" // the part's name
		}
		stop := heapWatch()
		status, answer := upload(t, base, target, aliceSecret, ct, body, nil)
		above, allocated := stop()
		if status != 200 {
			t.Fatalf("multipart %v: %d %s", multi, status, answer)
		}
		got, _ := files.file("/sdcard/Download/big.bin")
		if want := hex.EncodeToString(h.Sum(nil)); got.size != size || got.sum != want {
			t.Fatalf("multipart %v: the device got %d bytes %s, want %d %s", multi, got.size, got.sum, size, want)
		}
		t.Logf("multipart %v: 50 MB through the API; heap in use at most %.1f MB above the start, %.1f MB allocated in all", multi, float64(above)/1e6, float64(allocated)/1e6)
		if above > 10<<20 {
			t.Errorf("multipart %v: the heap in use grew %.1f MB during a 50 MB upload: the body is held, not streamed", multi, float64(above)/1e6)
		}
	}
}

// TestUploadForwarded: in a fleet, an upload to an instance that does not
// hold the device goes to the one that does, its body streamed on (50
// MB, the heap bounded), its answer and progress streamed back.
func TestUploadForwarded(t *testing.T) {
	secret := []byte("fleet-secret-0123456789abcdef")
	owner := &fakeFiles{}
	ownerBase := startServer(t, Options{Tokens: testTokens, FleetSecret: secret}, Deps{Files: owner})
	front := &fakeFiles{owner: ownerBase}
	frontBase := startServer(t, Options{Tokens: testTokens, FleetSecret: secret, RateLimit: 1_000_000}, Deps{Files: front})

	h := sha256.New()
	size := int64(50 << 20)
	if testing.Short() {
		size = 5 << 20
	}
	stop := heapWatch()
	status, body := upload(t, frontBase, "/api/media/devices/dev1/files?name=fwd.bin", aliceSecret, "application/octet-stream", newPatternReader(size, 2, h), nil)
	above, _ := stop()
	if status != 200 {
		t.Fatalf("forwarded upload: %d %s", status, body)
	}
	got, _ := owner.file("/sdcard/Download/fwd.bin")
	if got.size != size || got.sum != hex.EncodeToString(h.Sum(nil)) {
		t.Fatalf("the owner's device got %+v", got)
	}
	if len(front.serials) != 0 {
		t.Errorf("the front instance pushed: %q", front.serials)
	}
	t.Logf("forwarded: heap in use at most %.1f MB above the start (both instances)", float64(above)/1e6)
	if above > 10<<20 {
		t.Errorf("the heap grew %.1f MB during a forwarded upload", float64(above)/1e6)
	}
	// NDJSON through the forward; rights checked at the front.
	status, body = upload(t, frontBase, "/api/media/devices/dev1/apps", aliceSecret, "application/octet-stream", strings.NewReader("PK\x03\x04apk"), map[string]string{"Accept": "application/x-ndjson"})
	if lines := ndjsonLines(t, body); status != 200 || lines[len(lines)-1].Result != "Success" {
		t.Errorf("forwarded install: %d %s", status, body)
	}
	if status, _ := upload(t, frontBase, "/api/media/devices/dev1/apps", viewerSecret, "application/octet-stream", strings.NewReader("PK"), nil); status != 403 {
		t.Errorf("view-only through a forward: %d", status)
	}
	// An owner that does not answer: 503.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	gone := startServer(t, Options{Tokens: testTokens}, Deps{Files: &fakeFiles{owner: dead}})
	if status, body := upload(t, gone, "/api/media/devices/dev1/files?name=a", aliceSecret, "application/octet-stream", strings.NewReader("x"), nil); status != 503 {
		t.Errorf("a silent owner: %d %s", status, body)
	}
}

// filesContract adds the upload routes' exchanges to TestOpenAPIResponses:
// every status their document lists, validated; none is the server
// without components.
func filesContract(t *testing.T, k *contract, none string) {
	files := &fakeFiles{}
	base := startServer(t, Options{Tokens: testTokens, RateLimit: 1_000_000, Uploads: Uploads{MaxBytes: 1 << 20}}, Deps{Files: files})
	raw := "application/octet-stream"
	ct, mp := multipartBody(t, "a.bin", []byte("file data"))
	apk := "PK\x03\x04an apk"
	big := strings.Repeat("a", 1<<20+1)
	for _, x := range []exchange{
		{method: "POST", path: "/api/media/devices/127.0.0.1%3A5555/files?path=/sdcard/Download/a.bin", token: aliceSecret, contentType: raw, body: "data", want: 200, valid: true},
		{method: "POST", path: "/api/media/devices/dev1/files?name=a.bin", token: aliceSecret, contentType: raw, body: "", want: 200}, // an empty file: the document wants a body
		{method: "POST", path: "/api/media/devices/dev1/files?path=/data/local/tmp/", token: aliceSecret, contentType: ct, body: string(mp), want: 200, valid: true},
		{method: "POST", path: "/api/media/devices/dev1/files?path=/system/a", token: aliceSecret, contentType: raw, body: "data", want: 400, valid: true},
		{method: "POST", path: "/api/media/devices/a;b/files?name=a", token: aliceSecret, contentType: raw, body: "data", want: 400},
		{method: "POST", path: "/api/media/devices/127.0.0.1:5555/files?name=a", token: emuSecret, contentType: raw, body: "data", want: 403, valid: true},
		{method: "POST", path: "/api/media/devices/dev1/files?name=a", token: viewerSecret, contentType: raw, body: "data", want: 403, valid: true},
		{method: "POST", path: "/api/media/devices/unknown-device/files?name=a", token: aliceSecret, contentType: raw, body: "data", want: 404, valid: true},
		{method: "POST", path: "/api/media/devices/idle-device/files?name=a", token: aliceSecret, contentType: raw, body: "data", want: 409, valid: true},
		{method: "POST", path: "/api/media/devices/dev1/files?name=a", token: aliceSecret, contentType: raw, body: big, want: 413, valid: true},
		{method: "POST", path: "/api/media/devices/dev1/files?name=a", token: aliceSecret, contentType: "text/plain", body: "data", want: 415},
		{method: "POST", path: "/api/media/devices/dev1/files?path=/sdcard/is-a-dir", token: aliceSecret, contentType: raw, body: "data", want: 422, valid: true},
		{method: "POST", path: "/api/media/devices/broken-device/files?name=a", token: aliceSecret, contentType: raw, body: "data", want: 502, valid: true},
		{method: "POST", path: "/api/media/devices/busy-device/files?name=a", token: aliceSecret, contentType: raw, body: "data", want: 503, valid: true},
		{method: "POST", path: "/api/media/devices/dev1/files?name=a", token: aliceSecret, contentType: raw, body: "data", want: 503, valid: true, base: none},

		{method: "POST", path: "/api/media/devices/dev1/apps", token: aliceSecret, contentType: raw, body: apk, want: 200, valid: true},
		{method: "POST", path: "/api/media/devices/dev1/apps", token: aliceSecret, contentType: "application/vnd.android.package-archive", body: apk, want: 200},
		{method: "POST", path: "/api/media/devices/dev1/apps", token: aliceSecret, contentType: ct, body: string(mp), want: 422, valid: true},
		{method: "POST", path: "/api/media/devices/a;b/apps", token: aliceSecret, contentType: raw, body: apk, want: 400},
		{method: "POST", path: "/api/media/devices/127.0.0.1:5555/apps", token: emuSecret, contentType: raw, body: apk, want: 403, valid: true},
		{method: "POST", path: "/api/media/devices/unknown-device/apps", token: aliceSecret, contentType: raw, body: apk, want: 404, valid: true},
		{method: "POST", path: "/api/media/devices/idle-device/apps", token: aliceSecret, contentType: raw, body: apk, want: 409, valid: true},
		{method: "POST", path: "/api/media/devices/dev1/apps", token: aliceSecret, contentType: raw, body: big, want: 413, valid: true},
		{method: "POST", path: "/api/media/devices/dev1/apps", token: aliceSecret, contentType: "text/plain", body: apk, want: 415},
		{method: "POST", path: "/api/media/devices/broken-device/apps", token: aliceSecret, contentType: raw, body: apk, want: 502, valid: true},
		{method: "POST", path: "/api/media/devices/busy-device/apps", token: aliceSecret, contentType: raw, body: apk, want: 503, valid: true},
		{method: "POST", path: "/api/media/devices/dev1/apps", token: aliceSecret, contentType: raw, body: apk, want: 503, valid: true, base: none},
	} {
		b := base
		if x.base != "" {
			b = x.base
		}
		k.do(t, b, x)
	}

	// A body that stops arriving: 408.
	slow := New(Options{Tokens: testTokens, Log: slog.New(slog.DiscardHandler)}, Deps{Files: files})
	slow.up.window = 300 * time.Millisecond
	slowBase := serve(t, slow)
	for _, p := range []string{"/api/media/devices/dev1/files?name=a", "/api/media/devices/dev1/apps"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(slowBase, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\nabc", p, aliceSecret, raw)
		c.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("POST %s with a stalled body: %d %s", p, resp.StatusCode, body)
			continue
		}
		req, _ := http.NewRequest("POST", slowBase+p, nil)
		k.validate(t, "POST "+p+" (stalled)", req, false, resp.StatusCode, resp.Header, body)
	}
}
