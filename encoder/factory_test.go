package encoder

import (
	"slices"
	"testing"

	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

// TestH264Chain: libx264 ends every chain exactly once, after the probe's
// encoders in their order, even when the probe found nothing.
func TestH264Chain(t *testing.T) {
	for _, tc := range []struct{ probed, want []string }{
		{nil, []string{native.CodecX264}},
		{[]string{native.CodecNVENC}, []string{native.CodecNVENC, native.CodecX264}},
		{[]string{native.CodecX264, native.CodecNVENC}, []string{native.CodecNVENC, native.CodecX264}},
		{[]string{native.CodecNVENC, native.CodecVAAPI, native.CodecX264}, []string{native.CodecNVENC, native.CodecVAAPI, native.CodecX264}},
	} {
		if got := H264Chain(tc.probed); !slices.Equal(got, tc.want) {
			t.Errorf("H264Chain(%v) = %v, want %v", tc.probed, got, tc.want)
		}
	}
}

func TestCodecOf(t *testing.T) {
	if CodecOf(native.CodecVP8) != media.VP8 || CodecOf(native.CodecX264) != media.H264 || CodecOf(native.CodecNVENC) != media.H264 {
		t.Fatal("CodecOf")
	}
}
