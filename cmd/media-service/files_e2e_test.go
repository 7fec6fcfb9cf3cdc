package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/testutil"
)

// Tokens of TestFilesAndApps: a view-only one, and one for other devices.
const (
	filesViewToken  = "files-viewer-0123456789"
	filesOtherToken = "files-other-0123456789"
)

// filesUploadSize is the big upload's: 50 MB.
const filesUploadSize = 50_000_000

// patternBody yields n pseudo-random bytes and hashes them.
type patternBody struct {
	n   int64
	rng *rand.ChaCha8
	h   hash.Hash
}

func newPatternBody(n int64, seed byte) *patternBody {
	return &patternBody{n: n, rng: rand.NewChaCha8([32]byte{seed}), h: sha256.New()}
}

func (b *patternBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.n)]
	b.rng.Read(p)
	b.h.Write(p)
	b.n -= int64(len(p))
	return len(p), nil
}

func (b *patternBody) sum() string { return hex.EncodeToString(b.h.Sum(nil)) }

// rssWatch samples a process's resident memory every 10 ms until stopped
// and returns the most it rose above its first reading.
func rssWatch(t *testing.T, pid int) (stop func() (above, start int64)) {
	read := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return -1
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				return kb << 10
			}
		}
		return -1
	}
	base := read()
	if base < 0 {
		t.Skip("no /proc/PID/status VmRSS here")
	}
	var peak atomic.Int64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := read(); v-base > peak.Load() {
				peak.Store(v - base)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() (int64, int64) { close(done); <-finished; return peak.Load(), base }
}

