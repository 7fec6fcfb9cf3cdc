package service

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/chromium"
	"github.com/cloudphone/media-service/internal/simtest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/native"
)

// pageState is what the viewer page shows of itself (window.viewer and
// the device list).
type pageState struct {
	Frames  int      `json:"frames"`
	Session string   `json:"session"`
	Active  string   `json:"active"`  // the device whose button is highlighted
	Buttons int      `json:"buttons"` // devices listed
	Status  string   `json:"status"`
	Search  string   `json:"search"` // location.search: the token must be gone
	Stored  string   `json:"stored"` // the token kept in sessionStorage
	Errors  []string `json:"errors"`
}

func readPage(tb testing.TB, b *chromium.Browser) (pageState, error) {
	tb.Helper()
	var s pageState
	err := b.Eval(`window.viewer ? {frames: viewer.framesDecoded, session: viewer.session || "",
		active: (document.querySelector("#devices button.active") || {dataset: {}}).dataset.serial || "",
		buttons: document.querySelectorAll("#devices button").length, status: document.getElementById("status").textContent,
		search: location.search, stored: sessionStorage.getItem("media-token") || "", errors: viewer.errors} : null`, &s)
	return s, err
}

// playing waits until the page decodes frames of device, and keeps
// decoding.
func playing(tb testing.TB, b *chromium.Browser, device string) pageState {
	tb.Helper()
	var s pageState
	testutil.EventuallyErr(tb, "the page decodes frames of "+device, 60*time.Second, func() (bool, error) {
		var err error
		s, err = readPage(tb, b)
		return s.Frames >= 10 && s.Session != "", err
	})
	if s.Active != device {
		tb.Fatalf("the page plays %q, want %s: %+v", s.Active, device, s)
	}
	first := s.Frames
	testutil.EventuallyErr(tb, "frames decoded to grow", 30*time.Second, func() (bool, error) {
		var err error
		s, err = readPage(tb, b)
		return s.Frames >= first+10, err
	})
	return s
}

// TestViewerPlaysAtOnce opens the viewer page in headless Chromium as the
// README has it, /?token=..., with no device named: with one device in
// the "device" state, it plays it at once. The token is gone from the
// address, kept in the tab's sessionStorage. With a second device it
// plays none until one is clicked, and says so; ?device= plays the device
// it names.
func TestViewerPlaysAtOnce(t *testing.T) {
	testutil.Deadline(t, 4*time.Minute)
	if !native.Available {
		t.Skip("built without cgo")
	}
	const token = "viewer-token-0123456789"
	adbs := adbtest.Start(t)
	opts := devicesim.Options{Width: 160, Height: 240, FPS: 10}
	one := simtest.Device(t, adbs, opts)
	svc := runService(t, adbs.Addr(), map[string]string{"AUTH_DISABLED": "false", "API_TOKENS": token}, nil)
	b := chromium.Launch(t)

	if err := b.Navigate(svc.base + "/?token=" + token); err != nil {
		t.Fatal(err)
	}
	s := playing(t, b, one.Addr())
	if s.Search != "" || s.Stored != token {
		t.Fatalf("the token: location.search %q (want it gone), sessionStorage %q (want it kept)", s.Search, s.Stored)
	}
	if len(s.Errors) > 0 {
		t.Errorf("errors on the page: %v", s.Errors)
	}
	// The stats overlay, as the README lists it: frame rate, bit rate,
	// round trip, jitter buffer, decode time and glass-to-glass latency
	// (devicesim stamps its frames) all show a value.
	testutil.EventuallyErr(t, "every row of the stats overlay filled", 30*time.Second, func() (bool, error) {
		var empty []string
		err := b.Eval(`["s-fps", "s-bitrate", "s-rtt", "s-jitter", "s-decode", "s-latency"].filter(
			(id) => { const e = document.getElementById(id); return !e || !/[0-9]/.test(e.textContent); })`, &empty)
		if err == nil && len(empty) > 0 {
			err = fmt.Errorf("rows without a value: %v", empty)
		}
		return err == nil, err
	})

	// Two devices: the page lists both and plays none.
	two := simtest.Device(t, adbs, opts)
	if err := b.Navigate(svc.base + "/?token=" + token); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyErr(t, "the page lists both devices", 30*time.Second, func() (bool, error) {
		var err error
		s, err = readPage(t, b)
		return s.Buttons == 2 && strings.Contains(s.Status, "click one"), err
	})
	// The choice is made when the list is shown: nothing is playing.
	if s.Session != "" || s.Active != "" {
		t.Fatalf("with two devices the page plays %q (session %q) unasked", s.Active, s.Session)
	}

	// ?device= names the one to play; the token now comes from the tab.
	if err := b.Navigate(fmt.Sprintf("%s/?device=%s", svc.base, url.QueryEscape(two.Addr()))); err != nil {
		t.Fatal(err)
	}
	playing(t, b, two.Addr())

	// The browser goes first, every socket of its closed, so that the
	// service's stop never races one; the stop is then clean.
	b.Close()
	if err := svc.stop(); err != nil {
		t.Fatalf("stopping the service: %v", err)
	}
	for _, line := range strings.Split(svc.logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("logged: %s", line)
		}
	}
}
