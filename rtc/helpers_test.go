package rtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/cloudphone/media-service/capture/annexb"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/native"
)

// testLog is quiet unless RTC_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("RTC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// loopback restricts ICE to UDP on the loopback interface, without mDNS:
// fast and independent of the machine's network.
func loopback(se *webrtc.SettingEngine) {
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
}

// testConfig is a Config for tests: loopback ICE on a wide port range,
// quick sweeps.
func testConfig() Config {
	return Config{
		ICEPortMin: 40000, ICEPortMax: 44000,
		IdleTimeout:   20 * time.Second,
		SweepInterval: 100 * time.Millisecond,
		Log:           testLog(),
		settings:      loopback,
	}
}

// eventually waits for cond, failing the test after a generous deadline
// (a hang, not a timing threshold).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, testutil.Generous, cond)
}

// waitDone waits for a session to end; after a generous deadline it
// dumps every goroutine and fails.
func waitDone(t testing.TB, s *Session) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(45 * time.Second):
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		t.Fatalf("session %s did not end", s.ID())
	}
}

// stream is a looped sequence of encoded units: groups of pictures that
// each start with a keyframe (SPS, PPS, IDR for H.264).
type stream struct {
	codec media.Codec
	plid  string
	units []media.Unit
	real  bool // real H.264 from native's encoder
}

var (
	h264Once   sync.Once
	h264Stream *stream
)

// testH264 returns H.264 from native's libx264 encoder (160x120, 90
// frames, a keyframe every 30), or, without cgo, synthetic units of the
// same shape that packetize but do not decode.
func testH264(t testing.TB) *stream {
	h264Once.Do(func() {
		s, err := encodeH264(160, 120, 90, 30)
		if errors.Is(err, native.ErrUnavailable) {
			s = syntheticStream(media.H264, 90, 30)
		} else if err != nil {
			panic(fmt.Sprintf("encode test stream: %v", err))
		}
		h264Stream = s
	})
	return h264Stream
}