// post sends body to the service and returns the status and answer.
func post(t *testing.T, url, token, contentType string, body io.Reader, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// apkFile is a minimal APK as devicesim's pm reads one: a ZIP with an
// AndroidManifest.xml naming the package.
func apkFile(t *testing.T, pkg string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("AndroidManifest.xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><manifest xmlns:android="http://schemas.android.com/apk/res/android" package=%q/>`, pkg)
	w, _ = zw.Create("classes.dex")
	w.Write([]byte("dex\n035\x00"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestFilesAndApps drops files and apps onto a simulated device through
// the whole service, in a process of its own, behind the real adb
// server: 50 MB, raw and multipart, arrive byte for byte while the
// service's resident memory grows less than 10 MB; an APK installs and
// pm lists it, a file that is not one gets the installer's failure, and
// the APK's file is removed after both; bad paths, view-only tokens and
// tokens for other devices are refused; a body over MAX_UPLOAD_BYTES is
// cut and leaves no file.
func TestFilesAndApps(t *testing.T) {
	testutil.Deadline(t, 3*time.Minute)
	limit := filesUploadSize + 64<<10 // a multipart body's framing
	base, sim, cmd, _ := childService(t, devicesim.Options{Width: 360, Height: 640, FPS: 15, Static: true}, map[string]string{
		"API_TOKENS":       e2eToken + ",viewer=" + filesViewToken + ";view,other=" + filesOtherToken + ";devices=emulator-*",
		"MAX_UPLOAD_BYTES": strconv.Itoa(limit),
	})
	dev := base + "/api/media/devices/" + sim.Addr()
	raw := "application/octet-stream"

	// Warm up: the code and buffers of an upload are in memory before
	// the memory is watched.
	if status, body := post(t, dev+"/files?name=warm.bin", e2eToken, raw, bytes.NewReader(make([]byte, 1<<20)), nil); status != 200 {
		t.Fatalf("warm-up upload: %d %s", status, body)
	}

	for _, multi := range []bool{false, true} {
		src := newPatternBody(filesUploadSize, 7)
		var body io.Reader = src
		ct, target, path := raw, dev+"/files?path=/sdcard/Download/raw.bin", "/sdcard/Download/raw.bin"
		if multi {
			pr, pw := io.Pipe()
			mw := multipart.NewWriter(pw)
			go func() {
				fw, _ := mw.CreateFormFile("file", "multi.bin")
				_, err := io.Copy(fw, src)
				if err == nil {
					err = mw.Close()
				}
				pw.CloseWithError(err)
			}()
			body, ct, target, path = pr, mw.FormDataContentType(), dev+"/files", "/sdcard/Download/multi.bin"
		}
		stop := rssWatch(t, cmd.Process.Pid)
		start := time.Now()
		status, answer := post(t, target, e2eToken, ct, body, nil)
		above, rss := stop()
		if status != 200 {
			t.Fatalf("multipart %v: %d %s", multi, status, answer)
		}
		var res struct {
			Path  string `json:"path"`
			Bytes int64  `json:"bytes"`
		}
		if json.Unmarshal(answer, &res) != nil || res.Path != path || res.Bytes != filesUploadSize {
			t.Fatalf("multipart %v: answer %s", multi, answer)
		}
		data, _, ok := sim.File(path)
		if !ok || len(data) != filesUploadSize || sha(data) != src.sum() {
			t.Fatalf("multipart %v: the device has %d bytes (ok %v), not the %d sent", multi, len(data), ok, filesUploadSize)
		}
		t.Logf("multipart %v: 50 MB in %v; the service's resident memory rose at most %.1f MB above %.1f MB",
			multi, time.Since(start).Round(time.Millisecond), float64(above)/1e6, float64(rss)/1e6)
		if above >= 10<<20 {
			t.Errorf("multipart %v: the service's resident memory rose %.1f MB during a 50 MB upload: it is not streamed", multi, float64(above)/1e6)
		}
	}

	// Progress as NDJSON.
	status, answer := post(t, dev+"/files?name=progress.bin", e2eToken, raw, io.MultiReader(bytes.NewReader(make([]byte, 3<<20))), map[string]string{"Accept": "application/x-ndjson"})
	lines := strings.Split(strings.TrimSpace(string(answer)), "\n")
	var last struct {
		Status int    `json:"status"`
		Path   string `json:"path"`
		Bytes  int64  `json:"bytes"`
	}
	if status != 200 || json.Unmarshal([]byte(lines[len(lines)-1]), &last) != nil || last.Status != 200 || last.Path != "/sdcard/Download/progress.bin" || last.Bytes != 3<<20 {
		t.Errorf("NDJSON upload: %d %s", status, answer)
	}

	// Apps: an APK installs, a file that is not one gets the installer's
	// failure; the APK's file is removed after both.
	status, answer = post(t, dev+"/apps", e2eToken, raw, bytes.NewReader(apkFile(t, "com.example.dropped")), nil)
	if status != 200 || string(answer) != `{"result":"Success"}`+"\n" {
		t.Errorf("APK: %d %s", status, answer)
	}
	if got := sim.Packages(); !slices.Contains(got, "com.example.dropped") {
		t.Errorf("installed packages %q", got)
	}
	var e struct{ Error, Message string }
	status, answer = post(t, dev+"/apps", e2eToken, raw, strings.NewReader("this is not an APK"), nil)
	if status != 422 || json.Unmarshal(answer, &e) != nil || e.Error != "unprocessable" ||
		!strings.HasPrefix(e.Message, "Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse /data/app/vmdl") || !strings.Contains(e.Message, "Failed to load asset path") {
		t.Errorf("not an APK: %d %s", status, answer)
	}
	if got := sim.FilePaths("/data/local/tmp"); len(got) != 0 {
		t.Errorf("files left in /data/local/tmp: %q", got)
	}
	var installs, removes int
	for _, argv := range sim.Commands() {
		switch {
		case len(argv) == 4 && argv[0] == "pm" && argv[1] == "install" && argv[2] == "-r" && strings.HasPrefix(argv[3], "/data/local/tmp/media-service-"):
			installs++
		case len(argv) == 3 && argv[0] == "rm" && argv[1] == "-f" && strings.HasPrefix(argv[2], "/data/local/tmp/media-service-"):
			removes++
		}
	}
	if installs != 2 || removes != 2 {
		t.Errorf("%d pm install and %d rm -f of the APK's file, want 2 and 2: %q", installs, removes, sim.CommandLines())
	}

	// Refusals.
	for _, tc := range []struct {
		url, token string
		want       int
	}{
		{dev + "/files?path=/system/app/x.apk", e2eToken, 400},
		{dev + "/files?path=/sdcard/../data/x", e2eToken, 400},
		{dev + "/files?path=/sdcard/Download", e2eToken, 422}, // a directory: the device refuses
		{dev + "/files?name=x", filesViewToken, 403},
		{dev + "/apps", filesViewToken, 403},
		{dev + "/files?name=x", filesOtherToken, 403},
		{dev + "/apps", filesOtherToken, 403},
	} {
		if status, answer := post(t, tc.url, tc.token, raw, strings.NewReader("x"), nil); status != tc.want {
			t.Errorf("%s (token %s): %d %s, want %d", tc.url, tc.token, status, answer, tc.want)
		}
	}

	// Over MAX_UPLOAD_BYTES, chunked: cut as it arrives, no file left.
	status, answer = post(t, dev+"/files?name=over.bin", e2eToken, raw, io.MultiReader(newPatternBody(int64(limit)+1<<20, 9)), nil)
	if status != 413 {
		t.Errorf("over MAX_UPLOAD_BYTES: %d %s", status, answer)
	}
	if _, _, ok := sim.File("/sdcard/Download/over.bin"); ok {
		t.Error("an upload over MAX_UPLOAD_BYTES left its file")
	}

	// What the metrics say.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := map[string]bool{
		`media_service_files_pushed_total{result="success"} 4`:   false,
		`media_service_files_pushed_total{result="too_large"} 1`: false,
		`media_service_app_installs_total{result="success"} 1`:   false,
		`media_service_app_installs_total{result="failure"} 1`:   false,
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if _, ok := want[sc.Text()]; ok {
			want[sc.Text()] = true
		}
	}
	for line, seen := range want {
		if !seen {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

// TestViewerDropInChromium drops files on the viewer page's picture in
// headless Chromium (DevTools Input.dispatchDragEvent, as a user's drag
// from the desktop): a text file is saved in /sdcard/Download and an APK
// installed, each with its progress and result on the page; a view-only
// session's page sends nothing.
func TestViewerDropInChromium(t *testing.T) {
	testutil.Deadline(t, 3*time.Minute)
	base, sim, _ := startService(t, map[string]string{"API_TOKENS": e2eToken + ",viewer=" + filesViewToken + ";view"})
	p := openViewer(t, base, sim, 360, 640)
	dir := t.TempDir()
	text := []byte("dropped on the screen\n")
	txt, apk := dir+"/note.txt", dir+"/dropped.apk"
	if err := os.WriteFile(txt, text, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(apk, apkFile(t, "com.example.dragged"), 0o644); err != nil {
		t.Fatal(err)
	}
	drop := func(files ...string) {
		t.Helper()
		data := map[string]any{"items": []any{}, "files": files, "dragOperationsMask": 1}
		for _, typ := range []string{"dragEnter", "dragOver", "drop"} {
			params := map[string]any{"type": typ, "x": p.rect.X + p.rect.W/2, "y": p.rect.Y + p.rect.H/2, "data": data}
			if err := p.b.CallPage(context.Background(), "Input.dispatchDragEvent", params, nil); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
		}
	}
	type transfer struct {
		Name, Kind, Text string
		Status           int
		Done             bool
	}
	drop(txt, apk)
	p.waitJS("both transfers to end", `viewer.transfers.length === 2 && viewer.transfers.every((t) => t.done)`)
	var got []transfer
	p.eval(`viewer.transfers`, &got)
	for _, tr := range got {
		if tr.Status != 200 {
			t.Errorf("transfer %+v", tr)
		}
	}
	if b, _, ok := sim.File("/sdcard/Download/note.txt"); !ok || !bytes.Equal(b, text) {
		t.Errorf("the dropped file on the device: %q (ok %v)", b, ok)
	}
	if !slices.Contains(sim.Packages(), "com.example.dragged") {
		t.Errorf("the dropped APK is not installed: %q", sim.Packages())
	}
	var shown string
	p.eval(`document.getElementById("transfers").textContent`, &shown)
	if !strings.Contains(shown, "saved to /sdcard/Download/note.txt") || !strings.Contains(shown, "installed: Success") {
		t.Errorf("the page shows %q", shown)
	}

	// A view-only session's page sends nothing.
	if err := p.b.Navigate(fmt.Sprintf("%s/?device=%s&token=%s", base, sim.Addr(), filesViewToken)); err != nil {
		t.Fatal(err)
	}
	p.waitJS("the view-only page to play", `viewer.connected && viewer.framesDecoded > 0 && viewer.viewOnly`)
	p.locate()
	os.WriteFile(txt, []byte("from a viewer"), 0o644)
	drop(txt)
	p.waitJS("the refused transfer", `viewer.transfers.length === 1 && viewer.transfers[0].done`)
	p.eval(`viewer.transfers`, &got)
	if got[0].Status != 403 || !strings.Contains(got[0].Text, "view-only") {
		t.Errorf("view-only drop: %+v", got[0])
	}
	if b, _, _ := sim.File("/sdcard/Download/note.txt"); !bytes.Equal(b, text) {
		t.Errorf("a view-only page's drop reached the device: %q", b)
	}
}
