package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/piontest"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// lossy drops every nth RTP packet before the client's interceptors see
// it: to transport-wide congestion control the link loses 1/n of what is
// sent, as a congested or throttled link does.
type lossy struct {
	interceptor.NoOp
	n int
}

func (l *lossy) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	count := 0
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil {
				return n, attr, err
			}
			if count++; count%l.n != 0 {
				return n, attr, nil
			}
		}
	})
}

type lossyFactory struct{ n int }

func (f lossyFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &lossy{n: f.n}, nil
}

// TestThrottledViewerMovesToLowerRung is lenient: a Pion viewer on a link
// that loses a quarter of the packets watches a device on the default
// settings (screenrecord, auto, rungs 1 and 0.5). Its bandwidth estimate
// falls below the full rung's minimum, and it moves to the half-size rung,
// which the service encodes from the device's decoded stream; the session
// says so. Only the outcome is checked, with a generous deadline.
func TestThrottledViewerMovesToLowerRung(t *testing.T) {
	base, sim, _ := startService(t, map[string]string{"VIDEO_BITRATE": "1200000"})
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	ir.Add(lossyFactory{n: 4}) // first: the others never see the lost packets
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	v, offer := piontest.New(t, piontest.Options{API: webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir))})
	code, _, body := call(t, "POST", base+"/api/media/sessions", "application/json", sessionBody(sim.Addr(), offer))
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var created struct{ SessionID, Answer string }
	json.Unmarshal([]byte(body), &created)
	v.Answer(t, created.Answer)
	type info struct {
		Rung  int
		Stats struct{ TargetBitRate, RungSwitches int }
	}
	session := func() (info, error) {
		req, _ := http.NewRequest("GET", base+"/api/media/sessions", nil)
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return info{}, err
		}
		defer resp.Body.Close()
		var list struct{ Sessions []info }
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Sessions) == 0 {
			return info{}, err
		}
		return list.Sessions[0], nil
	}
	var last info
	testutil.EventuallyErr(t, "the throttled viewer on the half-size rung", 90*time.Second, func() (bool, error) {
		var err error
		last, err = session()
		time.Sleep(200 * time.Millisecond)
		return last.Rung == 1, err
	})
	t.Logf("session %+v", last)
	if outs := deviceOutputs(t, base); len(outs) < 2 || outs[0] != "h264:passthrough" || outs[1] != "h264:libx264" {
		t.Fatalf("outputs %v, want the device's stream and the half-size encode", outs)
	}
}
