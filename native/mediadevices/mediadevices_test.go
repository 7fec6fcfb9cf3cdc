package mediadevices

import (
	"errors"
	"image"
	"image/color"
	"io"
	"log/slog"
	"math"
	"slices"
	"testing"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	"go.uber.org/goleak"

	"github.com/cloudphone/media-service/native"
)

func TestMain(m *testing.M) {
	native.SetLogger(slog.New(slog.DiscardHandler)) // FFmpeg's own stderr output is noise here
	goleak.VerifyTestMain(m)
}

func TestRTPCodec(t *testing.T) {
	for _, tc := range []struct {
		opts       native.Options
		mime, fmtp string
	}{
		{native.Options{}, "video/H264", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
		{native.Options{Profile: "main"}, "video/H264", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"},
		{native.Options{Profile: "high"}, "video/H264", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"},
		{native.Options{Codec: native.CodecVP8}, "video/VP8", ""},
	} {
		c := (&Params{Options: tc.opts}).RTPCodec()
		if c.MimeType != tc.mime || c.SDPFmtpLine != tc.fmtp {
			t.Errorf("%+v: RTP codec %s %q, want %s %q", tc.opts, c.MimeType, c.SDPFmtpLine, tc.mime, tc.fmtp)
		}
	}
}

func TestUnavailableWithoutCgo(t *testing.T) {
	if native.Available {
		t.Skip("FFmpeg is linked")
	}
	reader := video.ReaderFunc(func() (image.Image, func(), error) { return nil, nil, io.EOF })
	if _, err := (&Params{}).BuildVideoEncoder(reader, prop.Media{Video: prop.Video{Width: 64, Height: 64}}); !errors.Is(err, native.ErrUnavailable) {
		t.Fatalf("BuildVideoEncoder without FFmpeg: %v, want ErrUnavailable", err)
	}
}

func TestReadCloser(t *testing.T) {
	if !native.Available {
		t.Skip("FFmpeg is not linked (CGO_ENABLED=0)")
	}
	const w, h, n = 320, 240, 12
	i := 0
	// Alternate the picture types a mediadevices source produces.
	reader := video.ReaderFunc(func() (image.Image, func(), error) {
		if i == n {
			return nil, nil, io.EOF
		}
		k := i
		i++
		switch k % 3 {
		case 0:
			return pattern(w, h, k), func() {}, nil
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
			for p := range img.Pix {
				img.Pix[p] = uint8(p)
			}
			return img, func() {}, nil
		}
	})
	rc, err := (&Params{}).BuildVideoEncoder(reader, prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: 30}})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	kf, ok := rc.Controller().(codec.KeyFrameController)
	if !ok {
		t.Fatal("controller is not a KeyFrameController")
	}
	br, ok := rc.Controller().(codec.BitRateController)
	if !ok {
		t.Fatal("controller is not a BitRateController")
	}
	dec, err := native.NewDecoder(native.DecoderH264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	pics := 0
	for k := 0; ; k++ {
		switch k {
		case 6:
			if err := kf.ForceKeyFrame(); err != nil {
				t.Fatal(err)
			}
		case 9:
			if err := br.SetBitRate(500_000); err != nil {
				t.Fatal(err)
			}
		}
		b, release, err := rc.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 || k == 6 {
			if types := nalTypes(b); !slices.Contains(types, nalSPS) || !slices.Contains(types, nalPPS) || !slices.Contains(types, nalIDR) {
				t.Fatalf("unit %d: NAL types %v, want SPS, PPS and an IDR", k, types)
			}
		}
		if err := dec.Decode(b, func(p *native.Picture) error {
			if p.Width != w || p.Height != h {
				t.Fatalf("decoded %dx%d", p.Width, p.Height)
			}
			if k%3 == 0 { // the YCbCr picture passes through unconverted
				if q := psnr(t, pattern(w, h, k), p); q < 30 {
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

// pattern is picture n of a moving test picture: soft gradients and a
// bright box that crosses the screen.
func pattern(w, h, n int) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	bx, by := (n*12)%(w-w/5), (n*7)%(h-h/5)
	for y := range h {
		for x := range w {
			v := 40 + (x*96)/w + (y*64)/h + n
			if x >= bx && x < bx+w/5 && y >= by && y < by+h/5 {
				v = 220
			}
			img.Y[y*img.YStride+x] = uint8(v)
		}
	}
	for y := range h / 2 {
		for x := range w / 2 {
			img.Cb[y*img.CStride+x] = uint8(96 + (x*64)/(w/2))
			img.Cr[y*img.CStride+x] = uint8(160 - (y*64)/(h/2))
		}
	}
	return img
}

// psnr returns the PSNR in dB of a decoded YUV420P picture against ref,
// over all three planes weighted by their size.
func psnr(t testing.TB, ref *image.YCbCr, pic *native.Picture) float64 {
	t.Helper()
	w, h := ref.Rect.Dx(), ref.Rect.Dy()
	if pic.Width != w || pic.Height != h || pic.Format != native.PixelFormatYUV420P {
		t.Fatalf("decoded %dx%d %s, want %dx%d yuv420p", pic.Width, pic.Height, pic.Format, w, h)
	}
	var sse float64
	plane := func(a []byte, as, aw, ah int, b []byte, bs int) {
		for y := range ah {
			for x := range aw {
				d := float64(a[y*as+x]) - float64(b[y*bs+x])
				sse += d * d
			}
		}
	}
	plane(ref.Y, ref.YStride, w, h, pic.Planes[0], pic.Strides[0])
	plane(ref.Cb, ref.CStride, w/2, h/2, pic.Planes[1], pic.Strides[1])
	plane(ref.Cr, ref.CStride, w/2, h/2, pic.Planes[2], pic.Strides[2])
	mse := sse / float64(w*h*3/2)
	if mse == 0 {
		return 100
	}
	return 10 * math.Log10(255*255/mse)
}

// H.264 NAL unit types.
const (
	nalIDR = 5
	nalSPS = 7
	nalPPS = 8
)

// nalTypes lists the NAL unit types of an Annex-B access unit.
func nalTypes(au []byte) []int {
	var types []int
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 {
			types = append(types, int(au[i+3]&0x1f))
			i += 3
		}
	}
	return types
}