// encodeH264 encodes a moving picture with native's encoder.
func encodeH264(w, h, frames, gop int) (*stream, error) {
	pool, err := native.NewFramePool(w, h, native.PixelFormatYUV420P, 4)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	enc, err := native.NewEncoder(native.Options{
		Width: w, Height: h, FrameRate: 30, BitRate: 300_000,
		KeyFrameInterval: gop, Preset: "ultrafast", Threads: 1,
	})
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	s := &stream{codec: media.H264, real: true}
	for n := range frames {
		f, err := pool.Get()
		if err != nil {
			return nil, err
		}
		fillPicture(n, w, h, f.Plane(0), f.Stride(0), f.Plane(1), f.Stride(1), f.Plane(2), f.Stride(2))
		f.PTS = time.Duration(n) * time.Second / 30
		if err := enc.Encode(f, func(p native.Packet) error {
			s.units = append(s.units, media.Unit{
				Data: append([]byte(nil), p.Data...), KeyFrame: p.KeyFrame,
				Codec: media.H264, Encoder: enc.Name(),
			})
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if len(s.units) == 0 || !s.units[0].KeyFrame {
		return nil, errors.New("the encoder's first unit is not a keyframe")
	}
	for nal := range annexb.NALUnits(s.units[0].Data) {
		if annexb.NALType(nal) == annexb.NALSPS {
			sps, err := annexb.ParseSPS(nal)
			if err != nil {
				return nil, err
			}
			s.plid = sps.ProfileLevelID()
		}
	}
	if s.plid == "" {
		return nil, errors.New("no SPS in the first unit")
	}
	return s, nil
}

// fillPicture draws frame n of a moving gradient with a box.
func fillPicture(n, w, h int, y []byte, ys int, u []byte, us int, v []byte, vs int) {
	bx, by := (n*5)%(w-w/4), (n*3)%(h-h/4)
	for row := range h {
		for col := range w {
			val := 40 + (col*120)/w + (row*60)/h + (n*3)%40
			if col >= bx && col < bx+w/4 && row >= by && row < by+h/4 {
				val = 220
			}
			y[row*ys+col] = byte(val)
		}
	}
	for row := range h / 2 {
		for col := range w / 2 {
			u[row*us+col] = byte(100 + col + n%16)
			v[row*vs+col] = byte(150 - row)
		}
	}
}

// syntheticStream makes units that look like codec's but carry noise.
func syntheticStream(codec media.Codec, frames, gop int) *stream {
	r := rand.New(rand.NewPCG(1, 2))
	s := &stream{codec: codec, plid: "42e01f"}
	for n := range frames {
		key := n%gop == 0
		var d []byte
		switch {
		case codec == media.VP8:
			d = make([]byte, 400)
			for i := range d {
				d[i] = byte(r.Uint32())
			}
			if key {
				d[0] &^= 1 // VP8 keyframe bit
			} else {
				d[0] |= 1
			}
		case key:
			d = append(d, 0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0x8c, 0x8d, 0x40)
			d = append(d, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80)
			d = append(d, 0, 0, 0, 1, 0x65)
			d = appendNoise(d, r, 1800)
		default:
			d = append(d, 0, 0, 0, 1, 0x41)
			d = appendNoise(d, r, 300)
		}
		s.units = append(s.units, media.Unit{Data: d, KeyFrame: key, Codec: codec, Encoder: "synthetic"})
	}
	return s
}

// syntheticStreamH264 is a short synthetic H.264 stream.
func syntheticStreamH264() *stream { return syntheticStream(media.H264, 30, 10) }

// appendNoise appends n bytes that hold no start code.
func appendNoise(d []byte, r *rand.Rand, n int) []byte {
	for range n {
		d = append(d, byte(r.Uint32()%254+1))
	}
	return d
}

// fakeDevice is a test device: it records what rtc asks of it through its
// viewers' feeds, and arbitrates control as the device package does.
type fakeDevice struct {
	id string
	s  *stream

	keyFrames    atomic.Int64 // RequestKeyFrame calls that reached the device
	wantKey      atomic.Bool
	estimates    atomic.Int64 // SetEstimate calls
	lastEstimate atomic.Int64 // bits per second
	inputs       chan media.Input
	inputErr     error // Input's error, for a controller; set before the device is joined

	// The device's clipboard and input state (inputState, once hasState),
	// and its viewers' notice subscriptions (guarded by noticeMu).
	noticeMu   sync.Mutex
	clipboard  string
	clipErr    error
	inputState media.InputState
	hasState   bool
	noticeFns  map[int]func(media.InputNotice)
	noticeNext int

	// control is who controls the device, by the device package's rule.
	control fanout.Control

	// While the device runs (guarded by the provider's mu): its viewers,
	// its fan-out and its pump.
	refs int
	b    *fanout.Stream
	pump *pump
}

func (d *fakeDevice) format() media.Format {
	f := media.Format{Codec: d.s.codec}
	if d.s.codec == media.H264 {
		f.ProfileLevelID = d.s.plid
	}
	return f
}

func (d *fakeDevice) requestKeyFrame() {
	d.keyFrames.Add(1)
	d.wantKey.Store(true)
}

// pump loops a device's stream into its broadcaster.
type pump struct {
	stop chan struct{}
	done chan struct{}
}

// fakeProvider is a Provider over fake devices. Each device has one
// broadcaster and one pump goroutine that loops its stream into it every
// interval, jumping to the next keyframe when asked; both start with the
// device's first viewer and stop when its last feed closes (no linger).
type fakeProvider struct {
	interval time.Duration
	log      *slog.Logger
	devices  map[string]*fakeDevice // set up before the first Join

	calls   atomic.Int64 // Join calls
	joins   atomic.Int64 // feeds returned
	leaves  atomic.Int64 // feeds closed
	starts  atomic.Int64 // devices started
	stops   atomic.Int64 // devices stopped
	written atomic.Int64 // units written by the pumps

	mu     sync.Mutex
	closed bool
}

var (
	_ Provider = (*fakeProvider)(nil)
	_ Feed     = (*fakeFeed)(nil)
)

func newFakeProvider(interval time.Duration) *fakeProvider {
	return &fakeProvider{interval: interval, log: testLog(), devices: map[string]*fakeDevice{}}
}

// add registers a device that sends s.
func (p *fakeProvider) add(id string, s *stream) *fakeDevice {
	d := &fakeDevice{id: id, s: s, inputs: make(chan media.Input, 64)}
	p.devices[id] = d
	return d
}

// Join joins a device, starting it for its first viewer.
func (p *fakeProvider) Join(ctx context.Context, req JoinRequest) (Feed, error) {
	p.calls.Add(1)
	d, ok := p.devices[req.DeviceID]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownDevice, req.DeviceID)
	}
	if !slices.Contains(req.Codecs, d.s.codec) {
		return nil, fmt.Errorf("%w: the device sends %s; the offer takes %v", ErrCodecUnsupported, d.s.codec, req.Codecs)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if d.refs == 0 {
		d.b = fanout.New(fanout.Config{DeviceID: d.id, RequestKeyFrame: d.requestKeyFrame, Log: p.log})
		d.pump = &pump{stop: make(chan struct{}), done: make(chan struct{})}
		p.starts.Add(1)
		go p.run(d, d.b, d.pump)
	}
	d.refs++
	p.joins.Add(1)
	return &fakeFeed{p: p, d: d, b: d.b, id: req.ViewerID}, nil
}

// run loops d's stream into b until the pump stops.
func (p *fakeProvider) run(d *fakeDevice, b *fanout.Stream, pu *pump) {
	defer close(pu.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	s := d.s
	i, n := 0, 0
	for {
		if d.wantKey.Swap(false) && !s.units[i].KeyFrame {
			for !s.units[i].KeyFrame {
				i = (i + 1) % len(s.units)
			}
		}
		u := s.units[i]
		u.PTS = time.Duration(n) * time.Second / 30
		b.Write(u)
		p.written.Add(1)
		i, n = (i+1)%len(s.units), n+1
		select {
		case <-t.C:
		case <-pu.stop:
			return
		}
	}
}

// leave drops a viewer of d and stops d with its last one.
func (p *fakeProvider) leave(d *fakeDevice) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leaves.Add(1)
	if d.refs--; d.refs == 0 {
		p.stopLocked(d)
	}
}

// stopLocked stops a running device; p.mu is held.
func (p *fakeProvider) stopLocked(d *fakeDevice) {
	if d.pump == nil {
		return
	}
	close(d.pump.stop)
	<-d.pump.done
	d.b.Close()
	d.pump, d.b = nil, nil
	p.stops.Add(1)
}

// hold joins a device for the rest of the test, as a viewer that never
// watches, and returns its stream.
func (p *fakeProvider) hold(t testing.TB, id string) *fanout.Stream {
	t.Helper()
	f, err := p.Join(t.Context(), JoinRequest{DeviceID: id, ViewerID: "holder", Codecs: []media.Codec{p.devices[id].s.codec}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f.(*fakeFeed).b
}

// close stops every device still running (none, when every feed was
// closed) and refuses later joins.
func (p *fakeProvider) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, d := range p.devices {
		p.stopLocked(d)
	}
}

// fakeFeed is one viewer's feed of a fake device.
type fakeFeed struct {
	p  *fakeProvider
	d  *fakeDevice
	b  *fanout.Stream
	id string

	mu     sync.Mutex
	v      *fanout.Reader
	closed bool
	once   sync.Once
}

func (f *fakeFeed) Format() media.Format { return f.d.format() }

func (f *fakeFeed) Start(w fanout.Writer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if f.v != nil {
		return nil
	}
	v, err := f.b.Subscribe(f.id, w)
	if err != nil {
		return err
	}
	f.v = v
	return nil
}

func (f *fakeFeed) RequestKeyFrame() { f.b.RequestKeyFrame() }

func (f *fakeFeed) SetEstimate(bps int) {
	f.d.estimates.Add(1)
	f.d.lastEstimate.Store(int64(bps))
}

func (f *fakeFeed) Input(ctx context.Context, msg media.Input) error {
	if !f.d.control.Allow(f.id) {
		return ErrNotController
	}
	if f.d.inputErr != nil {
		return f.d.inputErr
	}
	select {
	case f.d.inputs <- msg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeFeed) TakeControl() string  { return f.d.control.Take(f.id) }
func (f *fakeFeed) ReleaseControl() bool { return f.d.control.Drop(f.id) }
func (f *fakeFeed) Controller() bool     { return f.d.control.Holder() == f.id }

func (f *fakeFeed) Clipboard(context.Context) (string, error) {
	f.d.noticeMu.Lock()
	defer f.d.noticeMu.Unlock()
	if f.d.clipErr != nil {
		return "", f.d.clipErr
	}
	return f.d.clipboard, nil
}

// Notices calls fn with the device's input state at once (when it has
// one: a device that never got one sends nothing, so that the replies
// tests read are not interleaved with notices), then with every notice
// the test sends (fakeDevice.notify), until stop.
func (f *fakeFeed) Notices(fn func(media.InputNotice)) (stop func()) {
	d := f.d
	d.noticeMu.Lock()
	defer d.noticeMu.Unlock()
	if d.noticeFns == nil {
		d.noticeFns = map[int]func(media.InputNotice){}
	}
	id := d.noticeNext
	d.noticeNext++
	d.noticeFns[id] = fn
	if d.hasState {
		st := d.inputState
		fn(media.InputNotice{State: &st})
	}
	return func() {
		d.noticeMu.Lock()
		delete(d.noticeFns, id)
		d.noticeMu.Unlock()
	}
}

// notify tells the device's subscribed viewers of n (keeping its state
// or clipboard as the device's).
func (d *fakeDevice) notify(n media.InputNotice) {
	d.noticeMu.Lock()
	defer d.noticeMu.Unlock()
	if n.State != nil {
		d.inputState, d.hasState = *n.State, true
	}
	if n.Clipboard != nil {
		d.clipboard = *n.Clipboard
	}
	for _, fn := range d.noticeFns {
		fn(n)
	}
}

// subscribers counts the device's notice subscriptions.
func (d *fakeDevice) subscribers() int {
	d.noticeMu.Lock()
	defer d.noticeMu.Unlock()
	return len(d.noticeFns)
}

func (f *fakeFeed) Stats() fanout.ViewerStats {
	f.mu.Lock()
	v := f.v
	f.mu.Unlock()
	if v == nil {
		return fanout.ViewerStats{}
	}
	return v.Stats()
}

func (f *fakeFeed) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.v != nil {
		f.v.Stop()
	}
}

func (f *fakeFeed) Close() {
	f.once.Do(func() {
		f.Stop()
		f.mu.Lock()
		v := f.v
		f.mu.Unlock()
		if v != nil {
			v.Close()
		}
		f.d.control.Drop(f.id)
		f.p.leave(f.d)
	})
}

// rig is a manager over a fake provider.
type rig struct {
	p *fakeProvider
	m *Manager
}

func newRig(t testing.TB, cfg Config, interval time.Duration) *rig {
	t.Helper()
	r := &rig{p: newFakeProvider(interval)}
	m, err := NewManager(cfg, r.p)
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	t.Cleanup(r.close)
	return r
}

func (r *rig) close() {
	_ = r.m.Close()
	r.p.close()
}

// clientOptions shape a test client's offer.
type clientOptions struct {
	codecs      []webrtc.RTPCodecParameters // default: H.264 plid, then VP8
	plid        string                      // H.264 profile to offer first
	noTWCC      bool
	noExtension bool // no playout-delay, abs-capture-time
	trickle     bool // offer before gathering completes
	onAU        func(data []byte)
	// mute, when set, makes the client's socket drop every packet it
	// sends while it holds true: a browser that vanished without a
	// goodbye.
	mute *atomic.Bool
}

// muteConn is a UDP socket whose sends vanish while muted.
type muteConn struct {
	net.PacketConn
	muted *atomic.Bool
}

func (c muteConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.muted.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// client is a Pion peer that receives a session, as a browser would.
type client struct {
	t      testing.TB
	pc     *webrtc.PeerConnection
	dc     *webrtc.DataChannel
	opts   clientOptions
	dcOpen chan struct{}
	mux    io.Closer // the muting client's UDP mux; nil for others

	replies chan string

	mu         sync.Mutex
	first      []byte // first access unit received
	track      *webrtc.TrackRemote
	candidates []webrtc.ICECandidateInit

	video        *webrtc.RTPTransceiver
	packets      atomic.Int64
	frames       atomic.Int64
	playoutZero  atomic.Int64
	playoutOther atomic.Int64
	captureTimes atomic.Int64
	wg           sync.WaitGroup
}

// newClient builds the client and its offer: a recvonly video transceiver
// and the "input" data channel.
func newClient(t testing.TB, opts clientOptions) *client {
	t.Helper()
	if opts.plid == "" {
		opts.plid = "42e01f"
	}
	me := &webrtc.MediaEngine{}
	codecs := opts.codecs
	if codecs == nil {
		codecs = []webrtc.RTPCodecParameters{
			{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264Fmtp(opts.plid)}, PayloadType: 102},
			{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96},
		}
	}
	for _, c := range codecs {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	if !opts.noExtension {
		for _, uri := range []string{playoutDelayURI, absCaptureTimeURI} {
			if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
				t.Fatal(err)
			}
		}
	}
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, reg); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		t.Fatal(err)
	}
	if !opts.noTWCC {
		if err := webrtc.ConfigureTWCCSender(me, reg); err != nil {
			t.Fatal(err)
		}
	}
	se := webrtc.SettingEngine{LoggerFactory: pionLogs{testLog()}}
	loopback(&se)
	// The client reads its transceiver's track itself from the start: no
	// OnTrack, and no Pion goroutine peeking at the first packet.
	se.SetFireOnTrackBeforeFirstRTP(true)
	_ = se.SetEphemeralUDPPortRange(44001, 48000)
	var mux io.Closer
	if opts.mute != nil {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		m := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: muteConn{conn, opts.mute}})
		se.SetICEUDPMux(m)
		mux = m
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{
		t: t, pc: pc, opts: opts, mux: mux,
		dcOpen: make(chan struct{}), replies: make(chan string, 256),
	}
	c.video, err = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	if err != nil {
		t.Fatal(err)
	}
	c.dc, err = pc.CreateDataChannel(InputChannelLabel, nil)
	if err != nil {
		t.Fatal(err)
	}
	var openOnce sync.Once
	c.dc.OnOpen(func() { openOnce.Do(func() { close(c.dcOpen) }) })
	c.dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		select {
		case c.replies <- string(msg.Data):
		default:
		}
	})
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		c.mu.Lock()
		c.candidates = append(c.candidates, cand.ToJSON())
		c.mu.Unlock()
	})
	return c
}

