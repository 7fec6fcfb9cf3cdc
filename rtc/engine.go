package rtc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cloudphone/media-service/media"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// BaseH264Profiles are the H.264 profile-level-ids the media engine
// registers, in this order and before VP8, all with packetization mode 1:
// Constrained Baseline, Baseline, Main and Constrained High at level 3.1.
var BaseH264Profiles = []string{"42e01f", "42001f", "4d001f", "640c1f"}

// Payload types of the engine's codecs. An answer uses the offer's payload
// types; these only matter to the engine's own bookkeeping.
const (
	ptH264Base   = 96 // 96..99: BaseH264Profiles
	ptVP8        = 100
	ptH264Device = 101 // the device's profile when no base profile matches
)

// defaultProfileLevelID is used for a device that reports none.
const defaultProfileLevelID = "42e01f"

// videoFeedback is the RTCP feedback every video codec takes.
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: webrtc.TypeRTCPFBNACK},
	{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
	{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
	{Type: webrtc.TypeRTCPFBTransportCC},
}

// h264Fmtp is the fmtp line of an H.264 codec with profile-level-id plid.
func h264Fmtp(plid string) string {
	return "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + plid
}

// h264Capability is the codec capability of H.264 at plid.
func h264Capability(plid string) webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: h264Fmtp(plid), RTCPFeedback: videoFeedback,
	}
}

// vp8Capability is the codec capability of VP8.
func vp8Capability() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}
}

// NewMediaEngine returns a media engine with H.264 registered first
// (BaseH264Profiles, then extraH264 if its profile is not among them),
// then VP8, with NACK, PLI, FIR and transport-cc feedback, and the
// transport-cc, playout-delay and abs-capture-time header extensions.
func NewMediaEngine(extraH264 string) (*webrtc.MediaEngine, error) {
	me := &webrtc.MediaEngine{}
	register := func(c webrtc.RTPCodecCapability, pt webrtc.PayloadType) error {
		return me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: pt}, webrtc.RTPCodecTypeVideo)
	}
	extra := extraH264 != ""
	for i, p := range BaseH264Profiles {
		if err := register(h264Capability(p), webrtc.PayloadType(ptH264Base+i)); err != nil {
			return nil, err
		}
		if extra && sameProfileBytes(p, extraH264) {
			extra = false
		}
	}
	if extra {
		if _, _, ok := parseProfileLevelID(extraH264); !ok {
			return nil, fmt.Errorf("rtc: profile-level-id %q is not 6 hex digits of a known profile", extraH264)
		}
		if err := register(h264Capability(extraH264), ptH264Device); err != nil {
			return nil, err
		}
	}
	if err := register(vp8Capability(), ptVP8); err != nil {
		return nil, err
	}
	for _, uri := range []string{sdp.TransportCCURI, playoutDelayURI, absCaptureTimeURI} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	return me, nil
}

// interceptors builds a session's interceptor chain. Packets leave the
// track through them in the reverse order of Add: the header extensions
// (playout-delay, abs-capture-time), sender reports, the NACK responder,
// the packet counter (which sees retransmissions too), the transport-cc
// sequence numbers, and last Google Congestion Control, whose estimate
// the session reads. GCC runs without a pacer: frames leave as they come,
// for latency, and the estimate only steers the encoder.
func (s *Session) interceptors(cfg Config) (*interceptor.Registry, error) {
	reg := &interceptor.Registry{}
	bwe, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(cfg.StartBitRate),
			gcc.SendSideBWEMinBitrate(cfg.MinBitRate),
			gcc.SendSideBWEMaxBitrate(cfg.MaxBitRate),
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
			gcc.WithLoggerFactory(s.m.logs),
		)
	})
	if err != nil {
		return nil, err
	}
	bwe.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { s.bwe.Store(&e) })
	reg.Add(bwe)
	ext, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(ext)
	reg.Add(counterFactory{s})
	responder, err := nack.NewResponderInterceptor(nack.ResponderSize(512), nack.WithResponderLoggerFactory(s.m.logs))
	if err != nil {
		return nil, err
	}
	reg.Add(responder)
	sr, err := report.NewSenderInterceptor(report.WithSenderLoggerFactory(s.m.logs))
	if err != nil {
		return nil, err
	}
	reg.Add(sr)
	reg.Add(headerExtFactory{s})
	return reg, nil
}

// H.264 profiles, as WebRTC tells them apart by profile_idc and the
// constraint flags (RFC 6184 section 8.1; libwebrtc's table).
type h264Profile int

const (
	profileUnknown h264Profile = iota
	profileConstrainedBaseline
	profileBaseline
	profileMain
	profileConstrainedHigh
	profileHigh
	profilePredictiveHigh444
)

