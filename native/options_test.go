package native

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOptionsDefaults(t *testing.T) {
	o := Options{Width: 1280, Height: 720}.WithDefaults()
	want := Options{Codec: CodecX264, Width: 1280, Height: 720, PixelFormat: PixelFormatYUV420P, FrameRate: 30,
		BitRate: 2_000_000, VBVBuffer: 500 * time.Millisecond, Preset: "faster", Profile: "baseline", KeyFrameInterval: 60}
	if !reflect.DeepEqual(o, want) {
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
		{CodecQSV, PixelFormatYUV420P, "baseline", "", MediaCodecH264},
		{CodecVAAPI, PixelFormatYUV420P, "baseline", DefaultVAAPIDevice, MediaCodecH264},
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

// TestCaptureFormatIsTheDefault: every encoder defaults to the capture
// format, whatever it takes natively.
func TestCaptureFormatIsTheDefault(t *testing.T) {
	if CaptureFormat != PixelFormatYUV420P {
		t.Fatalf("CaptureFormat = %s, want yuv420p", CaptureFormat)
	}
	for _, codec := range codecNames() {
		if o := (Options{Codec: codec}).WithDefaults(); o.PixelFormat != CaptureFormat {
			t.Errorf("%s: default pixel format %s, want %s", codec, o.PixelFormat, CaptureFormat)
		}
	}
}

func TestInputFormats(t *testing.T) {
	yuv, nv12 := PixelFormatYUV420P, PixelFormatNV12
	for _, tc := range []struct {
		codec string
		want  []PixelFormat
	}{
		{CodecX264, []PixelFormat{yuv, nv12}},
		{CodecNVENC, []PixelFormat{yuv, nv12}},
		{CodecQSV, []PixelFormat{nv12}},
		{CodecVAAPI, []PixelFormat{nv12}},
		{CodecVP8, []PixelFormat{yuv}},
		{"mpeg2video", nil},
	} {
		if got := InputFormats(tc.codec); !slices.Equal(got, tc.want) {
			t.Errorf("InputFormats(%s) = %v, want %v", tc.codec, got, tc.want)
		}
	}
	// The result is the caller's to change.
	InputFormats(CodecX264)[0] = PixelFormatRGBA
	if InputFormats(CodecX264)[0] != yuv {
		t.Fatal("InputFormats returns shared storage")
	}

	for _, tc := range []struct {
		o      Options
		native []PixelFormat
		input  PixelFormat
	}{
		{Options{Codec: CodecX264}, []PixelFormat{yuv, nv12}, yuv},
		{Options{Codec: CodecX264, PixelFormat: nv12}, []PixelFormat{yuv, nv12}, nv12},
		{Options{Codec: CodecX264, InputFormats: []PixelFormat{nv12}}, []PixelFormat{nv12}, nv12},
		// The backend's order, not the option's.
		{Options{Codec: CodecX264, InputFormats: []PixelFormat{nv12, yuv}}, []PixelFormat{yuv, nv12}, yuv},
		{Options{Codec: CodecQSV}, []PixelFormat{nv12}, nv12},
		{Options{Codec: CodecVAAPI, PixelFormat: nv12}, []PixelFormat{nv12}, nv12},
		{Options{Codec: CodecVP8, PixelFormat: nv12}, []PixelFormat{yuv}, yuv},
		{Options{Codec: CodecVP8, InputFormats: []PixelFormat{yuv, nv12}}, []PixelFormat{yuv}, yuv},
	} {
		o := tc.o
		o.Width, o.Height = 64, 64
		o = o.WithDefaults()
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", tc.o, err)
			continue
		}
		if got := o.nativeInputs(); !slices.Equal(got, tc.native) {
			t.Errorf("%s limited to %v: native inputs %v, want %v", o.Codec, o.InputFormats, got, tc.native)
		}
		if got := o.inputFormat(); got != tc.input {
			t.Errorf("%s limited to %v, fed %s: input format %s, want %s", o.Codec, o.InputFormats, o.PixelFormat, got, tc.input)
		}
	}
}

func TestInputFormatsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no overlap", Options{Codec: CodecVP8, InputFormats: []PixelFormat{PixelFormatNV12}}, "InputFormats [nv12]: libvpx takes none of them natively (it takes [yuv420p])"},
		{"no overlap qsv", Options{Codec: CodecQSV, InputFormats: []PixelFormat{PixelFormatYUV420P}}, "InputFormats [yuv420p]: h264_qsv takes none of them natively (it takes [nv12])"},
		{"packed", Options{Codec: CodecX264, InputFormats: []PixelFormat{PixelFormatNV12, PixelFormatRGBA}}, "InputFormats: rgba is not an encoder input format"},
		{"none", Options{Codec: CodecX264, InputFormats: []PixelFormat{PixelFormatNone}}, "InputFormats: none is not an encoder input format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Width, o.Height = 64, 64
			err := o.WithDefaults().Validate()
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrInvalidOptions containing %q", err, tc.want)
			}
		})
	}
}
