package fanout

import "github.com/cloudphone/media-service/media"

// GOP returns the units the stream caches since its latest keyframe,
// keyframe first, as a decoder needs them for the newest picture (a
// screenshot of a stream passed through). complete is false when the
// group outgrew the cache, which then keeps its keyframe alone: decoding
// that gives an older picture than the stream's newest. No units: no
// keyframe seen yet (or the stream is closed). The units share their data
// with the stream: do not change it.
func (s *Stream) GOP() (units []media.Unit, complete bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.gop) == 0 {
		return nil, false
	}
	units = make([]media.Unit, len(s.gop))
	for i, it := range s.gop {
		units[i] = it.u
	}
	return units, !s.gopBroken
}
