// Package fanout holds one device's encoded streams and their readers,
// knowing no protocol: it imports only the shared vocabulary (media).
//
// A Stream is one encoded stream of a device (one codec and quality rung).
// Its owner writes access units to it; Write never blocks. A Stream keeps
// the units since the latest keyframe (the GOP cache), so that a new
// reader starts at once from that keyframe. Each Reader has its own
// bounded queue and one goroutine that hands units to its Writer; a reader
// whose queue is full drops what it has queued and skips to the next
// keyframe, so a slow reader never holds up the owner or the other readers.
// A Reader moves between the streams of one device (quality rungs) at a
// keyframe of the new stream: one queue, one writer, no gap and no mix.
//
// A protocol is a Writer: rtc turns a Sample into an RTP packetizer's
// sample at the last step. The stage histograms (queue: Write → the
// reader's goroutine took the unit; send: → the Writer returned) are kept
// per Stream.
//
// Control (who of a device's viewers sends input) and the rung selector
// (which rung a viewer's bandwidth estimate calls for) are here too: they
// are the device's rules for its readers, which the session layer and the
// device's owner both apply.
//
// Taken from mediamtx's internal/stream: one stream and many readers, each
// with its own bounded queue and goroutine, drops counted and logged at a
// bounded rate. Done differently: the stream keeps a GOP cache for fast
// join, a full queue drops everything queued and waits for a keyframe
// (mediamtx drops the newest unit, which for H.264 leaves the decoder
// broken until the next IDR anyway), the reader asks the owner for a
// keyframe through a merged, rate-limited request, and a reader moves
// between a device's streams without a second writer.
package fanout
