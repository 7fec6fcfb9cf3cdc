package encoder

import (
	"errors"
	"slices"
	"testing"

	"github.com/cloudphone/media-service/capture"
	"github.com/cloudphone/media-service/native"
)

func TestRecommendedEncoderForCaptureFormat(t *testing.T) {
	probed := []string{native.CodecNVENC, native.CodecX264}
	for _, tc := range []struct {
		format CaptureFormat
		kind   Kind
		want   Choice
		err    bool
	}{
		{CaptureH264, KindAuto, Choice{Kind: KindPassthrough}, false},
		{CaptureRaw, KindAuto, Choice{Kind: KindH264, Candidates: []string{native.CodecNVENC, native.CodecX264}}, false},
		{CaptureRaw, "", Choice{Kind: KindH264, Candidates: []string{native.CodecNVENC, native.CodecX264}}, false},
		{CaptureH264, KindPassthrough, Choice{Kind: KindPassthrough}, false},
		{CaptureRaw, KindPassthrough, Choice{}, true},
		{CaptureH264, KindH264, Choice{Kind: KindH264, Candidates: []string{native.CodecNVENC, native.CodecX264}, Decode: true}, false},
		{CaptureRaw, KindVP8, Choice{Kind: KindVP8, Candidates: []string{native.CodecVP8}}, false},
		{CaptureH264, KindVP8, Choice{Kind: KindVP8, Candidates: []string{native.CodecVP8}, Decode: true}, false},
		{CaptureRaw, "h265", Choice{}, true},
	} {
		got, err := RecommendedEncoderForCaptureFormat(tc.format, tc.kind, probed)
		if tc.err {
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%v/%q: %v, want ErrConfig", tc.format, tc.kind, err)
			}
			continue
		}
		if err != nil || got.Kind != tc.want.Kind || got.Decode != tc.want.Decode || !slices.Equal(got.Candidates, tc.want.Candidates) {
			t.Errorf("%v/%q = %+v, %v; want %+v", tc.format, tc.kind, got, err, tc.want)
		}
	}
	// libx264 ends every chain exactly once, even if the probe found nothing.
	got, _ := RecommendedEncoderForCaptureFormat(CaptureRaw, KindAuto, nil)
	if !slices.Equal(got.Candidates, []string{native.CodecX264}) || got.Codec() != H264 {
		t.Fatalf("empty probe: %+v", got)
	}
	if c, _ := RecommendedEncoderForCaptureFormat(CaptureRaw, KindVP8, nil); c.Codec() != VP8 {
		t.Fatal("VP8 choice does not report VP8")
	}
}

func TestPassthrough(t *testing.T) {
	asked := 0
	p := NewPassthrough(func() { asked++ })
	s := capture.Sample{Data: []byte{0, 0, 0, 1, 0x65}, KeyFrame: true, PTS: 5}
	u := p.Pass(s)
	if &u.Data[0] != &s.Data[0] || !u.KeyFrame || u.PTS != 5 || u.Codec != H264 || u.Encoder != PassthroughName {
		t.Fatalf("Pass = %+v: must forward the sample without copying", u)
	}
	p.ForceKeyFrame()
	if asked != 1 {
		t.Fatal("ForceKeyFrame did not reach the source")
	}
	if err := p.SetBitRate(1); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("SetBitRate = %v", err)
	}
	if CodecOf(native.CodecVP8) != VP8 || CodecOf(native.CodecX264) != H264 {
		t.Fatal("CodecOf")
	}
}
