package fanout

import (
	"testing"

	"github.com/cloudphone/media-service/media"
)

// TestGOP: the cached group since the latest keyframe, complete until it
// outgrows the cache, when its keyframe alone stays.
func TestGOP(t *testing.T) {
	s := New(Config{QueueSize: 8, GOPCacheUnits: 4})
	defer s.Close()
	if units, complete := s.GOP(); units != nil || complete {
		t.Fatal("a GOP before any keyframe")
	}
	s.Write(media.Unit{Data: []byte{1}})
	if units, _ := s.GOP(); units != nil {
		t.Fatal("a delta unit before any keyframe was cached")
	}
	s.Write(media.Unit{Data: []byte{2}, KeyFrame: true})
	s.Write(media.Unit{Data: []byte{3}})
	units, complete := s.GOP()
	if !complete || len(units) != 2 || !units[0].KeyFrame || units[1].Data[0] != 3 {
		t.Fatalf("GOP %+v complete %v", units, complete)
	}
	for i := range 4 {
		s.Write(media.Unit{Data: []byte{byte(4 + i)}})
	}
	units, complete = s.GOP()
	if complete || len(units) != 1 || units[0].Data[0] != 2 {
		t.Fatalf("an outgrown GOP: %+v complete %v", units, complete)
	}
	s.Close()
	if units, _ := s.GOP(); units != nil {
		t.Fatal("a closed stream's GOP")
	}
}
