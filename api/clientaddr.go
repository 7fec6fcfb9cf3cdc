package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses TRUSTED_PROXIES entries: CIDRs, or single
// addresses (a /32 or /128).
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, normPrefix(p))
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("api: trusted proxy %q is neither a CIDR nor an IP address", e)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// normPrefix masks p, and turns an IPv4-mapped IPv6 prefix into IPv4.
func normPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// peerAddr is the TCP peer of r; the zero Addr when RemoteAddr is not an
// address (a test's pipe).
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		a, err := netip.ParseAddr(r.RemoteAddr)
		if err != nil {
			return netip.Addr{}
		}
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}

func (s *Server) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the client's address: the TCP peer, unless the peer is a
// trusted proxy (Options.TrustedProxies). Then it is the rightmost hop of
// X-Forwarded-For that is not itself a trusted proxy (every hop to the
// right of it was appended by a proxy we trust; whatever is to its left
// the client may have made up), or else X-Real-IP. viaProxy reports
// that the peer is a trusted proxy.
func (s *Server) clientAddr(r *http.Request) (addr netip.Addr, viaProxy bool) {
	peer := peerAddr(r)
	if !s.trusted(peer) && !s.fleetSigned(r) {
		return peer, false
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops := strings.Split(strings.Join(xff, ","), ",")
		client := peer
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := parseHop(hops[i])
			if !ok {
				break // garbage: the last hop we could read stands
			}
			client = a
			if !s.trusted(a) {
				break
			}
		}
		return client, true
	}
	if a, ok := parseHop(r.Header.Get("X-Real-Ip")); ok {
		return a, true
	}
	return peer, true
}

// parseHop parses one forwarding hop: an address, or an address and port.
func parseHop(h string) (netip.Addr, bool) {
	h = strings.TrimSpace(h)
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// isLocal reports whether the request comes from this host: the client
// address is loopback, and the request was not relayed for someone else
// by a proxy we do not trust (whose forwarding headers name a client we
// cannot check, who must not pass for a local one).
func (s *Server) isLocal(r *http.Request) bool {
	addr, viaProxy := s.clientAddr(r)
	return addr.IsLoopback() && (viaProxy || !forwarded(r))
}

// forwarded reports whether the request carries forwarding headers.
func forwarded(r *http.Request) bool {
	return r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != ""
}

// addrKey is the rate limit key of an address: IPv4 addresses each, IPv6
// by /64 (one host usually holds a whole /64).
func addrKey(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is6():
		p, _ := a.WithZone("").Prefix(64)
		return p.String()
	}
	return a.String()
}
