package rtc

import (
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// zeroPlayoutDelay is the playout-delay extension with min = max = 0:
// render each frame as soon as it is decoded. Without it Chrome smooths
// playout with some 40 ms of buffering.
var zeroPlayoutDelay = func() []byte {
	b, err := rtp.PlayoutDelayExtension{MinDelay: 0, MaxDelay: 0}.Marshal()
	if err != nil {
		return []byte{0, 0, 0}
	}
	return b
}()

// headerExtFactory builds a session's headerExt interceptor.
type headerExtFactory struct{ s *Session }

// NewInterceptor returns the interceptor for one peer connection.
func (f headerExtFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &headerExt{s: f.s}, nil
}

// headerExt adds to every outgoing RTP packet the playout-delay extension
// (min = max = 0), and to the first packet of each frame the
// abs-capture-time extension with the time the unit reached the
// broadcaster, when the peer negotiated them.
type headerExt struct {
	interceptor.NoOp
	s *Session
}

// BindLocalStream wraps the stream's writer.
func (h *headerExt) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var playoutID, captureID uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.ID <= 0 || e.ID > 255 {
			continue
		}
		switch e.URI {
		case playoutDelayURI:
			playoutID = uint8(e.ID)
		case absCaptureTimeURI:
			captureID = uint8(e.ID)
		}
	}
	if playoutID == 0 && captureID == 0 {
		return w
	}
	var lastTS atomic.Uint64 // 1<<32 | timestamp of the last frame stamped
	return interceptor.RTPWriterFunc(func(hdr *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if playoutID != 0 {
			if err := hdr.SetExtension(playoutID, zeroPlayoutDelay); err != nil {
				return 0, err
			}
		}
		if captureID != 0 {
			ts := 1<<32 | uint64(hdr.Timestamp)
			if lastTS.Swap(ts) != ts {
				if at := h.s.captureTime(); !at.IsZero() {
					if b, err := rtp.NewAbsCaptureTimeExtension(at).Marshal(); err == nil {
						if err := hdr.SetExtension(captureID, b); err != nil {
							return 0, err
						}
					}
				}
			}
		}
		return w.Write(hdr, payload, a)
	})
}

// counterFactory builds a session's packet counter.
type counterFactory struct{ s *Session }

// NewInterceptor returns the counter for one peer connection.
func (f counterFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &counter{s: f.s}, nil
}

// counter counts the RTP packets and payload bytes a session sends,
// retransmissions included.
type counter struct {
	interceptor.NoOp
	s *Session
}

// BindLocalStream wraps the stream's writer.
func (c *counter) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(hdr *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		n, err := w.Write(hdr, payload, a)
		if err == nil {
			c.s.packetsSent.Add(1)
			c.s.bytesSent.Add(uint64(len(payload)))
		}
		return n, err
	})
}

// captureClock returns the time stored by setCaptureTime.
type captureClock struct{ ns atomic.Int64 }

func (c *captureClock) set(t time.Time) {
	if t.IsZero() {
		c.ns.Store(0)
		return
	}
	c.ns.Store(t.UnixNano())
}

func (c *captureClock) get() time.Time {
	ns := c.ns.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