// offer returns the client's offer SDP: with every candidate unless the
// client trickles.
func (c *client) offer() string {
	c.t.Helper()
	o, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(o); err != nil {
		c.t.Fatal(err)
	}
	if c.opts.trickle {
		return o.SDP // as created: without candidates
	}
	<-gathered
	return c.pc.LocalDescription().SDP
}

// accept applies the server's answer.
func (c *client) accept(answer string) {
	c.t.Helper()
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		c.t.Fatal(err)
	}
	// Read the transceiver's track directly rather than through OnTrack,
	// whose goroutine Pion does not join.
	recv := c.video.Receiver()
	tr := recv.Track()
	c.mu.Lock()
	c.track = tr
	c.mu.Unlock()
	c.wg.Add(2)
	go c.readRTP(tr, recv)
	go func() {
		defer c.wg.Done()
		for {
			if _, _, err := recv.ReadRTCP(); err != nil {
				return
			}
		}
	}()
}

// readRTP counts packets, checks their header extensions and rebuilds
// access units.
func (c *client) readRTP(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	defer c.wg.Done()
	var playoutID, captureID uint8
	for _, e := range recv.GetParameters().HeaderExtensions {
		switch e.URI {
		case playoutDelayURI:
			playoutID = uint8(e.ID)
		case absCaptureTimeURI:
			captureID = uint8(e.ID)
		}
	}
	var sb *samplebuilder.SampleBuilder
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if sb == nil { // the codec is known from the first packet on
			var depack rtp.Depacketizer = &codecs.H264Packet{}
			if tr.Codec().MimeType == webrtc.MimeTypeVP8 {
				depack = &codecs.VP8Packet{}
			}
			sb = samplebuilder.New(256, depack, 90000)
		}
		c.packets.Add(1)
		if playoutID != 0 {
			var pd rtp.PlayoutDelayExtension
			if b := pkt.Header.GetExtension(playoutID); b != nil && pd.Unmarshal(b) == nil && pd.MinDelay == 0 && pd.MaxDelay == 0 {
				c.playoutZero.Add(1)
			} else {
				c.playoutOther.Add(1)
			}
		}
		if captureID != 0 {
			var ac rtp.AbsCaptureTimeExtension
			if b := pkt.Header.GetExtension(captureID); b != nil && ac.Unmarshal(b) == nil {
				c.captureTimes.Add(1)
			}
		}
		sb.Push(pkt)
		for smp := sb.Pop(); smp != nil; smp = sb.Pop() {
			c.mu.Lock()
			if c.first == nil {
				c.first = append([]byte(nil), smp.Data...)
			}
			c.mu.Unlock()
			c.frames.Add(1)
			if c.opts.onAU != nil {
				c.opts.onAU(smp.Data)
			}
		}
	}
}

