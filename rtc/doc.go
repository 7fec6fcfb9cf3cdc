// Package rtc is the WebRTC side on Pion: the media engine, sessions,
// per-device fan-out to viewers, keyframe and bandwidth feedback, ICE
// settings and the input data channel. It is pure Go; the units it sends
// come from the encoder package (H.264 access units in Annex-B form, or
// VP8 frames).
//
// # Pieces
//
//   - [Manager] creates, finds and ends sessions ([Manager.Create],
//     [Manager.Get], [Manager.List], [Manager.Delete],
//     [Manager.AddCandidate], [Manager.AddSDPFragment]). Its map is sharded
//     ([Config.Shards]); each user may hold [Config.MaxSessionsPerUser]
//     sessions. A sweep closes sessions that never connected or stayed
//     disconnected for [Config.IdleTimeout], and at once those whose
//     connection failed or closed.
//   - A [Provider] gives a session its [Device] and the device's
//     [Broadcaster]. [Hub] is the Provider over a [MediaSource]: it starts a
//     device's capture and encoder for its first viewer, shares them, and
//     stops them [Config.Linger] after the last viewer left.
//   - [Broadcaster] fans a device's units out. [Broadcaster.Write] never
//     blocks: each viewer has a bounded queue (64 units) and a writer
//     goroutine that writes samples to the session's
//     TrackLocalStaticSample; a viewer whose queue fills drops what it
//     queued and skips to the next keyframe (counted), so a slow viewer
//     holds up nobody. The broadcaster keeps the units since the latest
//     keyframe, so a viewer starts at once from a keyframe (fast join); with
//     none cached it asks the device for one. Keyframe requests (joins,
//     skips, PLI and FIR from any viewer) are merged and rate-limited
//     ([Config.KeyFrameMinInterval]).
//
// # Codecs
//
// The media engine ([NewMediaEngine]) registers H.264 first, with
// packetization mode 1 and the profiles of [BaseH264Profiles], then VP8;
// NACK, PLI, FIR and transport-cc feedback; and the transport-cc,
// playout-delay and abs-capture-time header extensions. Each session sends
// the device's codec. For H.264 the answer carries the profile the device
// actually produces ([Device.ProfileLevelID]): the device's own
// profile-level-id when the offer has those profile bytes, else the
// offered format of the same profile (Constrained Baseline flagged 42c0 by
// Android encoders answers as the offer's 42e0) or of a profile that
// decodes it, with the device's level. An offer that cannot receive the
// device's codec (VP8 only, for an H.264 device) fails with
// [ErrCodecUnsupported]; [OfferCodecs] tells the service what the offer
// takes, so that it can start a VP8 pipeline for such clients and create
// the session again.
//
// # Outgoing packets
//
// Every RTP packet carries the playout-delay extension with min = max = 0
// (render at once; Chrome otherwise adds some 40 ms of smoothing), and the
// first packet of each frame carries abs-capture-time with the time the
// unit reached the broadcaster, when the client negotiated them. The
// interceptors are the NACK responder, RTCP sender reports, transport-cc
// sequence numbers and Google Congestion Control (no pacer: frames leave
// as they come). The lowest estimate among a device's viewers that give
// transport-wide feedback, clamped to [Config.MinBitRate] ..
// [Config.MaxBitRate], goes to [Device.SetBitRate] at most every
// [Config.BitRateInterval] and only when it moved by 5% or more
// ([NextBitRate]); a device that answers media.ErrUnsupported
// (pass-through) is not asked again.
//
// # Signalling
//
// [Manager.Create] takes the offer as raw SDP (application/sdp, as WHEP
// posts it) or as the JSON of an RTCSessionDescription, and validates it
// before anything is allocated ([ValidateOffer]: an offer, with a video
// m-line that can receive, ICE credentials, a fingerprint and mids). With
// [Config.Trickle] false the answer waits for ICE gathering and holds every
// candidate; with it true the answer comes at once, the client's
// candidates arrive through [Manager.AddCandidate] or
// [Manager.AddSDPFragment] (WHEP's PATCH body,
// application/trickle-ice-sdpfrag) and the server's go to
// [CreateRequest.OnCandidate]. ICE restarts are not supported. Errors are
// sentinels that carry HTTP status codes ([StatusCode]).
//
// # Input
//
// The client creates a data channel labelled "input" (in-band); others
// are closed. Each message is one JSON object of at most 4 KiB:
//
//	{"type":"tap","x":0.5,"y":0.25}
//	{"type":"swipe","x":0.1,"y":0.2,"x2":0.9,"y2":0.8,"durationMs":300}
//	{"type":"longpress","x":0.5,"y":0.5,"durationMs":600}
//	{"type":"key","key":"KEYCODE_BACK"}
//	{"type":"text","text":"hello"}
//	{"type":"control"}          take control of the device
//	{"type":"release"}          give it up
//	{"type":"latency",...}      a client report, for Config.OnClientReport
//	{"type":"report",...}       likewise
//	{"type":"ping","t":123}     answered {"type":"pong","t":123}
//
// Coordinates are fractions (0..1) of the displayed video; [Device.Input]
// maps them to device pixels. One viewer controls a device at a time: the
// first to send input, or the last to send "control", until it leaves or
// releases. Input from others is refused. Every refused or malformed
// message is answered with {"type":"error","message":"..."}; a change of
// control with {"type":"control","state":"granted"|"revoked"|"released"}.
package rtc
