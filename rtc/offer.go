package rtc

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cloudphone/media-service/media"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Limits on what an offer may hold; a browser's offer is 5 to 15 KiB.
const (
	maxOfferBytes      = 128 << 10
	maxMediaSections   = 32
	maxFormatsPerMedia = 128
)

// URIs of the RTP header extensions the engine registers.
const (
	playoutDelayURI   = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
	absCaptureTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
)

// offer is a validated SDP offer.
type offer struct {
	sdp   string
	video []offerFormat // formats of the first video m-line that can receive
	// twcc is set when the video m-line offers transport-wide congestion
	// control (its header extension), which the bandwidth estimate needs.
	twcc bool
	// ufrags are the offer's ICE username fragments.
	ufrags []string
}

// offerFormat is one RTP format of the offer's video m-line.
type offerFormat struct {
	pt    uint8
	codec media.Codec // "" for codecs the service does not send
	fmtp  map[string]string
}

// ValidateOffer checks that s is an SDP offer, as raw SDP
// (application/sdp, WHEP) or as the JSON of an RTCSessionDescription with
// type "offer", that has a video m-line able to receive and, for every
// m-line that is not rejected, a mid, ICE credentials (a=ice-ufrag of 4 to
// 256 and a=ice-pwd of 22 to 256 ice-chars: A-Z a-z 0-9 + /) and a DTLS
// fingerprint (a=fingerprint with sha-1, sha-224, sha-256, sha-384 or
// sha-512 and its digest as colon-separated hex pairs), each at session
// level or on the m-line; every one given must be well-formed. Its errors
// wrap ErrBadOffer (a case of ErrBadRequest, 400) and name the problem. It
// allocates nothing; Manager.Create runs it before anything else.
func ValidateOffer(s string) error {
	_, err := parseOffer(s)
	return err
}

// codecs returns the codecs the offer's video m-line can receive, in the
// offer's order of preference: H.264 (packetization mode 1) and VP8. The
// device's owner picks the viewer's output by them (Provider.Join).
func (o *offer) codecs() []media.Codec {
	var out []media.Codec
	for _, f := range o.video {
		c := f.codec
		if c == media.H264 && f.fmtp["packetization-mode"] != "1" {
			continue
		}
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// sdpText returns the SDP of an offer given as raw SDP or as the JSON of a
// session description.
func sdpText(s string) (string, error) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "{") {
		return s, nil
	}
	var d struct {
		Type string `json:"type"`
		SDP  string `json:"sdp"`
	}
	if err := json.Unmarshal([]byte(t), &d); err != nil {
		return "", fmt.Errorf("%w: not a session description: %v", ErrBadOffer, err)
	}
	if d.Type != webrtc.SDPTypeOffer.String() {
		return "", fmt.Errorf("%w: type %q (want offer)", ErrBadOffer, truncate(d.Type, 32))
	}
	return d.SDP, nil
}

