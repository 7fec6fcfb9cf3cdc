// Package annexb frames an H.264 Annex-B byte stream into access units and
// parses sequence parameter sets.
//
// The stream is what Android's `screenrecord --output-format=h264 -` writes:
// NAL units separated by start codes (00 00 01 or 00 00 00 01), arriving over
// ADB in chunks that need not line up with NAL units or access units. A
// [Framer] reassembles them into access units (H.264 7.4.1.2.3), scanning
// each byte once and reusing its buffer, so the steady state allocates
// nothing. [Stream] drives a Framer from an io.ReadCloser and flushes an
// access unit as soon as the stream goes quiet, instead of waiting for the
// next access unit's start code (one frame interval later).
//
// [ParseSPS] reads the picture size (after cropping), profile, level and the
// VUI timing from a sequence parameter set; [SPS.ProfileLevelID] gives the
// SDP profile-level-id.
//
// The package is pure Go and allocation-conscious; it never panics on any
// input.
package annexb
