package encoder

import (
	"errors"
	"slices"
	"testing"

	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

func TestRecommendedEncoderForCaptureFormat(t *testing.T) {
	probed := []string{native.CodecNVENC, native.CodecX264}
	for _, tc := range []struct {
		mode media.CaptureMode
		kind media.EncoderKind
		want Choice
		err  bool
	}{
		{media.CaptureScreenrecord, media.KindAuto, Choice{Kind: media.KindPassthrough}, false},
		{media.CaptureRawFrames, media.KindAuto, Choice{Kind: media.KindH264, Candidates: []string{native.CodecNVENC, native.CodecX264}}, false},
		{media.CaptureRawFrames, "", Choice{Kind: media.KindH264, Candidates: []string{native.CodecNVENC, native.CodecX264}}, false},
		{media.CaptureScreenrecord, media.KindPassthrough, Choice{Kind: media.KindPassthrough}, false},
		{media.CaptureRawFrames, media.KindPassthrough, Choice{}, true},
		{media.CaptureScreenrecord, media.KindH264, Choice{Kind: media.KindH264, Candidates: []string{native.CodecNVENC, native.CodecX264}, Decode: true}, false},
		{media.CaptureRawFrames, media.KindVP8, Choice{Kind: media.KindVP8, Candidates: []string{native.CodecVP8}}, false},
		{media.CaptureScreenrecord, media.KindVP8, Choice{Kind: media.KindVP8, Candidates: []string{native.CodecVP8}, Decode: true}, false},
		{media.CaptureRawFrames, "h265", Choice{}, true},
	} {
		got, err := RecommendedEncoderForCaptureFormat(tc.mode, tc.kind, probed)
		if tc.err {
			if !errors.Is(err, media.ErrConfig) {
				t.Errorf("%v/%q: %v, want media.ErrConfig", tc.mode, tc.kind, err)
			}
			continue
		}
		if err != nil || got.Kind != tc.want.Kind || got.Decode != tc.want.Decode || !slices.Equal(got.Candidates, tc.want.Candidates) {
			t.Errorf("%v/%q = %+v, %v; want %+v", tc.mode, tc.kind, got, err, tc.want)
		}
	}
	// libx264 ends every chain exactly once, even if the probe found nothing.
	got, _ := RecommendedEncoderForCaptureFormat(media.CaptureRawFrames, media.KindAuto, nil)
	if !slices.Equal(got.Candidates, []string{native.CodecX264}) || got.Codec() != media.H264 {
		t.Fatalf("empty probe: %+v", got)
	}
	if c, _ := RecommendedEncoderForCaptureFormat(media.CaptureRawFrames, media.KindVP8, nil); c.Codec() != media.VP8 {
		t.Fatal("VP8 choice does not report VP8")
	}
}

func TestCodecOf(t *testing.T) {
	if CodecOf(native.CodecVP8) != media.VP8 || CodecOf(native.CodecX264) != media.H264 || CodecOf(native.CodecNVENC) != media.H264 {
		t.Fatal("CodecOf")
	}
}
