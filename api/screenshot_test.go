package api

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeShots is a Screenshot dependency whose failures are chosen by the
// device ID (as contractSessions'), and which records its requests.
type fakeShots struct {
	mu   sync.Mutex
	reqs []ScreenshotRequest
	devs []string
}

func (f *fakeShots) take(_ context.Context, device string, req ScreenshotRequest) (Screenshot, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.devs = append(f.devs, device)
	f.mu.Unlock()
	switch device {
	case "unknown-device":
		return Screenshot{}, errNoDevice
	case "broken-device":
		return Screenshot{}, errBrokenDeps
	case "busy-device":
		return Screenshot{}, errBusy
	}
	w, h := 90, 160
	if req.MaxWidth > 0 && req.MaxWidth < w {
		w, h = req.MaxWidth, h*req.MaxWidth/w
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	var buf bytes.Buffer
	shot := Screenshot{ContentType: "image/png", Source: "capture", Taken: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	if req.Format == "jpeg" {
		shot.ContentType = "image/jpeg"
		jpeg.Encode(&buf, img, nil)
	} else {
		png.Encode(&buf, img)
	}
	shot.Data = buf.Bytes()
	return shot, nil
}

func (f *fakeShots) last() (string, ScreenshotRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return "", ScreenshotRequest{}
	}
	return f.devs[len(f.devs)-1], f.reqs[len(f.reqs)-1]
}

// screenshotContract runs the screenshot route's exchanges for
// TestOpenAPIResponses: full serves contractDeps, none no Deps.
func screenshotContract(t *testing.T, k *contract, full, none string) {
	t.Helper()
	const p = "/api/media/devices/"
	for _, x := range []exchange{
		{method: "GET", path: p + "127.0.0.1%3A5555/screenshot", token: aliceSecret, want: 200, valid: true},
		{method: "GET", path: p + "127.0.0.1:5555/screenshot?format=jpeg&maxWidth=64", token: aliceSecret, want: 200, valid: true},
		{method: "GET", path: p + "emulator-5554/screenshot", token: emuSecret, header: map[string]string{"Accept": "image/jpeg"}, want: 200, valid: true},
		{method: "GET", path: p + "127.0.0.1:5555/screenshot", token: viewerSecret, want: 200, valid: true},
		{method: "GET", path: p + "127.0.0.1:5555/screenshot?format=gif", token: aliceSecret, want: 400},
		{method: "GET", path: p + "127.0.0.1:5555/screenshot?maxWidth=8", token: aliceSecret, want: 400},
		{method: "GET", path: p + "127.0.0.1:5555/screenshot?maxWidth=4097", token: aliceSecret, want: 400},
		{method: "GET", path: p + "127.0.0.1:5555/screenshot?maxWidth=wide", token: aliceSecret, want: 400},
		{method: "GET", path: p + "dev%3B1/screenshot", token: aliceSecret, want: 400},
		{method: "GET", path: p + "127.0.0.1:5555/screenshot", want: 401},
		{method: "GET", path: p + "127.0.0.1:5555/screenshot", token: emuSecret, want: 403, valid: true},
		{method: "GET", path: p + "unknown-device/screenshot", token: aliceSecret, want: 404, valid: true},
		{method: "GET", path: p + "broken-device/screenshot", token: aliceSecret, want: 500, valid: true},
		{method: "GET", path: p + "busy-device/screenshot", token: aliceSecret, want: 503, valid: true},
	} {
		resp, _ := k.do(t, full, x)
		if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", x.method, x.path)
		}
	}
	k.do(t, none, exchange{method: "GET", path: p + "dev1/screenshot", token: aliceSecret, want: 503, valid: true})
}

