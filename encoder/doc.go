// Package encoder is the pure-Go side of encoding raw pictures here: the
// encoder interface, the fallback chain of encoders (ChainFor, H264Chain),
// the guard that replaces a hung or failing encoder, and the two ways to
// run it, one Pipeline per stream or a WorkerPool shared by many, with
// their timeouts and drop accounting. The libavcodec backends live in
// native.
//
// What gets encoded, and for whom, is not decided here but by the device
// package, from CAPTURE_MODE and VIDEO_ENCODER_TYPE: passthrough never
// re-encodes; auto, in screenrecord mode, gives H.264 viewers on rung 0
// the device's own stream and the others a re-encoding of the decoded
// stream, and in screencap and raw-frames modes the best H.264 encoder,
// with libvpx for VP8-only viewers; h264 and vp8 always serve this
// service's encoding, decoded from screenrecord in screenrecord mode.
package encoder
