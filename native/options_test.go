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

func TestOptionsDefaultsPerCodec(t *testing.T) {
	for _, tc := range []struct {
		codec   string
		format  PixelFormat
		profile string
		device  string
		media   string
	}{
		{CodecX264, PixelFormatYUV420P, "baseline", "", MediaCodecH264},
		{CodecNVENC, PixelFormatYUV420P, "baseline", "", MediaCodecH264},
		{CodecQSV, PixelFormatNV12, "baseline", "", MediaCodecH264},
		{CodecVAAPI, PixelFormatNV12, "baseline", DefaultVAAPIDevice, MediaCodecH264},
		{CodecVP8, PixelFormatYUV420P, "", "", MediaCodecVP8},
	} {
		o := Options{Codec: tc.codec, Width: 64, Height: 64}.WithDefaults()
		if o.PixelFormat != tc.format || o.Profile != tc.profile || o.VAAPIDevice != tc.device {
			t.Errorf("%s defaults: format %s profile %q device %q; want %s %q %q", tc.codec, o.PixelFormat, o.Profile, o.VAAPIDevice, tc.format, tc.profile, tc.device)
		}
		if err := o.Validate(); err != nil {
			t.Errorf("%s: %v", tc.codec, err)
		}
		if MediaCodecOf(tc.codec) != tc.media {
			t.Errorf("MediaCodecOf(%s) = %q, want %q", tc.codec, MediaCodecOf(tc.codec), tc.media)
		}
		if IsHardware(tc.codec) != (tc.codec != CodecX264 && tc.codec != CodecVP8) {
			t.Errorf("IsHardware(%s)", tc.codec)
		}
	}
	// VP8 ignores the H.264 profile, even a wrong one.
	if err := (Options{Codec: CodecVP8, Width: 64, Height: 64, Profile: "high10"}).WithDefaults().Validate(); err != nil {
		t.Errorf("VP8 with an H.264 profile: %v", err)
	}
	if err := (Options{Codec: CodecQSV, Width: 64, Height: 64, Profile: "high10"}).WithDefaults().Validate(); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("QSV with profile high10: %v, want ErrInvalidOptions", err)
	}
	if MediaCodecOf("mpeg2video") != "" {
		t.Error("MediaCodecOf of an unknown encoder")
	}
}
