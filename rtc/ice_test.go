package rtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// candidates returns the fields of an SDP's candidate lines.
func candidates(sdp string) [][]string {
	var out [][]string
	for line := range strings.Lines(sdp) {
		if c, ok := strings.CutPrefix(strings.TrimSpace(line), "a=candidate:"); ok {
			out = append(out, strings.Fields(c))
		}
	}
	return out
}

// candidatePorts checks that an answer has candidates, all loopback UDP
// host candidates on ports lo..hi, and returns their ports.
func candidatePorts(t *testing.T, answer string, lo, hi int) []int {
	t.Helper()
	cands := candidates(answer)
	if len(cands) == 0 {
		t.Fatalf("no candidate in the answer:\n%s", answer)
	}
	var ports []int
	for _, f := range cands {
		if len(f) < 8 || !strings.EqualFold(f[2], "udp") || f[4] != "127.0.0.1" || f[7] != "host" {
			t.Errorf("candidate %q: want a loopback UDP host candidate", strings.Join(f, " "))
			continue
		}
		port, err := strconv.Atoi(f[5])
		if err != nil || port < lo || port > hi {
			t.Errorf("candidate %q: port outside %d-%d", strings.Join(f, " "), lo, hi)
		}
		ports = append(ports, port)
	}
	return ports
}

// freeUDPPortIn returns a UDP port of lo..hi that was free a moment ago on
// every interface.
func freeUDPPortIn(t *testing.T, lo, hi int) int {
	t.Helper()
	for p := lo; p <= hi; p++ {
		c, err := net.ListenPacket("udp", ":"+strconv.Itoa(p))
		if err == nil {
			c.Close()
			return p
		}
	}
	t.Fatalf("no free UDP port in %d-%d", lo, hi)
	return 0
}

// udpSockets returns the local ports of this process's UDP sockets, by
// socket inode, from /proc (Linux); ok is false where /proc cannot tell.
func udpSockets(t *testing.T) (map[string]int, bool) {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, false
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if inode, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			mine[strings.TrimSuffix(inode, "]")] = true
		}
	}
	out := map[string]int{}
	for _, table := range []string{"/proc/self/net/udp", "/proc/self/net/udp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			if table == "/proc/self/net/udp" {
				return nil, false
			}
			continue // no IPv6
		}
		for i, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if i == 0 || len(f) < 10 || !mine[f[9]] {
				continue
			}
			_, portHex, _ := strings.Cut(f[1], ":")
			port, err := strconv.ParseUint(portHex, 16, 16)
			if err != nil {
				t.Fatalf("%s: local address %q", table, f[1])
			}
			out[f[9]] = int(port)
		}
	}
	return out, true
}

// newUDPPorts returns the ports of the UDP sockets in after but not in
// before.
func newUDPPorts(before, after map[string]int) []int {
	var out []int
	for inode, port := range after {
		if _, ok := before[inode]; !ok {
			out = append(out, port)
		}
	}
	return out
}

// TestNoMulticastDNS: with the manager's own ICE settings (loopback only
// added), a session opens no multicast DNS socket, its answer has no
// ".local" candidate, and every UDP socket it opens is in the port range.
func TestNoMulticastDNS(t *testing.T) {
	cfg := testConfig()
	cfg.settings = func(se *webrtc.SettingEngine) { // loopback, leaving mDNS as the manager sets it
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	offer := offerOf(t, clientOptions{plid: s264.plid})
	before, procOK := udpSockets(t)
	s, answer, err := r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: offer})
	if err != nil {
		t.Fatal(err)
	}
	defer r.m.Delete(s.ID())
	if strings.Contains(answer, ".local") {
		t.Errorf("mDNS candidate in the answer:\n%s", answer)
	}
	candidatePorts(t, answer, int(cfg.ICEPortMin), int(cfg.ICEPortMax))
	if !procOK {
		t.Log("no /proc: the session's sockets are not checked")
		return
	}
	after, _ := udpSockets(t)
	opened := newUDPPorts(before, after)
	if len(opened) == 0 {
		t.Error("the session opened no UDP socket")
	}
	for _, port := range opened {
		if port < int(cfg.ICEPortMin) || port > int(cfg.ICEPortMax) {
			t.Errorf("the session opened a UDP socket on port %d, outside %d-%d", port, cfg.ICEPortMin, cfg.ICEPortMax)
		}
	}
	for _, port := range after {
		if port == 5353 {
			t.Error("a UDP socket on the multicast DNS port 5353")
		}
	}
}

