// Package piontest has a receive-only Pion peer for tests: it offers to
// receive one video track and counts what arrives, light enough that a
// test process holds hundreds of them.
package piontest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Options configure a Viewer.
type Options struct {
	// Record keeps each RTP packet's arrival time (FirstAfter).
	Record bool
	// API builds the peer connection (a media engine or interceptors of
	// the test's own); nil: Pion's defaults.
	API *webrtc.API
	// OnPacket, if set, sees every RTP packet, on the track's goroutine.
	OnPacket func(*rtp.Packet)
	// DataChannel, if set, is the label of a data channel the offer
	// opens (Viewer.Channel).
	DataChannel string
}

// Viewer is a receive-only peer: it counts the RTP packets and the frames
// (packets with the marker bit) of the first video track it gets.
type Viewer struct {
	// PC is the peer connection; New closes it when the test ends.
	PC *webrtc.PeerConnection
	// Channel is the data channel of Options.DataChannel.
	Channel *webrtc.DataChannel

	packets, frames atomic.Int64
	record          bool
	mu              sync.Mutex
	arrived         []time.Time
}

// New returns a viewer and its offer (SDP, candidates gathered) to send
// to the service; Answer applies the service's answer.
func New(tb testing.TB, o Options) (*Viewer, string) {
	tb.Helper()
	newPC := webrtc.NewPeerConnection
	if o.API != nil {
		newPC = o.API.NewPeerConnection
	}
	pc, err := newPC(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	v := &Viewer{PC: pc, record: o.Record}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		tb.Fatal(err)
	}
	if o.DataChannel != "" {
		if v.Channel, err = pc.CreateDataChannel(o.DataChannel, nil); err != nil {
			tb.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			v.packets.Add(1)
			if p.Marker {
				v.frames.Add(1)
			}
			if v.record {
				v.mu.Lock()
				v.arrived = append(v.arrived, time.Now())
				v.mu.Unlock()
			}
			if o.OnPacket != nil {
				o.OnPacket(p)
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	<-gathered
	return v, pc.LocalDescription().SDP
}

// Answer applies the service's answer.
func (v *Viewer) Answer(tb testing.TB, sdp string) {
	tb.Helper()
	if err := v.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		tb.Fatal(err)
	}
}

// Packets returns the RTP packets received.
func (v *Viewer) Packets() int64 { return v.packets.Load() }

// Frames returns the frames received: packets with the marker bit.
func (v *Viewer) Frames() int64 { return v.frames.Load() }

// FirstAfter returns when the first packet after t arrived (Options.Record).
func (v *Viewer) FirstAfter(t time.Time) (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, a := range v.arrived {
		if a.After(t) {
			return a, true
		}
	}
	return time.Time{}, false
}
