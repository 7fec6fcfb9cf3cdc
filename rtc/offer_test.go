package rtc

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/media"
)

// chromeOffer is an offer as Chrome makes it for a recvonly video
// transceiver and a data channel (trimmed: no audio, fewer codecs).
const chromeOffer = "v=0\r\n" +
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0 1\r\n" +
	"a=extmap-allow-mixed\r\n" +
	"a=msid-semantic: WMS\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtcp:9 IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:Kq8B\r\n" +
	"a=ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2cY5\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 8B:AB:1E:49:5A:9C:C8:1C:69:6C:0D:1F:63:B4:D8:1C:5D:04:3B:3F:4A:0F:75:0E:1D:2E:3A:4F:6B:7C:8D:9E\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:0\r\n" +
	"a=extmap:1 urn:ietf:params:rtp-hdrext:toffset\r\n" +
	"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n" +
	"a=extmap:12 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n" +
	"a=extmap:13 http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time\r\n" +
	"a=recvonly\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtcp-rsize\r\n" +
	"a=rtpmap:96 VP8/90000\r\n" +
	"a=rtcp-fb:96 transport-cc\r\n" +
	"a=rtcp-fb:96 nack\r\n" +
	"a=rtcp-fb:96 nack pli\r\n" +
	"a=rtpmap:97 rtx/90000\r\n" +
	"a=fmtp:97 apt=96\r\n" +
	"a=rtpmap:102 H264/90000\r\n" +
	"a=rtcp-fb:102 nack pli\r\n" +
	"a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n" +
	"a=rtpmap:103 rtx/90000\r\n" +
	"a=fmtp:103 apt=102\r\n" +
	"a=rtpmap:104 H264/90000\r\n" +
	"a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n" +
	"a=rtpmap:105 rtx/90000\r\n" +
	"a=fmtp:105 apt=104\r\n" +
	"a=rtpmap:106 H264/90000\r\n" +
	"a=rtcp-fb:106 goog-remb\r\n" +
	"a=rtcp-fb:106 transport-cc\r\n" +
	"a=rtcp-fb:106 ccm fir\r\n" +
	"a=rtcp-fb:106 nack\r\n" +
	"a=rtcp-fb:106 nack pli\r\n" +
	"a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
	"a=rtpmap:107 rtx/90000\r\n" +
	"a=fmtp:107 apt=106\r\n" +
	"a=rtpmap:108 H264/90000\r\n" +
	"a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n" +
	"a=rtpmap:109 rtx/90000\r\n" +
	"a=fmtp:109 apt=108\r\n" +
	"a=rtpmap:127 H264/90000\r\n" +
	"a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\n" +
	"a=rtpmap:125 rtx/90000\r\n" +
	"a=fmtp:125 apt=127\r\n" +
	"a=rtpmap:39 H264/90000\r\n" +
	"a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f\r\n" +
	"a=rtpmap:40 rtx/90000\r\n" +
	"a=fmtp:40 apt=39\r\n" +
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:Kq8B\r\n" +
	"a=ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2cY5\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 8B:AB:1E:49:5A:9C:C8:1C:69:6C:0D:1F:63:B4:D8:1C:5D:04:3B:3F:4A:0F:75:0E:1D:2E:3A:4F:6B:7C:8D:9E\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:1\r\n" +
	"a=sctp-port:5000\r\n" +
	"a=max-message-size:262144\r\n"