// muxConfig is testConfig with every session on one loopback UDP port.
func muxConfig(t *testing.T) Config {
	cfg := testConfig()
	cfg.ICEUDPMuxPort = freeUDPPortIn(t, 48001, 49000)
	cfg.udpMuxOptions = []ice.UDPMuxFromPortOption{
		ice.UDPMuxFromPortWithLoopback(),
		ice.UDPMuxFromPortWithInterfaceFilter(func(name string) bool { return name == "lo" }),
		ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4),
	}
	return cfg
}

// TestMuxServesHundredsOfSessions: one UDP port serves 150 sessions,
// every answer's candidates are on it, clients stream through it among
// the others, and Close gives it back.
func TestMuxServesHundredsOfSessions(t *testing.T) {
	const sessions = 150
	cfg := muxConfig(t)
	cfg.MaxSessionsPerUser = sessions + 2
	cfg.IdleTimeout = time.Hour // the sessions that never connect stay
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	offer := offerOf(t, clientOptions{plid: s264.plid})
	before, procOK := udpSockets(t)
	for i := range sessions {
		_, answer, err := r.m.Create(context.Background(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: offer})
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		candidatePorts(t, answer, cfg.ICEUDPMuxPort, cfg.ICEUDPMuxPort)
		if t.Failed() {
			t.Fatalf("session %d's answer:\n%s", i, answer)
		}
	}
	if procOK {
		after, _ := udpSockets(t)
		if opened := newUDPPorts(before, after); len(opened) != 0 {
			t.Errorf("%d sessions on the mux opened UDP sockets on ports %v", sessions, opened)
		}
	}
	// Two clients connect through the mux and get the picture.
	var clients []*client
	for _, user := range []string{"alice", "bob"} {
		c, _, answer := connect(t, r.m, "dev1", user, clientOptions{plid: s264.plid})
		candidatePorts(t, answer, cfg.ICEUDPMuxPort, cfg.ICEUDPMuxPort)
		clients = append(clients, c)
	}
	for i, c := range clients {
		eventually(t, fmt.Sprintf("frames at client %d", i), func() bool { return c.frames.Load() >= 5 })
	}
	if n := len(r.m.List()); n != sessions+2 {
		t.Errorf("%d sessions listed", n)
	}
	r.close()
	u, err := net.ListenPacket("udp", ":"+strconv.Itoa(cfg.ICEUDPMuxPort))
	if err != nil {
		t.Fatalf("the mux port is still taken after Close: %v", err)
	}
	u.Close()
}

// stunServer answers STUN binding requests on loopback and records the
// ports they came from.
type stunServer struct {
	conn net.PacketConn
	wg   sync.WaitGroup

	mu    sync.Mutex
	ports []int
}

func newSTUNServer(t *testing.T) *stunServer {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stunServer{conn: c}
	s.wg.Go(s.serve)
	t.Cleanup(func() {
		c.Close()
		s.wg.Wait()
	})
	return s
}

func (s *stunServer) url() string { return "stun:" + s.conn.LocalAddr().String() }

func (s *stunServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if req.Decode() != nil || req.Type != stun.BindingRequest {
			continue
		}
		ua := from.(*net.UDPAddr)
		s.mu.Lock()
		s.ports = append(s.ports, ua.Port)
		s.mu.Unlock()
		res, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: ua.IP, Port: ua.Port}, stun.Fingerprint)
		if err == nil {
			_, _ = s.conn.WriteTo(res.Raw, from)
		}
	}
}

