package native

import (
	"errors"
	"testing"
	"time"
)

func TestOptionsDefaults(t *testing.T) {
	o := Options{Width: 1280, Height: 720}.WithDefaults()
	want := Options{Codec: CodecX264, Width: 1280, Height: 720, PixelFormat: PixelFormatYUV420P, FrameRate: 30,
		BitRate: 2_000_000, VBVBuffer: 500 * time.Millisecond, Preset: "faster", Profile: "baseline", KeyFrameInterval: 60}
	if o != want {
		t.Fatalf("WithDefaults = %+v, want %+v", o, want)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o := (Options{Width: 2, Height: 2, FrameRate: 60}).WithDefaults(); o.KeyFrameInterval != 120 {
		t.Fatalf("keyframe interval %d at 60 fps, want 120 (two seconds)", o.KeyFrameInterval)
	}
}

func TestPixelFormatNames(t *testing.T) {
	for _, p := range []PixelFormat{PixelFormatYUV420P, PixelFormatNV12, PixelFormatRGBA, PixelFormatBGRA, PixelFormatRGB24} {
		got, err := ParsePixelFormat(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePixelFormat(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParsePixelFormat("none"); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("ParsePixelFormat(none) = %v, want ErrInvalidOptions", err)
	}
	if s := PixelFormat(99).String(); s != "PixelFormat(99)" {
		t.Errorf("String of an unknown format = %q", s)
	}
	if PixelFormatRGB24.BytesPerPixel() != 3 || PixelFormatBGRA.BytesPerPixel() != 4 || PixelFormatNV12.BytesPerPixel() != 0 {
		t.Error("BytesPerPixel")
	}
}
