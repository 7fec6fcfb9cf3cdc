package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/chromium"
	"github.com/cloudphone/media-service/internal/testutil"
)

// watchInChromium opens the viewer page for device in a new headless
// Chromium and waits until it decoded frames; it returns the browser and
// the codec it plays.
func watchInChromium(t *testing.T, base, device, query string) (*chromium.Browser, string) {
	t.Helper()
	b := chromium.Launch(t)
	if err := b.Navigate(fmt.Sprintf("%s/?device=%s&token=%s%s", base, device, e2eToken, query)); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Frames int    `json:"frames"`
		Codec  string `json:"codec"`
	}
	testutil.EventuallyErr(t, "the page decodes frames", 60*time.Second, func() (bool, error) {
		err := b.Eval(`window.viewer ? {frames: viewer.framesDecoded, codec: viewer.codec || ""} : null`, &s)
		return s.Frames >= 10 && s.Codec != "", err
	})
	return b, s.Codec
}

// deviceOutputs returns "codec:encoder" for each running output of the
// first device, from GET /api/media/devices.
func deviceOutputs(t *testing.T, base string) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/media/devices", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Devices []struct {
			Outputs []struct{ Codec, Encoder string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range body.Devices {
		for _, o := range d.Outputs {
			out = append(out, o.Codec+":"+o.Encoder)
		}
	}
	return out
}

// TestProductionSettingsInChromium: the original design's recommended
// production settings play in a real browser: the device's H.264 is
// decoded here and re-encoded on the worker pool.
func TestProductionSettingsInChromium(t *testing.T) {
	base, sim, _ := startService(t, map[string]string{
		"CAPTURE_MODE": "screenrecord", "VIDEO_ENCODER_TYPE": "h264", "USE_WORKER_POOL": "true", "WORKER_COUNT": "8",
		"H264_HW_ACCEL": "auto", "H264_PRESET": "faster", "VIDEO_FRAMERATE": "30", "VIDEO_BITRATE": "2000000",
	})
	_, codec := watchInChromium(t, base, sim.Addr(), "")
	if codec != "video/H264" {
		t.Fatalf("playing %s", codec)
	}
	// Rung 0 first; on a loaded machine the viewer may also have moved to
	// the half-size rung.
	if outs := deviceOutputs(t, base); len(outs) == 0 || outs[0] != "h264:pool:libx264" {
		t.Fatalf("outputs %v, want the pooled libx264 encode", outs)
	}
}

// TestVP8BrowserBesideH264: on the default settings (screenrecord, auto),
// a browser that only speaks VP8 watches beside one that takes H.264: the
// first gets a VP8 encoding made here, the second the device's own
// stream.
func TestVP8BrowserBesideH264(t *testing.T) {
	// One rung: on a loaded machine a viewer's estimate may move it to a
	// lower rung, which is another test's business.
	base, sim, _ := startService(t, map[string]string{"VIDEO_RUNGS": "1"})
	_, h264 := watchInChromium(t, base, sim.Addr(), "")
	_, vp8 := watchInChromium(t, base, sim.Addr(), "&codec=vp8")
	if h264 != "video/H264" || vp8 != "video/VP8" {
		t.Fatalf("codecs %s and %s", h264, vp8)
	}
	outs := deviceOutputs(t, base)
	if len(outs) != 2 || outs[0] != "h264:passthrough" || outs[1] != "vp8:libvpx" {
		t.Fatalf("outputs %v", outs)
	}
}