// parseOffer validates an offer and extracts what the session needs.
func parseOffer(s string) (*offer, error) {
	if len(s) > maxOfferBytes {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadOffer, len(s), maxOfferBytes)
	}
	text, err := sdpText(s)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadOffer)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(text); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if len(d.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("%w: no m-line", ErrBadOffer)
	}
	if len(d.MediaDescriptions) > maxMediaSections {
		return nil, fmt.Errorf("%w: %d m-lines (at most %d)", ErrBadOffer, len(d.MediaDescriptions), maxMediaSections)
	}
	o := &offer{sdp: text}
	// DTLS fingerprints and ICE credentials may be given at session
	// level or on each m-line; every one given must be well-formed.
	sessionFP, err := checkFingerprints(d.Attributes)
	if err != nil {
		return nil, fmt.Errorf("%w: session level: %v", ErrBadOffer, err)
	}
	ufrag, sessionUfrag, err := iceCredential(d.Attributes, "ice-ufrag", minICEUfrag)
	if err != nil {
		return nil, fmt.Errorf("%w: session level: %v", ErrBadOffer, err)
	}
	if sessionUfrag {
		o.ufrags = append(o.ufrags, ufrag)
	}
	_, sessionPwd, err := iceCredential(d.Attributes, "ice-pwd", minICEPwd)
	if err != nil {
		return nil, fmt.Errorf("%w: session level: %v", ErrBadOffer, err)
	}
	sessionDir := direction(d.Attributes)
	found := false
	for i, m := range d.MediaDescriptions {
		if len(m.MediaName.Formats) > maxFormatsPerMedia {
			return nil, fmt.Errorf("%w: m-line %d has %d formats (at most %d)", ErrBadOffer, i, len(m.MediaName.Formats), maxFormatsPerMedia)
		}
		if mid, ok := m.Attribute("mid"); !ok || mid == "" {
			return nil, fmt.Errorf("%w: m-line %d has no mid", ErrBadOffer, i)
		}
		if m.MediaName.Port.Value == 0 {
			continue // rejected section
		}
		fp, err := checkFingerprints(m.Attributes)
		if err != nil {
			return nil, fmt.Errorf("%w: m-line %d: %v", ErrBadOffer, i, err)
		}
		if !fp && !sessionFP {
			return nil, fmt.Errorf("%w: m-line %d has no DTLS fingerprint (a=fingerprint)", ErrBadOffer, i)
		}
		mufrag, hasUfrag, err := iceCredential(m.Attributes, "ice-ufrag", minICEUfrag)
		if err != nil {
			return nil, fmt.Errorf("%w: m-line %d: %v", ErrBadOffer, i, err)
		}
		_, hasPwd, err := iceCredential(m.Attributes, "ice-pwd", minICEPwd)
		if err != nil {
			return nil, fmt.Errorf("%w: m-line %d: %v", ErrBadOffer, i, err)
		}
		if !hasUfrag && !sessionUfrag {
			return nil, fmt.Errorf("%w: m-line %d has no ICE username fragment (a=ice-ufrag)", ErrBadOffer, i)
		}
		if !hasPwd && !sessionPwd {
			return nil, fmt.Errorf("%w: m-line %d has no ICE password (a=ice-pwd)", ErrBadOffer, i)
		}
		if hasUfrag && !slices.Contains(o.ufrags, mufrag) {
			o.ufrags = append(o.ufrags, mufrag)
		}
		if found || m.MediaName.Media != "video" {
			continue
		}
		dir := direction(m.Attributes)
		if dir == "" {
			dir = sessionDir
		}
		if dir != "" && dir != "sendrecv" && dir != "recvonly" {
			continue // the client does not receive on this one
		}
		found = true
		o.video = videoFormats(m)
		for _, a := range m.Attributes {
			if a.Key == "extmap" && strings.Contains(a.Value, sdp.TransportCCURI) {
				o.twcc = true
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: no video m-line that can receive", ErrBadOffer)
	}
	return o, nil
}

// Lengths of ICE credentials (RFC 8839, section 5.4), in ice-chars.
const (
	minICEUfrag = 4
	minICEPwd   = 22
	maxICECred  = 256
)

// fingerprintSizes are the hash functions a DTLS fingerprint may use
// (RFC 8122; Pion's), with their digests' sizes in bytes.
var fingerprintSizes = map[string]int{
	"sha-1": 20, "sha-224": 28, "sha-256": 32, "sha-384": 48, "sha-512": 64,
}

// checkFingerprints checks every a=fingerprint among attrs: a known hash
// function, one space, and the digest as colon-separated pairs of hex
// digits, as many as the hash has bytes. It reports whether there was one.
func checkFingerprints(attrs []sdp.Attribute) (bool, error) {
	found := false
	for _, a := range attrs {
		if a.Key != "fingerprint" {
			continue
		}
		found = true
		if err := checkFingerprint(a.Value); err != nil {
			return true, err
		}
	}
	return found, nil
}

// checkFingerprint checks one fingerprint attribute's value.
func checkFingerprint(v string) error {
	hash, digest, ok := strings.Cut(v, " ")
	if !ok || hash == "" || digest == "" {
		return fmt.Errorf("DTLS fingerprint %s: want a hash function, a space and the digest", quote(v))
	}
	n, ok := fingerprintSizes[strings.ToLower(hash)]
	if !ok {
		return fmt.Errorf("DTLS fingerprint %s: unknown hash function (want sha-1, sha-224, sha-256, sha-384 or sha-512)", quote(v))
	}
	if len(digest) != 3*n-1 {
		return fmt.Errorf("DTLS fingerprint %s: want %d bytes as colon-separated hex pairs for %s", quote(v), n, hash)
	}
	for i := range len(digest) {
		c := digest[i]
		if i%3 == 2 {
			if c != ':' {
				return fmt.Errorf("DTLS fingerprint %s: want colon-separated hex pairs", quote(v))
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return fmt.Errorf("DTLS fingerprint %s: %q is not a hex digit", quote(v), c)
		}
	}
	return nil
}

// iceCredential checks every attribute key (ice-ufrag or ice-pwd) among
// attrs: minLen..256 ice-chars (ALPHA, DIGIT, "+", "/"). It returns the
// first value and whether there was one.
func iceCredential(attrs []sdp.Attribute, key string, minLen int) (string, bool, error) {
	value, found := "", false
	for _, a := range attrs {
		if a.Key != key {
			continue
		}
		if len(a.Value) < minLen || len(a.Value) > maxICECred {
			return "", true, fmt.Errorf("a=%s %s: want %d to %d characters", key, quote(a.Value), minLen, maxICECred)
		}
		for i := range len(a.Value) {
			if !isICEChar(a.Value[i]) {
				return "", true, fmt.Errorf("a=%s %s: %q is not an ice-char (A-Z a-z 0-9 + /)", key, quote(a.Value), a.Value[i])
			}
		}
		if !found {
			value, found = a.Value, true
		}
	}
	return value, found, nil
}

// isICEChar reports whether c is an ice-char: ALPHA / DIGIT / "+" / "/".
func isICEChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/'
}

// quote quotes an offer's value, shortened, for an error message.
func quote(s string) string { return strconv.Quote(truncate(s, 64)) }

// direction returns the direction attribute among attrs, or "".
func direction(attrs []sdp.Attribute) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return ""
}

