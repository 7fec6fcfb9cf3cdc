package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRecordings is a recorder whose failures are chosen by the device
// ID, as contractSessions' are; its segments are files in dir.
type fakeRecordings struct {
	dir string

	mu      sync.Mutex
	next    int
	byID    map[string]*RecordingView
	running map[string]string // device → recording
	callers []Caller
}

func newFakeRecordings(t *testing.T) *fakeRecordings {
	return &fakeRecordings{dir: t.TempDir(), byID: map[string]*RecordingView{}, running: map[string]string{}}
}

var errDisk = errors.New("recording: storage: no space left on device")

func (f *fakeRecordings) Start(_ context.Context, c Caller, device string) (RecordingView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.callers = append(f.callers, c)
	switch device {
	case "unknown-device":
		return RecordingView{}, fmt.Errorf("%w: %s", errNoDevice, device)
	case "busy-device":
		return RecordingView{}, fmt.Errorf("%w: MAX_RECORDINGS (1) reached", errBusy)
	case "broken-device":
		return RecordingView{}, errDisk
	}
	if _, ok := f.running[device]; ok {
		return RecordingView{}, fmt.Errorf("%w: device %s", ErrRecordingRunning, device)
	}
	f.next++
	id := fmt.Sprintf("r%d", f.next)
	name := "segment-0001.mp4"
	if err := os.MkdirAll(filepath.Join(f.dir, id), 0o755); err != nil {
		return RecordingView{}, err
	}
	if err := os.WriteFile(filepath.Join(f.dir, id, name), []byte(strings.Repeat("mp4 ", 1000)), 0o644); err != nil {
		return RecordingView{}, err
	}
	v := &RecordingView{ID: id, DeviceID: device, Instance: "test-0", Codec: "h264", State: "recording", StartedAt: time.Now().UTC(),
		StartedBy: c.Principal(), Bytes: 4000, DurationMs: 1000,
		Segments: []RecordingSegmentView{{Index: 1, Name: name, Bytes: 4000, DurationMs: 1000, Width: 720, Height: 1280, StartedAt: time.Now().UTC(), Open: true}}}
	f.byID[id] = v
	f.running[device] = id
	return *v, nil
}

func (f *fakeRecordings) Stop(device string) (RecordingView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.running[device]
	if !ok {
		return RecordingView{}, fmt.Errorf("%w: no recording of device %s runs here", ErrNoRecording, device)
	}
	delete(f.running, device)
	v := f.byID[id]
	now := time.Now().UTC()
	v.State, v.Reason, v.EndedAt = "finished", "stopped", &now
	v.Segments[0].Open = false
	return *v, nil
}

func (f *fakeRecordings) List() []RecordingView {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []RecordingView
	for i := 1; i <= f.next; i++ {
		if v := f.byID[fmt.Sprintf("r%d", i)]; v != nil {
			out = append(out, *v)
		}
	}
	return out
}

func (f *fakeRecordings) Get(id string) (RecordingView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.byID[id]
	if v == nil {
		return RecordingView{}, fmt.Errorf("%w: %s", ErrNoRecording, id)
	}
	return *v, nil
}

func (f *fakeRecordings) Open(id string, n int) (*os.File, RecordingSegmentView, error) {
	v, err := f.Get(id)
	if err != nil {
		return nil, RecordingSegmentView{}, err
	}
	for _, s := range v.Segments {
		if s.Index == n {
			file, err := os.Open(filepath.Join(f.dir, id, s.Name))
			return file, s, err
		}
	}
	return nil, RecordingSegmentView{}, fmt.Errorf("%w: recording %s has no segment %d", ErrNoRecording, id, n)
}

func (f *fakeRecordings) Delete(id string) error {
	v, err := f.Get(id)
	if err != nil {
		return err
	}
	if v.DeviceID == "flaky-device" {
		return errDisk
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byID, id)
	if f.running[v.DeviceID] == id {
		delete(f.running, v.DeviceID)
	}
	return os.RemoveAll(filepath.Join(f.dir, id))
}

