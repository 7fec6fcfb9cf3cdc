//go:build cgo

package native

import (
	"errors"
	"image"
	"image/color"
	"io"
	"testing"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

func TestMediaDevicesReadCloser(t *testing.T) {
	const w, h, n = 320, 240, 12
	pat := newTestPattern(w, h, false)
	i := 0
	// Alternate the picture types a mediadevices source produces.
	reader := video.ReaderFunc(func() (image.Image, func(), error) {
		if i == n {
			return nil, nil, io.EOF
		}
		ref := pat.reference(i)
		i++
		switch i % 3 {
		case 0:
			return &image.YCbCr{Y: ref.y, Cb: ref.u, Cr: ref.v, YStride: w, CStride: w / 2,
				SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: image.Rect(0, 0, w, h)}, func() {}, nil
		case 1:
			img := image.NewRGBA(image.Rect(0, 0, w, h))
			for y := range h {
				for x := range w {
					img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
				}
			}
			return img, func() {}, nil
		default:
			img := image.NewGray(image.Rect(0, 0, w, h))
			for k := range img.Pix {
				img.Pix[k] = uint8(k)
			}
			return img, func() {}, nil
		}
	})
	params := &Params{}
	if fmtp := params.RTPCodec().SDPFmtpLine; fmtp != "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" {
		t.Fatalf("fmtp %q", fmtp)
	}
	if mime := (&Params{Options: Options{Codec: CodecVP8}}).RTPCodec().MimeType; mime != "video/VP8" {
		t.Fatalf("libvpx RTP codec %q, want video/VP8", mime)
	}
	rc, err := params.BuildVideoEncoder(reader, prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: 30}})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.Controller().(codec.KeyFrameController); !ok {
		t.Fatal("controller is not a KeyFrameController")
	}
	if _, ok := rc.Controller().(codec.BitRateController); !ok {
		t.Fatal("controller is not a BitRateController")
	}
	dec, err := NewDecoder(DecoderH264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	pics := 0
	for k := 0; ; k++ {
		if k == 6 {
			rc.Controller().(codec.KeyFrameController).ForceKeyFrame()
		}
		b, release, err := rc.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if (k == 0 || k == 6) && !hasNAL(b, nalSPS, nalPPS, nalIDR) {
			t.Fatalf("unit %d: NAL types %v, want an IDR", k, nalTypes(b))
		}
		if err := dec.Decode(b, func(p *Picture) error {
			if p.Width != w || p.Height != h {
				t.Fatalf("decoded %dx%d", p.Width, p.Height)
			}
			if k%3 == 2 { // the YCbCr picture passes through unconverted
				if q := psnr(t, pat.reference(k), p); q < 30 {
					t.Errorf("unit %d: PSNR %.1f dB", k, q)
				}
			}
			pics++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		release()
	}
	if pics != n {
		t.Fatalf("decoded %d pictures, want %d", pics, n)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
