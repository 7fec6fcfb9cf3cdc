package api

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/chromium"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/rtc"

	"github.com/labstack/echo/v4"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// pionSessions answers offers with Pion peers that send a (silent) video
// track: enough for the viewer page to connect.
type pionSessions struct {
	api *webrtc.API

	mu      sync.Mutex
	next    int
	pcs     map[string]*webrtc.PeerConnection
	callers []Caller
}

func newPionSessions() *pionSessions {
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	return &pionSessions{api: webrtc.NewAPI(webrtc.WithSettingEngine(se)), pcs: map[string]*webrtc.PeerConnection{}}
}

func (p *pionSessions) Create(_ context.Context, c Caller, device, user, offer string) (string, string, error) {
	pc, err := p.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", "", err
	}
	fail := func(err error) (string, string, error) { pc.Close(); return "", "", err }
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", device)
	if err != nil {
		return fail(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		return fail(err)
	}
	// The page's input channel: taken, as the service takes it (Pion
	// closes a channel nobody takes).
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { dc.OnMessage(func(webrtc.DataChannelMessage) {}) })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(err)
	}
	<-gathered
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	id := fmt.Sprintf("s%d", p.next)
	p.pcs[id] = pc
	p.callers = append(p.callers, c)
	return id, pc.LocalDescription().SDP, nil
}

func (p *pionSessions) List() []rtc.SessionInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []rtc.SessionInfo{}
	for id := range p.pcs {
		out = append(out, rtc.SessionInfo{ID: id})
	}
	return out
}

func (p *pionSessions) Get(id string) (rtc.SessionInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.pcs[id]; !ok {
		return rtc.SessionInfo{}, errUnknown
	}
	return rtc.SessionInfo{ID: id}, nil
}

func (p *pionSessions) Delete(id string) error {
	p.mu.Lock()
	pc, ok := p.pcs[id]
	delete(p.pcs, id)
	p.mu.Unlock()
	if !ok {
		return errUnknown
	}
	return pc.Close()
}

func (p *pionSessions) AddCandidate(id, c string) error   { _, err := p.Get(id); return err }
func (p *pionSessions) AddSDPFragment(id, f string) error { _, err := p.Get(id); return err }

// ids returns the sessions' ids.
func (p *pionSessions) ids() []string {
	var out []string
	for _, s := range p.List() {
		out = append(out, s.ID)
	}
	return out
}

func (p *pionSessions) closeAll() {
	for _, id := range p.ids() {
		p.Delete(id)
	}
}

func (p *pionSessions) created() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.callers)
}

// TestViewerPageInChromium: the page takes the token from the URL once
// and strips it from the address bar, sends no Referer, and connects
// again by itself when its session is deleted and when the service
// restarts.
func TestViewerPageInChromium(t *testing.T) {
	const secret = "page-secret-0123456789"
	sessions := newPionSessions()
	defer sessions.closeAll()
	var mu sync.Mutex
	var referers []string
	start := func(ln net.Listener) (stop func()) {
		s := New(Options{Tokens: []Token{{Name: "page", Secret: secret}}, Log: slog.New(slog.DiscardHandler)}, Deps{
			Sessions:    sessions,
			ErrorStatus: func(error) int { return 404 },
			Devices: func(context.Context) ([]DeviceView, error) {
				return []DeviceView{{Serial: "dev1", State: "device", Model: "sim"}}, nil
			},
		})
		s.echo.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if r := c.Request().Referer(); r != "" {
					mu.Lock()
					referers = append(referers, r)
					mu.Unlock()
				}
				return next(c)
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, ln) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	stop := start(ln)
	defer func() { stop() }()

	b := chromium.Launch(t)
	if err := b.Navigate(fmt.Sprintf("http://%s/?device=dev1&token=%s", addr, secret)); err != nil {
		t.Fatal(err)
	}
	type state struct {
		Connected  bool     `json:"connected"`
		Reconnects int      `json:"reconnects"`
		Session    string   `json:"session"`
		URL        string   `json:"url"`
		Errors     []string `json:"errors"`
	}
	get := func() (state, error) {
		var s state
		err := b.Eval(`window.viewer ? {connected: viewer.connected, reconnects: viewer.reconnects, session: viewer.session || "", url: location.href, errors: viewer.errors} : {}`, &s)
		return s, err
	}
	var s state
	waitFor := func(what string, cond func(state) bool) {
		t.Helper()
		testutil.EventuallyErr(t, what, time.Minute, func() (bool, error) {
			var err error
			s, err = get()
			return cond(s), err
		})
	}
	waitFor("the page connects", func(s state) bool { return s.Connected })
	if strings.Contains(s.URL, secret) || strings.Contains(s.URL, "token=") || !strings.Contains(s.URL, "device=dev1") {
		t.Fatalf("the address bar after loading: %s", s.URL)
	}
	if s.Reconnects != 0 {
		t.Fatalf("reconnects %d before any loss: %q", s.Reconnects, s.Errors)
	}

	// The session is deleted behind the page's back.
	first := s.Session
	if err := sessions.Delete(first); err != nil {
		t.Fatal(err)
	}
	waitFor("the page reconnects after its session ends", func(s state) bool {
		return s.Connected && s.Reconnects >= 1 && s.Session != "" && s.Session != first
	})

	// The service restarts: gone (its sessions with it), then back on the
	// same address.
	stop()
	sessions.closeAll()
	waitFor("the page notices", func(s state) bool { return !s.Connected })
	// While the service is down, the page's attempts fail, and it keeps
	// trying.
	failures := func(s state) (n int) {
		for _, e := range s.Errors {
			if strings.HasPrefix(e, "session: ") {
				n++
			}
		}
		return n
	}
	waitFor("attempts fail while the service is down", func(s state) bool { return failures(s) >= 2 })
	before := s.Reconnects
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	stop = start(ln)
	waitFor("the page reconnects after the restart", func(s state) bool { return s.Connected && s.Reconnects > before })
	t.Logf("%d reconnects, %d sessions created; errors on the page: %v", s.Reconnects, sessions.created(), s.Errors)

	mu.Lock()
	defer mu.Unlock()
	if len(referers) > 0 {
		t.Fatalf("the page sent Referer headers: %q", referers)
	}
	for _, c := range sessions.callers {
		if c.Token != "page" {
			t.Fatalf("a session created as %+v", c)
		}
	}
}
