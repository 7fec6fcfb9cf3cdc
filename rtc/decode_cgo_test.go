//go:build cgo

package rtc

import (
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/native"
)

// decoder decodes the access units a client receives with libavcodec.
type decoder struct {
	mu       sync.Mutex
	d        *native.Decoder
	aus      int
	pictures int
	errs     int
	firstPic int // the access unit (1-based) that gave the first picture
	firstAt  time.Time
	w, h     int
}

func (d *decoder) decode(au []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.aus++
	err := d.d.Decode(au, func(p *native.Picture) error {
		d.pictures++
		if d.firstPic == 0 {
			d.firstPic = d.aus
			d.firstAt = time.Now()
			d.w, d.h = p.Width, p.Height
		}
		return nil
	})
	if err != nil {
		d.errs++
	}
}

func (d *decoder) snapshot() (aus, pictures, errs, firstPic, w, h int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.aus, d.pictures, d.errs, d.firstPic, d.w, d.h
}

// TestReceivedVideoDecodes joins a device mid-stream and decodes what the
// client receives: the first access unit (the cached keyframe) gives a
// picture at once, and every later one decodes.
func TestReceivedVideoDecodes(t *testing.T) {
	s264 := testH264(t)
	if !s264.real {
		t.Skip("no real H.264 without the encoder")
	}
	r := newRig(t, testConfig(), 10*time.Millisecond)
	dev := r.p.add("dev1", s264)
	first, _, _ := connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	eventually(t, "the first viewer's frames", func() bool { return first.frames.Load() >= 40 })

	nd, err := native.NewDecoder(native.DecoderH264)
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close()
	dec := &decoder{d: nd}
	keys := dev.keyFrames.Load()
	joined := time.Now()
	connect(t, r.m, "dev1", "bob", clientOptions{plid: s264.plid, onAU: dec.decode})
	eventually(t, "60 decoded pictures", func() bool {
		_, pics, _, _, _, _ := dec.snapshot()
		return pics >= 60
	})
	aus, pics, errs, firstPic, w, h := dec.snapshot()
	t.Logf("first picture %s after the join (offer, answer, ICE, DTLS included)", dec.firstAt.Sub(joined).Round(time.Millisecond))
	if firstPic != 1 {
		t.Errorf("first picture from access unit %d, want the first", firstPic)
	}
	if w != 160 || h != 120 {
		t.Errorf("picture %dx%d, want 160x120", w, h)
	}
	if errs != 0 || pics != aus {
		t.Errorf("%d access units gave %d pictures and %d errors", aus, pics, errs)
	}
	if dev.keyFrames.Load() != keys {
		t.Errorf("the join asked for a keyframe; the cache should have served it")
	}
}
