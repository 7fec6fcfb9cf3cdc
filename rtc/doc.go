// Package rtc is the WebRTC side on Pion: the media engine, sessions,
// keyframe and bandwidth feedback, ICE settings and the input data
// channel. It is pure Go; the units it sends come from a device's
// fan-out (package fanout: H.264 access units in Annex-B form, or VP8
// frames), and it turns each into an RTP sample at the last step.
//
// # Pieces
//
//   - [Manager] creates, finds and ends sessions ([Manager.Create],
//     [Manager.Get], [Manager.List], [Manager.Delete],
//     [Manager.AddCandidate], [Manager.AddSDPFragment]). Its map is sharded
//     ([Config.Shards]). Admission bounds the sessions of the service
//     ([Config.MaxSessions]), of each device ([Config.MaxViewersPerDevice]),
//     of each API token ([Config.MaxSessionsPerToken]) and of each user
//     within a token ([Config.MaxSessionsPerUser]); a session is counted
//     from before its device is joined until it has closed, and one over a
//     bound is refused with a [*LimitError] that names it. A session of a
//     view-only token ([CreateRequest.ViewOnly]) only watches. A sweep
//     closes sessions that never connected or stayed
//     disconnected for [Config.IdleTimeout], and at once those whose
//     connection failed or closed; ICE finds a viewer that went silent
//     within [Config.ICEDisconnectedTimeout] + [Config.ICEFailedTimeout]
//     (8 s by default). [Manager.Totals] sums each device's session
//     counters, closed sessions included, so they never go down.
//   - A [Provider] joins a session to its device and returns the viewer's
//     [Feed]: [Media] (the picture, written by a fanout.Reader to the
//     session's [fanout.Writer]), [Feedback] (keyframe requests, bandwidth
//     estimates) and [Control] (input, by one viewer at a time). The
//     service adapts the device package's registry to it: one owner per
//     device holds the device's capture, coders, fan-out, keyframe
//     limiting, bit-rate control and input, and starts and stops the
//     device; rtc knows nothing of cgo, adb or encoders.
//   - The fan-out itself (package fanout) knows no protocol: each viewer
//     has a bounded queue and a goroutine that writes samples to the
//     session's writer, which hands them to the TrackLocalStaticSample.
//     Keyframe requests (joins, skips, PLI and FIR from any viewer) go to
//     the device's owner, which merges and rate-limits them.
//
// # Codecs
//
// The media engine ([NewMediaEngine]) registers H.264 first, with
// packetization mode 1 and the profiles of [BaseH264Profiles], then VP8;
// NACK, PLI, FIR and transport-cc feedback; and the transport-cc,
// playout-delay and abs-capture-time header extensions. Each session sends
// the device's codec. For H.264 the answer carries the profile the device
// actually produces ([Feed.Format]): the device's own
// profile-level-id when the offer has those profile bytes, else the
// offered format of the same profile (Constrained Baseline flagged 42c0 by
// Android encoders answers as the offer's 42e0) or of a profile that
// decodes it, with the device's level. An offer that cannot receive the
// device's codec (VP8 only, for an H.264 device) fails with
// [ErrCodecUnsupported]; the codecs the offer takes go to [Provider.Join]
// ([JoinRequest.Codecs]), which picks the device's output by them.
//
// # Outgoing packets
//
// Every RTP packet carries the playout-delay extension with min = max = 0
// (render at once; Chrome otherwise adds some 40 ms of smoothing), and the
// first packet of each frame carries abs-capture-time with the time the
// unit reached the fan-out, when the client negotiated them. The
// interceptors are the NACK responder, RTCP sender reports, transport-cc
// sequence numbers and Google Congestion Control (no pacer: frames leave
// as they come), bounded by [Config.MinBitRate] .. [Config.MaxBitRate].
// Every [Config.SweepInterval] the estimate of each viewer that gives
// transport-wide feedback goes to its feed ([Feed.SetEstimate]); the
// device's owner sets its encoder's rate from its viewers' estimates.
//
// # Signalling
//
// [Manager.Create] takes the offer as raw SDP (application/sdp, as WHEP
// posts it) or as the JSON of an RTCSessionDescription, and validates it
// fully before anything is allocated or counted ([ValidateOffer]: an
// offer, with a video m-line that can receive H.264 or VP8, well-formed
// ICE credentials and DTLS fingerprints, and mids). The answer waits for
// ICE gathering and holds every server candidate; a session that gathered
// none (its UDP port range exhausted, say) is refused with
// [ErrUnavailable], never answered. The client may trickle its own
// candidates through [Manager.AddCandidate] or [Manager.AddSDPFragment]
// (WHEP's PATCH body, application/trickle-ice-sdpfrag). ICE restarts are
// not supported. Errors carry HTTP status codes ([StatusCode]): sentinels,
// and [*LimitError].
//
// # ICE
//
// With [Config.ICEUDPMuxPort] every session's host candidates share one
// UDP port (the manager opens it, and closes it with [Manager.Close]);
// else each takes a port of [Config.ICEPortMin] .. [Config.ICEPortMax]
// per local address. ICE-TCP, when enabled, has one passive listener
// ([Config.ICETCPPort]). Multicast DNS is off: no socket on port 5353
// and no ".local" candidates; a client's ".local" candidates are not
// resolved, which ICE does not need (the client's checks reach the
// server's candidates). Server-reflexive candidates (STUN) take ports
// of the range even with the mux; TURN allocations use a socket of the
// system's choosing.
//
// # Input
//
// The client creates a data channel labelled "input" (in-band); others
// are closed. Each message is one JSON object of at most
// [MaxInputMessage] bytes (room for a 64 KiB clipboard):
//
//	{"type":"touch","action":"down","id":0,"x":0.5,"y":0.25}  down|move|up|cancel, finger 0..9, "pressure" 0..1 optional
//	{"type":"scroll","x":0.5,"y":0.5,"dx":0,"dy":1.5}         wheel notches, -16..16
//	{"type":"key","key":"29","action":"down","meta":4096}     "action" down|up (none: a press), "repeat" 0..1000
//	{"type":"key","key":"KEYCODE_BACK"}
//	{"type":"text","text":"héllo"}                          1..1000 bytes, no control characters
//	{"type":"clipboard","text":"...","paste":true}          set the device's clipboard (and paste)
//	{"type":"clipboard-get"}    answered {"type":"clipboard","text":"..."}
//	{"type":"rotate","rotation":1}                          0..3, or -1: the sensor's
//	{"type":"screen","on":false}
//	{"type":"tap","x":0.5,"y":0.25}
//	{"type":"swipe","x":0.1,"y":0.2,"x2":0.9,"y2":0.8,"durationMs":300}
//	{"type":"longpress","x":0.5,"y":0.5,"durationMs":600}
//	{"type":"control"}          take control of the device
//	{"type":"release"}          give it up
//	{"type":"latency",...}      a client report, for Config.OnClientReport
//	{"type":"report",...}       likewise
//	{"type":"ping","t":123}     answered {"type":"pong","t":123}
//
// Coordinates are fractions (0..1) of the displayed video; [Feed.Input]
// maps them to device pixels. One viewer controls a device at a time: the
// first to send input, or the last to send "control", until it leaves or
// releases. Input from others is refused, and so are the input, "control"
// and "clipboard-get" of a view-only session ("this token is view-only").
// Every refused or malformed message is answered with
// {"type":"error","message":"..."}; a change of control with
// {"type":"control","state":"granted"|"revoked"|"released"}. Once the
// channel is open the session relays its device's notices
// ([Control.Notices]) until it closes: {"type":"input","method":"agent",
// "slow":false,"sdk":34} (how input reaches the device), and
// {"type":"clipboard","text":"..."} when the device's clipboard changes
// (not to a view-only session). A session logs its input, input errors
// and control takeovers when it closes.
package rtc
