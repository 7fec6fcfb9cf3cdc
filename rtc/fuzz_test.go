package rtc

import (
	"errors"
	"math"
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cloudphone/media-service/media"

	"github.com/pion/sdp/v3"
)

// FuzzInputMessage feeds the input channel's parser arbitrary bytes: it
// must never panic, must refuse with ErrInvalidInput, and what it accepts
// must be within range.
func FuzzInputMessage(f *testing.F) {
	f.Add([]byte(`{"type":"tap","x":0.5,"y":0.25}`))
	f.Add([]byte(`{"type":"text","text":"hello"}`))
	f.Add([]byte(`{"type":"touch","action":"move","id":1,"x":0.5,"y":0.25,"pressure":0.5}`))
	f.Add([]byte(`{"type":"scroll","x":0.5,"y":0.5,"dx":-1,"dy":2.5}`))
	f.Add([]byte(`{"type":"key","key":"29","action":"down","meta":4097,"repeat":3}`))
	f.Add([]byte(`{"type":"clipboard","text":"a\tb\nc","paste":true}`))
	f.Add([]byte(`{"type":"rotate","rotation":-1}`))
	f.Add([]byte(`{"type":"screen","on":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseInputMessage(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("error %v does not wrap ErrInvalidInput", err)
			}
			return
		}
		if len(data) > MaxInputMessage {
			t.Fatalf("accepted %d bytes", len(data))
		}
		for _, v := range []float64{m.X, m.Y, m.X2, m.Y2} {
			if math.IsNaN(v) || v < 0 || v > 1 {
				t.Fatalf("coordinate %g accepted", v)
			}
		}
		if m.Duration < 0 || m.Duration > MaxGestureDuration {
			t.Fatalf("duration %s accepted", m.Duration)
		}
		for _, v := range []float64{m.Pressure, m.DX, m.DY} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%g accepted", v)
			}
		}
		if m.Pressure < 0 || m.Pressure > 1 || m.Pointer < 0 || m.Pointer >= media.MaxPointers {
			t.Fatalf("pressure %g, finger %d accepted", m.Pressure, m.Pointer)
		}
		if m.DX < -media.MaxScroll || m.DX > media.MaxScroll || m.DY < -media.MaxScroll || m.DY > media.MaxScroll {
			t.Fatalf("scroll %g,%g accepted", m.DX, m.DY)
		}
		if m.Meta < 0 || m.Meta > MaxKeyMeta || m.Repeat < 0 || m.Repeat > MaxKeyRepeat || (m.Repeat > 0 && m.Action != media.ActionDown) {
			t.Fatalf("meta %d, repeat %d (%s) accepted", m.Meta, m.Repeat, m.Action)
		}
		if m.Rotation < media.RotationAuto || m.Rotation > 3 {
			t.Fatalf("rotation %d accepted", m.Rotation)
		}
		// Only touch and key events have actions.
		switch {
		case m.Type == InputTouch && !slices.Contains([]string{"down", "move", "up", "cancel"}, m.Action),
			m.Type == InputKey && !slices.Contains([]string{"", "down", "up"}, m.Action),
			m.Type != InputTouch && m.Type != InputKey && m.Action != "":
			t.Fatalf("%s action %q accepted", m.Type, m.Action)
		}
		switch m.Type {
		case InputSwipe, InputLongPress:
			if m.Duration < time.Millisecond {
				t.Fatalf("duration %s accepted", m.Duration)
			}
		case InputKey:
			if _, err := key(&m.Key); err != nil {
				t.Fatalf("key %q accepted", m.Key)
			}
		case InputText:
			if m.Text == "" || len(m.Text) > MaxInputText || !utf8.ValidString(m.Text) {
				t.Fatalf("text %q accepted", m.Text)
			}
			for _, r := range m.Text {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("control character in accepted text %q", m.Text)
				}
			}
		case InputClipboard:
			if m.Text == "" || len(m.Text) > MaxClipboardText || !utf8.ValidString(m.Text) {
				t.Fatalf("clipboard %q accepted", m.Text)
			}
			for _, r := range m.Text {
				if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f {
					t.Fatalf("control character in accepted clipboard %q", m.Text)
				}
			}
		case InputScroll:
			if m.DX == 0 && m.DY == 0 {
				t.Fatal("a scroll of nothing accepted")
			}
		case InputTap, InputControl, InputRelease, InputLatency, InputReport, InputPing,
			InputTouch, InputRotate, InputScreen, InputClipboardGet:
		default:
			t.Fatalf("type %q accepted", m.Type)
		}
	})
}

// Well-formed DTLS fingerprints and ICE credentials, as FuzzOffer checks
// what parseOffer accepted.
var (
	wellFormedFingerprint = regexp.MustCompile(`^(?i)(sha-1 (?:[0-9a-f]{2}:){19}|sha-224 (?:[0-9a-f]{2}:){27}|` +
		`sha-256 (?:[0-9a-f]{2}:){31}|sha-384 (?:[0-9a-f]{2}:){47}|sha-512 (?:[0-9a-f]{2}:){63})[0-9a-f]{2}$`)
	wellFormedUfrag = regexp.MustCompile(`^[A-Za-z0-9+/]{4,256}$`)
	wellFormedPwd   = regexp.MustCompile(`^[A-Za-z0-9+/]{22,256}$`)
)

// checkAccepted checks the fingerprints and ICE credentials of an offer
// parseOffer accepted: each one well-formed, and each m-line that is not
// rejected has all three, at session level or its own.
func checkAccepted(t *testing.T, text string) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(text); err != nil {
		t.Fatalf("accepted an offer that does not parse: %v", err)
	}
	check := func(attrs []sdp.Attribute) (fp, ufrag, pwd bool) {
		for _, a := range attrs {
			var re *regexp.Regexp
			switch a.Key {
			case "fingerprint":
				re, fp = wellFormedFingerprint, true
			case "ice-ufrag":
				re, ufrag = wellFormedUfrag, true
			case "ice-pwd":
				re, pwd = wellFormedPwd, true
			default:
				continue
			}
			if !re.MatchString(a.Value) {
				t.Fatalf("accepted a=%s:%q", a.Key, a.Value)
			}
		}
		return fp, ufrag, pwd
	}
	sfp, sufrag, spwd := check(d.Attributes)
	for i, m := range d.MediaDescriptions {
		if m.MediaName.Port.Value == 0 {
			continue
		}
		fp, ufrag, pwd := check(m.Attributes)
		if !(fp || sfp) || !(ufrag || sufrag) || !(pwd || spwd) {
			t.Fatalf("accepted m-line %d without a fingerprint or ICE credentials", i)
		}
	}
}

// FuzzOffer feeds offer validation, codec choice and SDP fragment parsing
// arbitrary text: no panics, ErrBadOffer (a bad request) for what is
// refused, and an accepted offer has a video m-line and well-formed DTLS
// fingerprints and ICE credentials.
func FuzzOffer(f *testing.F) {
	f.Add(chromeOffer)
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = ParseSDPFragment(s)
		o, err := parseOffer(s)
		if err != nil {
			if !errors.Is(err, ErrBadOffer) || !errors.Is(err, ErrBadRequest) || StatusCode(err) != http.StatusBadRequest {
				t.Fatalf("error %v does not wrap ErrBadOffer", err)
			}
			return
		}
		if o.sdp == "" {
			t.Fatal("accepted an empty offer")
		}
		checkAccepted(t, o.sdp)
		codecs := o.codecs()
		for i, c := range codecs {
			if c != media.H264 && c != media.VP8 || slices.Contains(codecs[:i], c) {
				t.Fatalf("offer codecs %v", codecs)
			}
		}
		for _, dev := range []struct {
			c    media.Codec
			plid string
		}{{media.H264, "42e01f"}, {media.H264, "640c28"}, {media.H264, "4d801f"}, {media.VP8, ""}} {
			c, err := chooseCodec(o, dev.c, dev.plid)
			if err != nil {
				if !errors.Is(err, ErrCodecUnsupported) {
					t.Fatalf("chooseCodec: %v", err)
				}
				continue
			}
			if c.codec != dev.c {
				t.Fatalf("chose %s for a %s device", c.codec, dev.c)
			}
			if !slices.Contains(codecs, dev.c) {
				t.Fatalf("chose %s, which the offer's codecs %v lack", dev.c, codecs)
			}
			if dev.c == media.H264 {
				if _, _, ok := parseProfileLevelID(c.plid); !ok {
					t.Fatalf("chose profile-level-id %q", c.plid)
				}
			}
		}
	})
}