func TestValidateOffer(t *testing.T) {
	if err := ValidateOffer(chromeOffer); err != nil {
		t.Fatalf("Chrome's offer: %v", err)
	}
	if err := ValidateOffer(`{"type":"offer","sdp":` + jsonString(chromeOffer) + `}`); err != nil {
		t.Errorf("Chrome's offer as JSON: %v", err)
	}
	for name, bad := range map[string]string{
		"empty":             "",
		"garbage":           "hello",
		"answer JSON":       `{"type":"answer","sdp":` + jsonString(chromeOffer) + `}`,
		"bad JSON":          `{"type":`,
		"no video":          strings.Replace(chromeOffer, "m=video", "m=audio", 1),
		"sendonly":          strings.Replace(chromeOffer, "a=recvonly", "a=sendonly", 1),
		"rejected":          strings.Replace(chromeOffer, "m=video 9", "m=video 0", 1),
		"no mid":            strings.Replace(chromeOffer, "a=mid:0\r\n", "", 1),
		"no ufrag":          strings.ReplaceAll(chromeOffer, "a=ice-ufrag:Kq8B\r\n", ""),
		"no print":          strings.ReplaceAll(chromeOffer, "a=fingerprint:", "a=fingerprinz:"),
		"huge":              chromeOffer + strings.Repeat("a=x\r\n", maxOfferBytes/5),
		"no m-line":         "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
		"many m-lines":      chromeOffer + strings.Repeat("m=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:x\r\n", maxMediaSections),
		"no pwd":            strings.ReplaceAll(chromeOffer, "a=ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2cY5\r\n", ""),
		"one pwd":           strings.Replace(chromeOffer, "a=ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2cY5\r\n", "", 1),
		"short pwd":         strings.ReplaceAll(chromeOffer, "ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2cY5", "ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2"),
		"long pwd":          strings.ReplaceAll(chromeOffer, "ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2cY5", "ice-pwd:"+strings.Repeat("a", 257)),
		"pwd char":          strings.ReplaceAll(chromeOffer, "ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2cY5", "ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2cY5-"),
		"empty ufrag":       strings.ReplaceAll(chromeOffer, "a=ice-ufrag:Kq8B", "a=ice-ufrag:"),
		"short ufrag":       strings.ReplaceAll(chromeOffer, "a=ice-ufrag:Kq8B", "a=ice-ufrag:Kq8"),
		"ufrag space":       strings.ReplaceAll(chromeOffer, "a=ice-ufrag:Kq8B", "a=ice-ufrag:Kq8B x"),
		"ufrag char":        strings.ReplaceAll(chromeOffer, "a=ice-ufrag:Kq8B", "a=ice-ufrag:Kq8B;"),
		"bad session ufrag": strings.Replace(chromeOffer, "t=0 0\r\n", "t=0 0\r\na=ice-ufrag:!!!!\r\n", 1),
		"print md5":         strings.ReplaceAll(chromeOffer, "sha-256 8B:AB", "md5 8B:AB"),
		"print sha-1 size":  strings.ReplaceAll(chromeOffer, "sha-256 8B:AB", "sha-1 8B:AB"),
		"print short":       strings.ReplaceAll(chromeOffer, ":8D:9E\r\n", ":8D\r\n"),
		"print long":        strings.ReplaceAll(chromeOffer, ":8D:9E\r\n", ":8D:9E:00\r\n"),
		"print not hex":     strings.ReplaceAll(chromeOffer, "sha-256 8B:AB", "sha-256 8G:AB"),
		"print dashes":      strings.ReplaceAll(chromeOffer, "sha-256 8B:AB", "sha-256 8B-AB"),
		"print no digest":   strings.ReplaceAll(chromeOffer, "a=fingerprint:sha-256 8B", "a=fingerprint:sha-256\r\nx=8B"),
		"print two spaces":  strings.ReplaceAll(chromeOffer, "sha-256 8B:AB", "sha-256  8B:AB"),
		"one bad print":     strings.Replace(chromeOffer, "sha-256 8B:AB", "sha-256 8B:XY", 1),
		"bad session print": strings.Replace(chromeOffer, "t=0 0\r\n", "t=0 0\r\na=fingerprint:sha-256 00\r\n", 1),
	} {
		err := ValidateOffer(bad)
		if !errors.Is(err, ErrBadOffer) || !errors.Is(err, ErrBadRequest) || StatusCode(err) != http.StatusBadRequest {
			t.Errorf("%s: %v, want ErrBadOffer", name, err)
		}
	}
	// Credentials and fingerprints may be at session level, in any case
	// and with any of the hash functions.
	atSessionLevel := func(hash, pair string, n int) string {
		return strings.Replace(strings.NewReplacer(
			"a=ice-ufrag:Kq8B\r\n", "",
			"a=ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2cY5\r\n", "",
			"a=fingerprint:sha-256 8B:AB:1E:49:5A:9C:C8:1C:69:6C:0D:1F:63:B4:D8:1C:5D:04:3B:3F:4A:0F:75:0E:1D:2E:3A:4F:6B:7C:8D:9E\r\n", "",
		).Replace(chromeOffer), "t=0 0\r\n", "t=0 0\r\n"+
			"a=ice-ufrag:a+/9\r\na=ice-pwd:"+strings.Repeat("Z", 22)+"\r\n"+
			"a=fingerprint:"+hash+" "+strings.TrimSuffix(strings.Repeat(pair+":", n), ":")+"\r\n", 1)
	}
	sessionLevel := atSessionLevel("SHA-1", "ab", 20)
	good := map[string]string{
		"session level": sessionLevel,
		"sha-512":       atSessionLevel("sha-512", "0F", 64),
		"sha-384":       atSessionLevel("sha-384", "0f", 48),
		"sha-224":       atSessionLevel("sha-224", "99", 28),
		"longest creds": strings.ReplaceAll(strings.ReplaceAll(chromeOffer, "ice-ufrag:Kq8B", "ice-ufrag:"+strings.Repeat("u", 256)), "ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2cY5", "ice-pwd:"+strings.Repeat("p", 256)),
	}
	for name, o := range good {
		if err := ValidateOffer(o); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if o, err := parseOffer(sessionLevel); err != nil || !slices.Equal(o.ufrags, []string{"a+/9"}) {
		t.Errorf("session-level ufrag: %v", err)
	}
}

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", `\r`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func TestOfferCodecs(t *testing.T) {
	o, err := parseOffer(chromeOffer)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.codecs(); !slices.Equal(got, []media.Codec{media.VP8, media.H264}) {
		t.Errorf("codecs %v", got)
	}
	if !o.twcc {
		t.Error("transport-cc not seen")
	}
	// H.264 in packetization mode 0 alone is not H.264 the service sends.
	mode0, err := parseOffer(strings.Replace(chromeOffer,
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40",
		"m=video 9 UDP/TLS/RTP/SAVPF 104 105 96 97", 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := mode0.codecs(); !slices.Equal(got, []media.Codec{media.VP8}) {
		t.Errorf("codecs of an offer with H.264 mode 0 only: %v", got)
	}
}

func TestChooseCodec(t *testing.T) {
	o, err := parseOffer(chromeOffer)
	if err != nil {
		t.Fatal(err)
	}
	vp8, err := parseOffer(strings.Replace(chromeOffer,
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40",
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97", 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		o      *offer
		codec  media.Codec
		device string
		plid   string
		pt     uint8
		err    error
	}{
		{"exact CB", o, media.H264, "42e01f", "42e01f", 106, nil},
		{"exact CB, other level", o, media.H264, "42e028", "42e028", 106, nil},
		{"CB with other flags (Android, libx264)", o, media.H264, "42c01f", "42e01f", 106, nil},
		{"CB as Main with constraint_set0", o, media.H264, "4d801f", "42e01f", 106, nil},
		{"Baseline", o, media.H264, "42001f", "42001f", 102, nil},
		{"Main", o, media.H264, "4d0028", "4d0028", 127, nil},
		{"High", o, media.H264, "640032", "640032", 39, nil},
		{"Constrained High into High", o, media.H264, "640c1f", "64001f", 39, nil},
		{"empty profile means 42e01f", o, media.H264, "", "42e01f", 106, nil},
		{"garbage profile means 42e01f", o, media.H264, "zz", "42e01f", 106, nil},
		{"VP8", o, media.VP8, "", "", 96, nil},
		{"H.264 device, VP8 offer", vp8, media.H264, "42e01f", "", 0, ErrCodecUnsupported},
		{"High 4:4:4 not offered", o, media.H264, "f4001f", "", 0, ErrCodecUnsupported},
		{"unknown codec", o, "av1", "", "", 0, ErrCodecUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := chooseCodec(tc.o, tc.codec, tc.device)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.plid != tc.plid || uint8(c.params.PayloadType) != tc.pt {
				t.Errorf("got %s at %d, want %s at %d", c.plid, c.params.PayloadType, tc.plid, tc.pt)
			}
			if c.codec == media.H264 && !strings.Contains(c.params.SDPFmtpLine, "packetization-mode=1;profile-level-id="+tc.plid) {
				t.Errorf("fmtp %q", c.params.SDPFmtpLine)
			}
		})
	}
}

func TestNewMediaEngineRegistersH264First(t *testing.T) {
	for _, extra := range []string{"", "42e01f", "640032"} {
		if _, err := NewMediaEngine(extra); err != nil {
			t.Errorf("NewMediaEngine(%q): %v", extra, err)
		}
	}
	if _, err := NewMediaEngine("zzzzzz"); err == nil {
		t.Error("a garbage profile was registered")
	}
}

func TestParseSDPFragment(t *testing.T) {
	frag := "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n" +
		"m=audio 9 RTP/AVP 0\r\na=mid:0\r\n" +
		"a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\n" +
		"a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\n" +
		"a=end-of-candidates\r\n"
	cands, ufrag, err := ParseSDPFragment(frag)
	if err != nil {
		t.Fatal(err)
	}
	if ufrag != "EsAw" || len(cands) != 3 {
		t.Fatalf("ufrag %q, %d candidates", ufrag, len(cands))
	}
	if !strings.HasPrefix(cands[0].Candidate, "candidate:1387637174") || *cands[0].SDPMid != "0" || *cands[0].SDPMLineIndex != 0 {
		t.Errorf("first candidate %+v", cands[0])
	}
	if cands[2].Candidate != "" {
		t.Errorf("end-of-candidates became %q", cands[2].Candidate)
	}
	if _, _, err := ParseSDPFragment(strings.Repeat("a=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n", maxRemoteCandidates+1)); !errors.Is(err, ErrBadCandidate) {
		t.Errorf("too many candidates: %v", err)
	}
}

func TestStatusCode(t *testing.T) {
	for err, want := range map[error]int{
		nil:                 200,
		ErrUnknownDevice:    404,
		ErrSessionNotFound:  404,
		ErrBadOffer:         400,
		ErrTooManySessions:  429,
		ErrCodecUnsupported: 406,
		ErrClosed:           503,
		ErrUnavailable:      503,
		ErrLimit:            503,
		ErrBadRequest:       400,
		ErrBadCandidate:     400,
		errors.New("other"): 500,
		&LimitError{Limit: LimitSessions, Max: 1000}:                        503,
		&LimitError{Limit: LimitViewersPerDevice, Max: 200}:                 503,
		&LimitError{Limit: LimitSessionsPerToken, Max: 5}:                   503,
		&LimitError{Limit: LimitSessionsPerUser, Max: 5}:                    429,
		fmt.Errorf("%w: no ICE candidate", ErrUnavailable):                  503,
		fmt.Errorf("create: %w", &LimitError{Limit: LimitSessions, Max: 1}): 503,
	} {
		if got := StatusCode(err); got != want {
			t.Errorf("StatusCode(%v) = %d, want %d", err, got, want)
		}
	}
	wrapped := errors.Join(errors.New("context"), ErrUnknownDevice)
	if StatusCode(wrapped) != 404 || !errors.Is(wrapped, ErrUnknownDevice) {
		t.Error("a wrapped error lost its status")
	}
	if msg := (&LimitError{Limit: LimitSessions, Max: 1000}).Error(); msg != "MAX_SESSIONS (1000) reached: the service takes no more sessions now" {
		t.Errorf("message %q", msg)
	}
	perUser := fmt.Errorf("wrapped: %w", &LimitError{Limit: LimitSessionsPerUser, Max: 5})
	if !errors.Is(perUser, ErrTooManySessions) || !errors.Is(perUser, ErrLimit) {
		t.Error("a per-user LimitError does not match ErrTooManySessions and ErrLimit")
	}
	if errors.Is(&LimitError{Limit: LimitSessions, Max: 1}, ErrTooManySessions) || errors.Is(ErrLimit, ErrUnavailable) {
		t.Error("an error matches a sentinel it is not")
	}
	bad := fmt.Errorf("%w: detail", ErrBadOffer)
	if !errors.Is(bad, ErrBadRequest) || !errors.Is(ErrBadCandidate, ErrBadRequest) || errors.Is(ErrBadRequest, ErrBadOffer) || errors.Is(ErrBadOffer, ErrBadCandidate) {
		t.Error("ErrBadOffer and ErrBadCandidate should be, and only be, cases of ErrBadRequest")
	}
}

func TestAnswerToChromeOffer(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s := syntheticStream(media.H264, 30, 10)
	s.plid = "42c01f" // Constrained Baseline as Android's encoders flag it
	r.p.add("dev1", s)
	sess, answer, err := r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: chromeOffer})
	if err != nil {
		t.Fatal(err)
	}
	defer r.m.Delete(sess.ID())
	for _, want := range []string{
		"m=video 9 UDP/TLS/RTP/SAVPF 106\r\n",
		"a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n",
		"a=rtcp-fb:106 nack pli\r\n",
		"a=rtcp-fb:106 nack\r\n",
		"a=rtcp-fb:106 ccm fir\r\n",
		"a=rtcp-fb:106 transport-cc\r\n",
		"a=extmap:3 " + "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n",
		"a=extmap:12 " + playoutDelayURI + "\r\n",
		"a=extmap:13 " + absCaptureTimeURI + "\r\n",
		"a=sendonly\r\n",
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
	} {
		if !strings.Contains(answer, want) {
			t.Errorf("answer lacks %q", strings.TrimSpace(want))
		}
	}
	if t.Failed() {
		t.Logf("answer:\n%s", answer)
	}
}

