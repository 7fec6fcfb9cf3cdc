package rtc

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort returns a port that was free a moment ago, for UDP and TCP.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func TestConfigValidate(t *testing.T) {
	ok := Config{}.WithDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if ok.ICEPortMin != 50000 || ok.ICEPortMax != 50100 || ok.Shards != 16 || ok.MaxSessionsPerUser != 5 ||
		ok.IdleTimeout != 30*time.Second || ok.SweepInterval != 500*time.Millisecond || ok.GatherTimeout != 5*time.Second ||
		ok.StartBitRate != 2_000_000 || ok.MinBitRate != 150_000 || ok.MaxBitRate != 8_000_000 || ok.Log == nil ||
		ok.MaxSessions != 1000 || ok.MaxViewersPerDevice != 200 || ok.MaxSessionsPerToken != 0 {
		t.Errorf("defaults %+v", ok)
	}
	for name, c := range map[string]Config{
		"port range":  {ICEPortMin: 6000, ICEPortMax: 5000},
		"mux port":    {ICEUDPMuxPort: 70000},
		"tcp port":    {ICETCP: true},
		"nat ip":      {NAT1To1IPs: []string{"example.com"}},
		"stun scheme": {STUNURLs: []string{"turn:example.com"}},
		"stun url":    {STUNURLs: []string{"::::"}},
		"turn scheme": {TURNURLs: []string{"stun:example.com"}, TURNUsername: "u", TURNPassword: "p"},
		"turn creds":  {TURNURLs: []string{"turn:example.com"}},
		"bit rates":   {MinBitRate: 2_000_000, MaxBitRate: 1_000_000},
		"per token":   {MaxSessionsPerToken: -1},
	} {
		if err := c.WithDefaults().Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := NewManager(c, newFakeProvider(time.Millisecond)); err == nil {
			t.Errorf("%s: NewManager accepted", name)
		}
	}
	good := Config{STUNURLs: []string{"stun:stun.example.com:3478"}, TURNURLs: []string{"turn:turn.example.com:3478?transport=udp"},
		TURNUsername: "u", TURNPassword: "p", NAT1To1IPs: []string{"203.0.113.7"}}.WithDefaults()
	if err := good.Validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
	if s := good.ICEServers("x", time.Now()); len(s) != 2 || s[1].Username != "u" {
		t.Errorf("ICE servers %+v", s)
	}
}

// TestMuxPortsAndNAT opens the single UDP port and the ICE-TCP listener,
// answers with candidates on them (with the NAT address in place of the
// host's), and gives the ports back at Close.
func TestMuxPortsAndNAT(t *testing.T) {
	udp, tcp := freePort(t), freePort(t)
	cfg := testConfig()
	cfg.settings = nil // the muxes bind every interface but loopback
	cfg.ICEUDPMuxPort = udp
	cfg.ICETCP, cfg.ICETCPPort = true, tcp
	cfg.NAT1To1IPs = []string{"203.0.113.7"}
	r := newRig(t, cfg, 10*time.Millisecond)
	r.p.add("dev1", syntheticStreamH264())
	s, answer, err := r.m.Create(context.Background(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: chromeOffer})
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("no candidate: the machine has no interface but loopback? %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, "203.0.113.7 "+strconv.Itoa(udp)+" typ host") {
		t.Errorf("no UDP mux candidate with the NAT address:\n%s", answer)
	}
	if !strings.Contains(answer, "203.0.113.7 "+strconv.Itoa(tcp)+" typ host tcptype passive") {
		t.Errorf("no ICE-TCP candidate with the NAT address:\n%s", answer)
	}
	_ = r.m.Delete(s.ID())
	r.close()
	l, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(tcp)))
	if err != nil {
		t.Fatalf("the ICE-TCP port is still taken after Close: %v", err)
	}
	l.Close()
	u, err := net.ListenPacket("udp", net.JoinHostPort("", strconv.Itoa(udp)))
	if err != nil {
		t.Fatalf("the UDP mux port is still taken after Close: %v", err)
	}
	u.Close()
}

// TestAnswerHoldsServerCandidates: the answer waits for ICE gathering and
// carries every server candidate, in the configured port range.
func TestAnswerHoldsServerCandidates(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	r.p.add("dev1", syntheticStreamH264())
	s, answer, err := r.m.Create(context.Background(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: chromeOffer})
	if err != nil {
		t.Fatal(err)
	}
	defer r.m.Delete(s.ID())
	if !strings.Contains(answer, "m=video") {
		t.Errorf("answer:\n%s", answer)
	}
	n := 0
	for line := range strings.Lines(answer) {
		c, ok := strings.CutPrefix(strings.TrimSpace(line), "a=candidate:")
		if !ok {
			continue
		}
		n++
		f := strings.Fields(c)
		if len(f) < 8 || !strings.EqualFold(f[2], "udp") || f[4] != "127.0.0.1" || f[7] != "host" {
			t.Errorf("candidate %q: want a loopback UDP host candidate", c)
			continue
		}
		if port, err := strconv.Atoi(f[5]); err != nil || port < 40000 || port > 44000 {
			t.Errorf("candidate %q: port outside 40000-44000", c)
		}
	}
	if n == 0 {
		t.Errorf("no candidate in the answer:\n%s", answer)
	}
}
