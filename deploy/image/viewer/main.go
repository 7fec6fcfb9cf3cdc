// Command viewer is the Pion viewer deploy/image/test.sh plays a session
// to: it POSTs /api/media/sessions with a receive-only offer (candidates
// gathered), applies the answer, and exits 0 once it has received -frames
// video frames (RTP packets with the marker bit), 1 if the deadline
// passes first.
//
//	go run ./deploy/image/viewer -url http://127.0.0.1:30006 -device 127.0.0.1:5600
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:30006", "the service's base URL")
	device := flag.String("device", "", "the device's id (serial), as GET /api/media/devices lists it")
	user := flag.String("user", "image-test", "the session's userId")
	token := flag.String("token", os.Getenv("API_TOKEN"), "a Bearer token (default $API_TOKEN); none with AUTH_DISABLED=true")
	want := flag.Int64("frames", 30, "frames to receive")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after")
	flag.Parse()
	if *device == "" {
		fmt.Fprintln(os.Stderr, "viewer: -device is required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := view(ctx, *base, *device, *user, *token, *want); err != nil {
		fmt.Fprintf(os.Stderr, "viewer: %v\n", err)
		os.Exit(1)
	}
}

func view(ctx context.Context, base, device, user, token string, want int64) error {
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return err
	}
	var packets, frames atomic.Int64
	done := make(chan struct{})
	codec := make(chan string, 1)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		codec <- tr.Codec().MimeType
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			packets.Add(1)
			if p.Marker && frames.Add(1) == want {
				close(done)
			}
		}
	})
	state := make(chan webrtc.PeerConnectionState, 8)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		select {
		case state <- s:
		default:
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fmt.Errorf("gathering candidates: %w", ctx.Err())
	}

	body, _ := json.Marshal(map[string]string{"deviceId": device, "userId": user, "offer": pc.LocalDescription().SDP})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/api/media/sessions", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /api/media/sessions: %s %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var created struct {
		SessionID string `json:"sessionId"`
		Answer    string `json:"answer"`
	}
	if err := json.Unmarshal(b, &created); err != nil {
		return fmt.Errorf("POST /api/media/sessions: %w: %s", err, b)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: created.Answer}); err != nil {
		return err
	}
	fmt.Printf("session %s created\n", created.SessionID)
	start := time.Now()
	for {
		select {
		case s := <-state:
			fmt.Printf("peer connection: %s (%v)\n", s, time.Since(start).Round(time.Millisecond))
			if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
				return fmt.Errorf("peer connection %s after %d packets, %d frames", s, packets.Load(), frames.Load())
			}
		case c := <-codec:
			fmt.Printf("track: %s\n", c)
		case <-done:
			fmt.Printf("received %d frames (%d RTP packets) in %v\n", frames.Load(), packets.Load(), time.Since(start).Round(time.Millisecond))
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%w: %d of %d frames (%d RTP packets) received", ctx.Err(), frames.Load(), want, packets.Load())
		}
	}
}