// profilePatterns maps profile_idc and the constraint byte (under mask)
// to a profile.
var profilePatterns = []struct {
	idc, mask, value byte
	p                h264Profile
}{
	{0x42, 0x4f, 0x40, profileConstrainedBaseline}, // x1xx0000
	{0x4d, 0x8f, 0x80, profileConstrainedBaseline}, // 1xxx0000
	{0x58, 0xcf, 0xc0, profileConstrainedBaseline}, // 11xx0000
	{0x42, 0x4f, 0x00, profileBaseline},            // x0xx0000
	{0x58, 0xcf, 0x80, profileBaseline},            // 10xx0000
	{0x4d, 0xaf, 0x00, profileMain},                // 0x0x0000
	{0x64, 0xff, 0x00, profileHigh},                // 00000000
	{0x64, 0xff, 0x0c, profileConstrainedHigh},     // 00001100
	{0xf4, 0xff, 0x00, profilePredictiveHigh444},   // 00000000
}

// parseProfileLevelID returns the profile and level of an H.264
// profile-level-id (6 hex digits).
func parseProfileLevelID(s string) (h264Profile, byte, bool) {
	if len(s) != 6 {
		return profileUnknown, 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return profileUnknown, 0, false
	}
	idc, iop, level := byte(v>>16), byte(v>>8), byte(v)
	for _, p := range profilePatterns {
		if idc == p.idc && iop&p.mask == p.value {
			return p.p, level, true
		}
	}
	return profileUnknown, 0, false
}

// decodes reports whether a decoder of profile dec decodes every stream
// of profile stream.
func decodes(dec, stream h264Profile) bool {
	if dec == stream {
		return true
	}
	switch stream {
	case profileConstrainedBaseline:
		return dec == profileBaseline || dec == profileMain || dec == profileConstrainedHigh || dec == profileHigh
	case profileMain, profileConstrainedHigh:
		return dec == profileHigh
	}
	return false
}

// sameProfileBytes reports whether two profile-level-ids share profile_idc
// and constraint flags (Pion's notion of a matching H.264 format).
func sameProfileBytes(a, b string) bool {
	return len(a) >= 4 && len(b) >= 4 && strings.EqualFold(a[:4], b[:4])
}

// codecChoice is the codec a session sends.
type codecChoice struct {
	codec media.Codec
	// plid is the H.264 profile-level-id the answer carries.
	plid   string
	params webrtc.RTPCodecParameters
}

// chooseCodec picks the offer's format for the device's codec and
// profile. For H.264 it prefers, in this order, a format with the device's
// own profile bytes, one of the same profile, and one of a profile that
// decodes the device's (a Constrained Baseline stream for a Main decoder,
// say), all with packetization mode 1. The answer carries the device's
// profile-level-id in the first case, else the format's profile with the
// device's level: the same profile in the terms of RFC 6184, which keeps
// the answer symmetric for peers that compare the bytes (Pion does).
func chooseCodec(o *offer, codec media.Codec, devicePLID string) (codecChoice, error) {
	switch codec {
	case media.VP8:
		for _, f := range o.video {
			if f.codec == media.VP8 {
				return codecChoice{codec: media.VP8, params: webrtc.RTPCodecParameters{
					RTPCodecCapability: vp8Capability(), PayloadType: webrtc.PayloadType(f.pt),
				}}, nil
			}
		}
		return codecChoice{}, fmt.Errorf("%w: device sends VP8; the offer has no VP8", ErrCodecUnsupported)
	case media.H264:
	default:
		return codecChoice{}, fmt.Errorf("%w: device codec %q", ErrCodecUnsupported, codec)
	}
	devicePLID = strings.ToLower(devicePLID)
	dev, level, ok := parseProfileLevelID(devicePLID)
	if !ok {
		devicePLID = defaultProfileLevelID
		dev, level, _ = parseProfileLevelID(devicePLID)
	}
	best, rank := -1, 3
	for i, f := range o.video {
		if f.codec != media.H264 || f.fmtp["packetization-mode"] != "1" {
			continue
		}
		plid := f.fmtp["profile-level-id"]
		if plid == "" {
			plid = "420010" // RFC 6184's default: Baseline, level 1
		}
		p, _, ok := parseProfileLevelID(plid)
		if !ok {
			continue
		}
		r := 3
		switch {
		case sameProfileBytes(plid, devicePLID):
			r = 0
		case p == dev:
			r = 1
		case decodes(p, dev):
			r = 2
		}
		if r < rank {
			best, rank = i, r
		}
	}
	if best < 0 {
		return codecChoice{}, fmt.Errorf("%w: device sends H.264 %s; the offer has no H.264 (packetization mode 1) that decodes it", ErrCodecUnsupported, devicePLID)
	}
	f := o.video[best]
	plid := devicePLID
	if rank > 0 {
		offered := f.fmtp["profile-level-id"]
		if offered == "" {
			offered = "420010"
		}
		plid = strings.ToLower(offered[:4]) + fmt.Sprintf("%02x", level)
	}
	return codecChoice{codec: media.H264, plid: plid, params: webrtc.RTPCodecParameters{
		RTPCodecCapability: h264Capability(plid), PayloadType: webrtc.PayloadType(f.pt),
	}}, nil
}