// recordingExchanges checks the recordings' routes against the OpenAPI
// document, every status it lists for them (TestOpenAPIResponses calls
// it, before checking that every documented status was produced).
func recordingExchanges(t *testing.T, k *contract) {
	recs := newFakeRecordings(t)
	base := startServer(t, Options{Tokens: testTokens, RateLimit: 1_000_000}, Deps{Recordings: recs, ErrorStatus: contractStatus})
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	for _, x := range []exchange{
		{method: "POST", path: "/api/media/devices/127.0.0.1%3A5555/recording", token: aliceSecret, want: 201, valid: true},
		{method: "POST", path: "/api/media/devices/127.0.0.1:5555/recording", token: aliceSecret, want: 409, valid: true},
		{method: "POST", path: "/api/media/devices/flaky-device/recording", token: aliceSecret, want: 201, valid: true},
		{method: "POST", path: "/api/media/devices/a;b/recording", token: aliceSecret, want: 400},
		{method: "POST", path: "/api/media/devices/127.0.0.1:5555/recording", token: viewerSecret, want: 403, valid: true},
		{method: "POST", path: "/api/media/devices/127.0.0.1:5555/recording", token: emuSecret, want: 403, valid: true},
		{method: "POST", path: "/api/media/devices/unknown-device/recording", token: aliceSecret, want: 404, valid: true},
		{method: "POST", path: "/api/media/devices/busy-device/recording", token: aliceSecret, want: 503, valid: true},
		{method: "POST", path: "/api/media/devices/broken-device/recording", token: aliceSecret, want: 500, valid: true},
		{method: "GET", path: "/api/media/recordings", token: aliceSecret, want: 200, valid: true},
		{method: "GET", path: "/api/media/recordings", token: viewerSecret, want: 200, valid: true},
		{method: "GET", path: "/api/media/recordings/r1", token: aliceSecret, want: 200, valid: true},
		{method: "GET", path: "/api/media/recordings/r1", token: viewerSecret, want: 200, valid: true},
		{method: "GET", path: "/api/media/recordings/r1", token: emuSecret, want: 404, valid: true},
		{method: "GET", path: "/api/media/recordings/nope", token: aliceSecret, want: 404, valid: true},
		{method: "GET", path: "/api/media/recordings/a;b", token: aliceSecret, want: 404},
		{method: "GET", path: "/api/media/recordings/r1/segments/1", token: aliceSecret, want: 200, valid: true},
		{method: "GET", path: "/api/media/recordings/r1/segments/1", token: viewerSecret, want: 200, valid: true},
		{method: "GET", path: "/api/media/recordings/r1/segments/1", token: aliceSecret, header: map[string]string{"Range": "bytes=0-99"}, want: 206, valid: true},
		{method: "GET", path: "/api/media/recordings/r1/segments/1", token: aliceSecret, header: map[string]string{"If-Modified-Since": future}, want: 304, valid: true},
		{method: "GET", path: "/api/media/recordings/r1/segments/9", token: aliceSecret, want: 404, valid: true},
		{method: "GET", path: "/api/media/recordings/r1/segments/0", token: aliceSecret, want: 404},
		{method: "GET", path: "/api/media/recordings/r1/segments/1", token: emuSecret, want: 404, valid: true},
		{method: "DELETE", path: "/api/media/devices/127.0.0.1:5555/recording", token: viewerSecret, want: 403, valid: true},
		{method: "DELETE", path: "/api/media/devices/127.0.0.1:5555/recording", token: aliceSecret, want: 200, valid: true},
		{method: "DELETE", path: "/api/media/devices/127.0.0.1:5555/recording", token: aliceSecret, want: 404, valid: true},
		{method: "DELETE", path: "/api/media/devices/a;b/recording", token: aliceSecret, want: 400},
		{method: "DELETE", path: "/api/media/recordings/r1", token: viewerSecret, want: 403, valid: true},
		{method: "DELETE", path: "/api/media/recordings/r2", token: aliceSecret, want: 500, valid: true},
		{method: "DELETE", path: "/api/media/recordings/r1", token: aliceSecret, want: 204, valid: true},
		{method: "DELETE", path: "/api/media/recordings/r1", token: aliceSecret, want: 404, valid: true},
	} {
		k.do(t, base, x)
	}
	none := startServer(t, Options{Tokens: testTokens}, Deps{})
	for _, x := range []exchange{
		{method: "POST", path: "/api/media/devices/dev1/recording", token: aliceSecret, want: 503, valid: true},
		{method: "DELETE", path: "/api/media/devices/dev1/recording", token: aliceSecret, want: 503, valid: true},
		{method: "GET", path: "/api/media/recordings", token: aliceSecret, want: 503, valid: true},
		{method: "GET", path: "/api/media/recordings/r1", token: aliceSecret, want: 503, valid: true},
		{method: "DELETE", path: "/api/media/recordings/r1", token: aliceSecret, want: 503, valid: true},
		{method: "GET", path: "/api/media/recordings/r1/segments/1", token: aliceSecret, want: 503, valid: true},
	} {
		if resp, _ := k.do(t, none, x); resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", x.method, x.path)
		}
	}
}