// firstAU returns the first access unit received.
func (c *client) firstAU() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

// sendPLI asks the server for a keyframe.
func (c *client) sendPLI() {
	c.t.Helper()
	c.mu.Lock()
	tr := c.track
	c.mu.Unlock()
	if tr == nil {
		c.t.Fatal("no track to send a PLI for")
	}
	if err := c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}}); err != nil {
		c.t.Fatal(err)
	}
}

// send sends an input message once the channel is open.
func (c *client) send(msg string) {
	c.t.Helper()
	select {
	case <-c.dcOpen:
	case <-time.After(30 * time.Second):
		c.t.Fatal("input channel did not open")
	}
	if err := c.dc.SendText(msg); err != nil {
		c.t.Fatal(err)
	}
}

// reply waits for the next message from the server.
func (c *client) reply() string {
	c.t.Helper()
	select {
	case r := <-c.replies:
		return r
	case <-time.After(30 * time.Second):
		c.t.Fatal("no reply on the input channel")
		return ""
	}
}

// close ends the client and waits for its goroutines.
func (c *client) close() {
	_ = c.pc.GracefulClose()
	c.wg.Wait()
	if c.mux != nil {
		_ = c.mux.Close()
	}
}

// connect creates a session for a new client and waits for its first
// frame.
func connect(t testing.TB, m *Manager, deviceID, userID string, opts clientOptions) (*client, *Session, string) {
	t.Helper()
	c := newClient(t, opts)
	t.Cleanup(c.close)
	s, answer, err := m.Create(context.Background(), CreateRequest{DeviceID: deviceID, UserID: userID, Offer: c.offer()})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	c.accept(answer)
	return c, s, answer
}
