//go:build !cgo

package native

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestStubReportsUnavailable(t *testing.T) {
	if Available {
		t.Fatal("Available without cgo")
	}
	if _, err := NewEncoder(Options{Width: 64, Height: 64}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("NewEncoder = %v, want ErrUnavailable", err)
	}
	if _, err := NewFramePool(64, 64, PixelFormatYUV420P, 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("NewFramePool = %v, want ErrUnavailable", err)
	}
	if _, err := NewDecoder(DecoderH264); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("NewDecoder = %v, want ErrUnavailable", err)
	}
	if ErrUnavailable.Error() == "" || VideoEncoders() != nil || FFmpegVersion() != "" {
		t.Fatal("stub reports FFmpeg")
	}
	res := NewProber(0, "").All(context.Background())
	if len(res) != len(H264Candidates)+1 {
		t.Fatalf("%d probe results, want one per encoder", len(res))
	}
	for _, r := range res {
		if r.Available || r.Reason == "" {
			t.Fatalf("probe without FFmpeg: %+v, want unavailable with a reason", r)
		}
	}
	if _, err := NewProber(0, "").Best(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Best = %v, want ErrUnavailable", err)
	}
	if err := ProbeEncoder(Options{Codec: CodecX264}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ProbeEncoder = %v, want ErrUnavailable", err)
	}
	if f := (&Encoder{}).InputFormat(); f != PixelFormatNone {
		t.Fatalf("InputFormat of the stub encoder = %s", f)
	}
	if !slices.Contains(H264Candidates, CodecX264) || MediaCodecOf(CodecVP8) != MediaCodecVP8 {
		t.Fatal("codec tables")
	}
}
