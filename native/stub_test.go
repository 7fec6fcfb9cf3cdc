//go:build !cgo

package native

import (
	"errors"
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
}