func (s *stunServer) seen() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.ports...)
}

// TestSTUNSocketsInPortRange: with the mux, the sockets Pion opens for
// server-reflexive candidates are in the port range, not anywhere.
func TestSTUNSocketsInPortRange(t *testing.T) {
	st := newSTUNServer(t)
	cfg := muxConfig(t)
	cfg.STUNURLs = []string{st.url()}
	r := newRig(t, cfg, 10*time.Millisecond)
	r.p.add("dev1", syntheticStreamH264())
	s, answer, err := r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: chromeOffer})
	if err != nil {
		t.Fatal(err)
	}
	defer r.m.Delete(s.ID())
	eventually(t, "a STUN binding request", func() bool { return len(st.seen()) > 0 })
	for _, port := range st.seen() {
		if port < int(cfg.ICEPortMin) || port > int(cfg.ICEPortMax) {
			t.Errorf("STUN request from port %d, outside %d-%d", port, cfg.ICEPortMin, cfg.ICEPortMax)
		}
	}
	if !strings.Contains(answer, " "+strconv.Itoa(cfg.ICEUDPMuxPort)+" typ host") {
		t.Errorf("no host candidate on the mux port:\n%s", answer)
	}
}

// TestSessionWithoutCandidateIsRefused: with a range of one port, a second
// session at once gathers no candidate and is refused with ErrUnavailable
// (503), leaving its device; every session answered has a candidate.
func TestSessionWithoutCandidateIsRefused(t *testing.T) {
	cfg := testConfig()
	port := freeUDPPortIn(t, 40000, 44000)
	cfg.ICEPortMin, cfg.ICEPortMax = uint16(port), uint16(port)
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	offer := offerOf(t, clientOptions{plid: s264.plid})
	create := func() (*Session, string, error) {
		return r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: offer})
	}
	s1, answer, err := create()
	if err != nil {
		t.Fatal(err)
	}
	candidatePorts(t, answer, port, port)
	_, answer, err = create()
	if !errors.Is(err, ErrUnavailable) || StatusCode(err) != http.StatusServiceUnavailable || answer != "" {
		t.Fatalf("second session: err %v, answer %q; want ErrUnavailable", err, answer)
	}
	if !strings.Contains(err.Error(), "no ICE candidate") || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("message %q", err)
	}
	if j, l := r.p.joins.Load(), r.p.leaves.Load(); j != 2 || l != 1 {
		t.Errorf("joined %d times, left %d; want 2 and 1", j, l)
	}
	if total, _, _, _ := r.m.admissionCounts(); total != 1 || len(r.m.List()) != 1 {
		t.Errorf("%d sessions counted, %d listed", total, len(r.m.List()))
	}
	// The port comes back with the first session.
	if err := r.m.Delete(s1.ID()); err != nil {
		t.Fatal(err)
	}
	s3, answer, err := create()
	if err != nil {
		t.Fatalf("after the first session ended: %v", err)
	}
	candidatePorts(t, answer, port, port)
	_ = r.m.Delete(s3.ID())
}

// TestClientMDNSCandidatesAreQuiet: a browser's ".local" candidates,
// which the server does not resolve, are logged at debug level only, and
// the session is created.
func TestClientMDNSCandidatesAreQuiet(t *testing.T) {
	var logs syncBuffer
	cfg := testConfig()
	cfg.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := newRig(t, cfg, 10*time.Millisecond)
	r.p.add("dev1", syntheticStreamH264())
	offer := strings.Replace(chromeOffer, "a=mid:0\r\n",
		"a=mid:0\r\na=candidate:1 1 udp 2122260223 0b4fa2b5-6f5e-4c2a-9d1e-3f0a1b2c3d4e.local 54321 typ host generation 0\r\n", 1)
	s, _, err := r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: offer})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.m.Delete(s.ID())
	if strings.Contains(logs.String(), "mDNS") {
		t.Errorf("warnings about the client's mDNS candidate:\n%s", logs.String())
	}
}
