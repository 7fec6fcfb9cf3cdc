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
	if _, err := NewVideoDecoder(DecoderOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("NewVideoDecoder = %v, want ErrUnavailable", err)
	}
	if _, err := NewScaler(64, 64, PixelFormatYUV420P, 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("NewScaler = %v, want ErrUnavailable", err)
	}
	if err := ProbeDecoder(DecoderOptions{Backend: BackendSoftware}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ProbeDecoder = %v, want ErrUnavailable", err)
	}
	if VideoDecoders() != nil || HardwareAccels("h264") != nil {
		t.Fatal("stub reports decoders")
	}
	dec := NewProber(0, "").Decoders(context.Background())
	if len(dec) != len(DecoderBackends) {
		t.Fatalf("%d decoder probe results, want one per backend", len(dec))
	}
	for _, r := range dec {
		if r.Available || r.Reason == "" || r.Decoder == "" {
			t.Fatalf("decoder probe without FFmpeg: %+v, want unavailable with a reason", r)
		}
	}
	if _, err := NewProber(0, "").BestDecoder(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("BestDecoder = %v, want ErrUnavailable", err)
	}
	var f *Frame
	if _, err := f.Ref(); !errors.Is(err, ErrUnavailable) || f.Hardware() != "" || f.Download() == nil {
		t.Fatal("stub frame")
	}
	if _, err := NewMuxer(MuxerOptions{Path: "x.mp4", Codec: MediaCodecH264, Width: 64, Height: 64, ParameterSets: []byte{0, 0, 0, 1, 0x67}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("NewMuxer = %v, want ErrUnavailable", err)
	}
	if !slices.Contains(H264Candidates, CodecX264) || MediaCodecOf(CodecVP8) != MediaCodecVP8 {
		t.Fatal("codec tables")
	}
}