// videoFormats reads the rtpmap and fmtp lines of a video m-line.
func videoFormats(m *sdp.MediaDescription) []offerFormat {
	byPT := map[uint8]*offerFormat{}
	var out []*offerFormat
	for _, f := range m.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		if _, dup := byPT[uint8(pt)]; dup {
			continue
		}
		of := &offerFormat{pt: uint8(pt), fmtp: map[string]string{}}
		byPT[uint8(pt)] = of
		out = append(out, of)
	}
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" && a.Key != "fmtp" {
			continue
		}
		ptText, rest, ok := strings.Cut(a.Value, " ")
		if !ok {
			continue
		}
		pt, err := strconv.ParseUint(ptText, 10, 7)
		if err != nil {
			continue
		}
		of := byPT[uint8(pt)]
		if of == nil {
			continue
		}
		if a.Key == "rtpmap" {
			name, _, _ := strings.Cut(rest, "/")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "h264":
				of.codec = media.H264
			case "vp8":
				of.codec = media.VP8
			}
			continue
		}
		for _, p := range strings.Split(rest, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if k != "" && len(of.fmtp) < 32 {
				of.fmtp[strings.ToLower(k)] = v
			}
		}
	}
	res := make([]offerFormat, 0, len(out))
	for _, of := range out {
		res = append(res, *of)
	}
	return res
}

// truncate shortens s to at most n bytes for a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ParseSDPFragment reads the candidates of an SDP fragment
// (application/trickle-ice-sdpfrag, RFC 8840, as WHEP's PATCH carries it):
// each a=candidate line becomes a candidate of the m-line it follows, with
// that m-line's mid and index; a=end-of-candidates becomes a candidate with
// an empty Candidate. Lines it does not need are skipped. ufrag is the
// fragment's a=ice-ufrag, if any.
func ParseSDPFragment(frag string) (cands []webrtc.ICECandidateInit, ufrag string, err error) {
	if len(frag) > maxOfferBytes {
		return nil, "", fmt.Errorf("%w: fragment of %d bytes (at most %d)", ErrBadCandidate, len(frag), maxOfferBytes)
	}
	mline := -1
	var mid *string
	for line := range strings.Lines(frag) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "m="):
			mline++
			mid = nil
		case strings.HasPrefix(line, "a=mid:"):
			v := strings.TrimPrefix(line, "a=mid:")
			mid = &v
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=candidate:"), line == "a=end-of-candidates":
			c := webrtc.ICECandidateInit{}
			if line != "a=end-of-candidates" {
				c.Candidate = strings.TrimPrefix(line, "a=")
			}
			if mid != nil {
				m := *mid
				c.SDPMid = &m
			}
			if mline >= 0 {
				idx := uint16(min(mline, 0xffff))
				c.SDPMLineIndex = &idx
			}
			if ufrag != "" {
				u := ufrag
				c.UsernameFragment = &u
			}
			cands = append(cands, c)
			if len(cands) > maxRemoteCandidates {
				return nil, "", fmt.Errorf("%w: more than %d candidates", ErrBadCandidate, maxRemoteCandidates)
			}
		}
	}
	return cands, ufrag, nil
}