func TestOfferWithAudioIsAnswered(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	r.p.add("dev1", syntheticStreamH264())
	audio := "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
		"c=IN IP4 0.0.0.0\r\n" +
		"a=ice-ufrag:Kq8B\r\n" +
		"a=ice-pwd:mWLN0v4PzQ3Jqv2VYp1u2cY5\r\n" +
		"a=fingerprint:sha-256 8B:AB:1E:49:5A:9C:C8:1C:69:6C:0D:1F:63:B4:D8:1C:5D:04:3B:3F:4A:0F:75:0E:1D:2E:3A:4F:6B:7C:8D:9E\r\n" +
		"a=setup:actpass\r\n" +
		"a=mid:2\r\n" +
		"a=recvonly\r\n" +
		"a=rtcp-mux\r\n" +
		"a=rtpmap:111 opus/48000/2\r\n"
	offer := strings.Replace(chromeOffer, "a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 2", 1) + audio
	s, answer, err := r.m.Create(t.Context(), CreateRequest{DeviceID: "dev1", UserID: "u", Offer: offer})
	if err != nil {
		t.Fatal(err)
	}
	defer r.m.Delete(s.ID())
	if !strings.Contains(answer, "m=video 9 UDP/TLS/RTP/SAVPF 106") || !strings.Contains(answer, "m=audio 0") {
		t.Errorf("answer:\n%s", answer)
	}
}
