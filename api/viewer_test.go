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
	"github.com/pion/webrtc/v4/pkg/media"
)

// pionSessions answers offers with Pion peers that send a video track:
// silent, enough for the viewer page to connect, or with video set, that
// frame (a VP8 keyframe) 15 times a second. onInput, when set, gets the
// messages of each session's input channel.
type pionSessions struct {
	api     *webrtc.API
	video   []byte
	onInput func(session string, dc *webrtc.DataChannel, msg []byte)

	mu      sync.Mutex
	next    int
	pcs     map[string]*webrtc.PeerConnection
	callers []Caller
	owners  map[string]Caller
	stops   map[string]chan struct{}
	wg      sync.WaitGroup // the video loops
}

func newPionSessions() *pionSessions {
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	return &pionSessions{api: webrtc.NewAPI(webrtc.WithSettingEngine(se)), pcs: map[string]*webrtc.PeerConnection{},
		owners: map[string]Caller{}, stops: map[string]chan struct{}{}}
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
	p.mu.Lock()
	p.next++
	id := fmt.Sprintf("s%d", p.next)
	p.mu.Unlock()
	// The page's input channel: taken, as the service takes it (Pion
	// closes a channel nobody takes).
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			if p.onInput != nil {
				p.onInput(id, dc, m.Data)
			}
		})
	})
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
	p.pcs[id] = pc
	p.callers = append(p.callers, c)
	p.owners[id] = c
	if p.video != nil {
		stop := make(chan struct{})
		p.stops[id] = stop
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			tick := time.NewTicker(time.Second / 15)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					_ = track.WriteSample(media.Sample{Data: p.video, Duration: time.Second / 15})
				}
			}
		}()
	}
	return id, pc.LocalDescription().SDP, nil
}

func (p *pionSessions) List() []SessionView {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []SessionView{}
	for id := range p.pcs {
		out = append(out, SessionView{ID: id})
	}
	return out
}

func (p *pionSessions) Get(id string) (SessionView, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.pcs[id]; !ok {
		return SessionView{}, errUnknown
	}
	c := p.owners[id]
	return SessionView{ID: id, Token: c.Token, ViewOnly: c.ViewOnly}, nil
}

func (p *pionSessions) Delete(id string) error {
	p.mu.Lock()
	pc, ok := p.pcs[id]
	delete(p.pcs, id)
	if stop := p.stops[id]; stop != nil {
		close(stop)
		delete(p.stops, id)
	}
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
	p.wg.Wait()
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
	// The browser goes first, so that the last stop races no socket of it.
	b.Close()

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

// refusingSessions refuses every session with err.
type refusingSessions struct {
	pionSessions
	err     error
	mu      sync.Mutex
	refused int
}

func (r *refusingSessions) Create(context.Context, Caller, string, string, string) (string, string, error) {
	r.mu.Lock()
	r.refused++
	r.mu.Unlock()
	return "", "", r.err
}

func (r *refusingSessions) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

// TestViewerPageExplainsRefusals: when the API refuses the page, it says
// so on the page, in words, with the API's own message: without a token
// (401) what to do about it, and waits for the user; at a limit (503)
// which limit, and tries again after Retry-After.
func TestViewerPageExplainsRefusals(t *testing.T) {
	const secret = "refusal-secret-0123456789"
	limit := &rtc.LimitError{Limit: rtc.LimitViewersPerDevice, Max: 2}
	sessions := &refusingSessions{err: limit}
	s := New(Options{Tokens: []Token{{Name: "page", Secret: secret}}, Log: slog.New(slog.DiscardHandler)}, Deps{
		Sessions:    sessions,
		ErrorStatus: rtc.StatusCode,
		Devices: func(context.Context) ([]DeviceView, error) {
			return []DeviceView{{Serial: "dev1", State: "device", Model: "sim"}}, nil
		},
	})
	base := serve(t, s)
	b := chromium.Launch(t)

	type refusal struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Text    string `json:"text"`
		Shown   string `json:"shown"` // the message box's text, "" while hidden
		URL     string `json:"url"`
	}
	get := func() (refusal, error) {
		var r refusal
		err := b.Eval(`(() => {
			const box = document.getElementById("refusal");
			const r = (window.viewer && viewer.refusal) || {};
			return {status: r.status || 0, message: r.message || "", text: r.text || "",
				shown: box && !box.hidden && box.offsetHeight > 0 ? box.textContent : "", url: location.href};
		})()`, &r)
		return r, err
	}
	wait := func(what string, cond func(refusal) bool) refusal {
		t.Helper()
		var r refusal
		testutil.EventuallyErr(t, what, time.Minute, func() (bool, error) {
			var err error
			r, err = get()
			return cond(r), err
		})
		return r
	}

	// No token: the devices list is refused.
	if err := b.Navigate(base + "/?device=dev1"); err != nil {
		t.Fatal(err)
	}
	r := wait("the page explains the 401", func(r refusal) bool { return r.Status == 401 && r.Shown != "" })
	for _, want := range []string{"needs an API token", "?token=", "API token box"} {
		if !strings.Contains(r.Shown, want) {
			t.Errorf("401: the page shows %q; want it to say %q", r.Shown, want)
		}
	}
	if r.Message == "" || !strings.Contains(r.Shown, r.Message) {
		t.Errorf("401: the page shows %q without the API's message %q", r.Shown, r.Message)
	}

	// With the token, the session is refused at a limit: 503 naming
	// MAX_VIEWERS_PER_DEVICE, with Retry-After.
	if err := b.Navigate(base + "/?device=dev1&token=" + secret); err != nil {
		t.Fatal(err)
	}
	r = wait("the page explains the 503", func(r refusal) bool { return r.Status == 503 && r.Shown != "" })
	for _, want := range []string{"dev1", "MAX_VIEWERS_PER_DEVICE", "Trying again in", limit.Error()} {
		if !strings.Contains(r.Shown, want) {
			t.Errorf("503: the page shows %q; want it to say %q", r.Shown, want)
		}
	}
	if strings.Contains(r.URL, secret) {
		t.Errorf("the token stayed in the address bar: %s", r.URL)
	}
	// It tries again by itself after Retry-After.
	first := sessions.count()
	testutil.Eventually(t, "the page tries again after Retry-After", time.Minute, func() bool { return sessions.count() > first })
}