// TestRecordingRoutes: the start records the caller and answers the
// recording with its Location; the list shows a restricted token only its
// devices' recordings; a download is the file, with its name, ranges
// served; a view-only token lists and downloads but does not start,
// stop or delete.
func TestRecordingRoutes(t *testing.T) {
	recs := newFakeRecordings(t)
	base := startServer(t, Options{Tokens: testTokens}, Deps{Recordings: recs, ErrorStatus: contractStatus})
	do := func(method, path, token string, header map[string]string) (*http.Response, []byte) {
		t.Helper()
		req := mustRequest(t, method, base+path, token)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := do("POST", "/api/media/devices/"+url.PathEscape("127.0.0.1:5555")+"/recording", aliceSecret, nil)
	var v RecordingView
	if resp.StatusCode != 201 || json.Unmarshal(body, &v) != nil || v.ID != "r1" || resp.Header.Get("Location") != "/api/media/recordings/r1" {
		t.Fatalf("start: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	if c := recs.callers[0]; c.Token != "alice" || v.StartedBy != "token:alice" {
		t.Fatalf("caller %+v, startedBy %q", c, v.StartedBy)
	}
	do("POST", "/api/media/devices/emulator-5554/recording", aliceSecret, nil)

	var list RecordingsResponse
	_, body = do("GET", "/api/media/recordings", emuSecret, nil)
	if json.Unmarshal(body, &list) != nil || len(list.Recordings) != 1 || list.Recordings[0].DeviceID != "emulator-5554" {
		t.Fatalf("the emulator token's list: %s", body)
	}
	_, body = do("GET", "/api/media/recordings", viewerSecret, nil)
	if json.Unmarshal(body, &list) != nil || len(list.Recordings) != 2 {
		t.Fatalf("the view-only token's list: %s", body)
	}

	resp, body = do("GET", "/api/media/recordings/r1/segments/1", viewerSecret, nil)
	if resp.StatusCode != 200 || len(body) != 4000 || resp.Header.Get("Content-Type") != "video/mp4" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename=127.0.0.1_5555_r1_segment-0001.mp4` || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("download: %d, %d bytes, %v", resp.StatusCode, len(body), resp.Header)
	}
	resp, body = do("GET", "/api/media/recordings/r1/segments/1", aliceSecret, map[string]string{"Range": "bytes=4-7"})
	if resp.StatusCode != 206 || string(body) != "mp4 " || resp.Header.Get("Content-Range") != "bytes 4-7/4000" {
		t.Fatalf("range: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	for _, r := range []struct{ method, path string }{
		{"POST", "/api/media/devices/dev9/recording"}, {"DELETE", "/api/media/devices/emulator-5554/recording"}, {"DELETE", "/api/media/recordings/r2"},
	} {
		if resp, body := do(r.method, r.path, viewerSecret, nil); resp.StatusCode != 403 || !strings.Contains(string(body), "view-only") {
			t.Errorf("%s %s by a view-only token: %d %s", r.method, r.path, resp.StatusCode, body)
		}
	}
	if len(recs.List()) != 2 {
		t.Fatal("a view-only token changed the recordings")
	}
}

// TestRecordingForwardedDownload: in a fleet, a recording's download is
// streamed from the instance that wrote it (the ID's tag), ranges and
// all, and its GET and DELETE go there too; the list gathers the
// instances'.
func TestRecordingForwardedDownload(t *testing.T) {
	secret := []byte("fleet-secret-0123456789abcdef")
	writer := newFakeRecordings(t)
	wbase := startServer(t, Options{Tokens: testTokens, FleetSecret: secret}, Deps{Recordings: writer, ErrorStatus: contractStatus,
		Fleet: &recordingFleet{name: "b"}})
	if _, err := writer.Start(context.Background(), Caller{}, "dev1"); err != nil {
		t.Fatal(err)
	}
	// Instance a knows b's recordings by their tag: "r" routes to b.
	here := newFakeRecordings(t)
	abase := startServer(t, Options{Tokens: testTokens, FleetSecret: secret}, Deps{Recordings: here, ErrorStatus: contractStatus,
		Fleet: &recordingFleet{name: "a", peers: []string{wbase}, owners: map[string]string{"r1": wbase}}})

	req := mustRequest(t, "GET", abase+"/api/media/recordings/r1/segments/1", aliceSecret)
	req.Header.Set("Range", "bytes=0-3")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || string(body) != "mp4 " || resp.Header.Get("Content-Range") != "bytes 0-3/4000" || resp.Header.Get(HeaderInstance) != "b" {
		t.Fatalf("forwarded range: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, err = http.DefaultClient.Do(mustRequest(t, "GET", abase+"/api/media/recordings", aliceSecret))
	if err != nil {
		t.Fatal(err)
	}
	var list RecordingsResponse
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Recordings) != 1 || list.Recordings[0].Instance != "test-0" {
		t.Fatalf("fleet list: %+v", list)
	}
	resp, err = http.DefaultClient.Do(mustRequest(t, "DELETE", abase+"/api/media/recordings/r1", aliceSecret))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || len(writer.List()) != 0 {
		t.Fatalf("forwarded delete: %d, writer has %d", resp.StatusCode, len(writer.List()))
	}
}

// recordingFleet routes recordings by a table of IDs.
type recordingFleet struct {
	name   string
	peers  []string
	owners map[string]string
}

func (f *recordingFleet) Owner(context.Context, string, bool, string) (string, error) { return "", nil }
func (f *recordingFleet) SessionOwner(id string) (string, bool) {
	if base, ok := f.owners[id]; ok {
		return base, true
	}
	return "", true
}
func (f *recordingFleet) Peers() []string { return f.peers }
func (f *recordingFleet) Name() string    { return f.name }
