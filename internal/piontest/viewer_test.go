package piontest

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/cloudphone/media-service/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestViewerCounts: a sender peer in the same process sends RTP; the
// viewer counts every packet, the marked ones as frames, and records
// their arrival.
func TestViewerCounts(t *testing.T) {
	t.Run("viewer", func(t *testing.T) { // its cleanups run before goleak looks
		start := time.Now()
		v, offer := New(t, Options{Record: true})
		sender, err := webrtc.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer sender.Close()
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sender.AddTrack(track); err != nil {
			t.Fatal(err)
		}
		if err := sender.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
			t.Fatal(err)
		}
		answer, err := sender.CreateAnswer(nil)
		if err != nil {
			t.Fatal(err)
		}
		gathered := webrtc.GatheringCompletePromise(sender)
		if err := sender.SetLocalDescription(answer); err != nil {
			t.Fatal(err)
		}
		<-gathered
		v.Answer(t, sender.LocalDescription().SDP)
		testutil.Eventually(t, "the connection", testutil.Generous, func() bool {
			return v.PC.ConnectionState() == webrtc.PeerConnectionStateConnected
		})
		// Three frames of two packets each, until they arrive.
		seq := uint16(0)
		testutil.Eventually(t, "packets and frames counted", testutil.Generous, func() bool {
			for i := range 6 {
				seq++
				p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq/2) * 3000, Marker: i%2 == 1},
					Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}}
				if err := track.WriteRTP(p); err != nil {
					t.Fatal(err)
				}
			}
			return v.Packets() >= 6 && v.Frames() >= 3
		})
		if v.Frames()*2 > v.Packets()+1 {
			t.Fatalf("%d frames of %d packets: every other packet is marked", v.Frames(), v.Packets())
		}
		if at, ok := v.FirstAfter(start); !ok || at.Before(start) {
			t.Fatalf("first arrival after the start: %v %v", at, ok)
		}
		if _, ok := v.FirstAfter(time.Now().Add(time.Hour)); ok {
			t.Fatal("an arrival in the future")
		}
	})
}