// TestScreenshotRoute: the format by ?format= (which wins) or Accept,
// PNG by default; the width bound; the headers; device rights (a
// view-only token may take one; a token for other devices gets 403
// without the dependency being asked); errors with their statuses.
func TestScreenshotRoute(t *testing.T) {
	shots := &fakeShots{}
	deps := contractDeps(&contractSessions{})
	deps.Screenshot = shots.take
	base := startServer(t, Options{Tokens: testTokens, RateLimit: 1_000_000}, deps)
	get := func(path, token string, header map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	const dev = "/api/media/devices/127.0.0.1%3A5555/screenshot"
	for _, c := range []struct {
		name, query string
		accept      string
		format      string
		maxWidth    int
	}{
		{"default", "", "", "png", 0},
		{"browser", "", "text/html,application/xhtml+xml,image/avif,image/webp,*/*;q=0.8", "png", 0},
		{"accept jpeg", "", "image/jpeg", "jpeg", 0},
		{"accept ranks jpeg", "", "image/png;q=0.5, image/jpeg", "jpeg", 0},
		{"accept ranks png", "", "image/jpeg;q=0.4, image/*;q=0.9", "png", 0},
		{"accept wildcard", "", "image/*", "png", 0},
		{"accept json only", "", "application/json", "png", 0},
		{"format wins", "?format=png", "image/jpeg", "png", 0},
		{"format jpg", "?format=JPG", "", "jpeg", 0},
		{"thumbnail", "?maxWidth=32&format=jpeg", "", "jpeg", 32},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{}
			if c.accept != "" {
				h["Accept"] = c.accept
			}
			resp, body := get(dev+c.query, viewerSecret, h) // view-only: allowed
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			device, req := shots.last()
			if device != "127.0.0.1:5555" || req.Format != c.format || req.MaxWidth != c.maxWidth {
				t.Fatalf("asked %q %+v, want %s %d", device, req, c.format, c.maxWidth)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "image/"+c.format {
				t.Fatalf("Content-Type %q", ct)
			}
			var img image.Image
			var err error
			if c.format == "jpeg" {
				img, err = jpeg.Decode(bytes.NewReader(body))
			} else {
				img, err = png.Decode(bytes.NewReader(body))
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.maxWidth > 0 && img.Bounds().Dx() > c.maxWidth {
				t.Fatalf("%d wide, asked at most %d", img.Bounds().Dx(), c.maxWidth)
			}
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Screenshot-Source") != "capture" ||
				!strings.Contains(resp.Header.Get("Content-Disposition"), `filename=127.0.0.1_5555-20250102-030405.`) {
				t.Fatalf("headers %v", resp.Header)
			}
		})
	}

	n := len(shots.reqs)
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{dev, emuSecret, 403}, // limited to emulator-*
		{"/api/media/devices/unknown-device/screenshot", aliceSecret, 404},
		{"/api/media/devices/busy-device/screenshot", aliceSecret, 503},
		{dev + "?format=webp", aliceSecret, 400},
		{dev + "?maxWidth=15", aliceSecret, 400},
		{dev, "", 401},
	} {
		resp, body := get(c.path, c.token, nil)
		if resp.StatusCode != c.want || !bytes.Contains(body, []byte(`"message"`)) {
			t.Errorf("%s: %d %s, want %d", c.path, resp.StatusCode, body, c.want)
		}
	}
	if asked := len(shots.reqs) - n; asked != 2 {
		t.Errorf("the dependency was asked %d times; only the 404 and 503 should reach it", asked)
	}
}

// fakeLocator is a Fleet that says where devices run.
type fakeLocator struct {
	fakeFleet
	atMu sync.Mutex
	at   string
}

func (f *fakeLocator) RunningAt(context.Context, string) (string, error) {
	f.atMu.Lock()
	defer f.atMu.Unlock()
	return f.at, nil
}

// TestScreenshotForwardedToOwner: in a fleet, a client's screenshot of a
// device running on another instance is answered by that instance (the
// request signed and forwarded, its image and headers passed back); a
// forwarded request is served where it lands; an owner that does not
// answer leaves the screenshot to this instance.
func TestScreenshotForwardedToOwner(t *testing.T) {
	secret := []byte("fleet-secret-0123456789")
	var ownerShots fakeShots
	owner := New(Options{Tokens: testTokens, FleetSecret: secret, RateLimit: 1_000_000}, Deps{Screenshot: ownerShots.take, Fleet: &fakeLocator{}})
	ownerBase := serve(t, owner)

	var localShots fakeShots
	loc := &fakeLocator{at: ownerBase}
	local := serve(t, New(Options{Tokens: testTokens, FleetSecret: secret, RateLimit: 1_000_000}, Deps{Screenshot: localShots.take, Fleet: loc}))
	req, _ := http.NewRequest("GET", local+"/api/media/devices/"+url.PathEscape("127.0.0.1:5555")+"/screenshot?maxWidth=40", nil)
	req.Header.Set("Authorization", "Bearer "+aliceSecret)
	req.Header.Set("Accept", "image/jpeg")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get("X-Screenshot-Source") != "capture" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	if img, err := jpeg.Decode(bytes.NewReader(body)); err != nil || img.Bounds().Dx() != 40 {
		t.Fatalf("forwarded image: %v", err)
	}
	if dev, r := ownerShots.last(); dev != "127.0.0.1:5555" || r.Format != "jpeg" || r.MaxWidth != 40 {
		t.Fatalf("the owner took %q %+v", dev, r)
	}
	if len(localShots.reqs) != 0 {
		t.Fatal("this instance took a screenshot of a device running elsewhere")
	}

	// An owner that does not answer: taken here.
	ln := httptest.NewServer(http.NotFoundHandler())
	dead := ln.URL
	ln.Close()
	loc.atMu.Lock()
	loc.at = dead
	loc.atMu.Unlock()
	resp2, _ := http.DefaultClient.Do(mustRequest(t, "GET", local+"/api/media/devices/dev1/screenshot", aliceSecret))
	resp2.Body.Close()
	if resp2.StatusCode != 200 || len(localShots.reqs) != 1 {
		t.Fatalf("with a silent owner: %d, %d taken here", resp2.StatusCode, len(localShots.reqs))
	}
}

func TestAcceptQ(t *testing.T) {
	for _, c := range []struct {
		accept string
		want   float64
	}{
		{"image/png", 1},
		{"image/png;q=0.3", 0.3},
		{"image/*;q=0.5, image/png;q=0.2", 0.2}, // the most specific range decides
		{"*/*;q=0.1", 0.1},
		{"text/html", -1},
		{"image/png;q=bad", 1},
	} {
		if got := acceptQ([]string{c.accept}, "image/png"); got != c.want {
			t.Errorf("%q: q %v, want %v", c.accept, got, c.want)
		}
	}
	if acceptQ(nil, "image/png") != 1 {
		t.Error("no Accept takes everything")
	}
}
