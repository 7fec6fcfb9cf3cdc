// Package mediadevices plugs the libavcodec encoders of package native into
// pion/mediadevices: [Params] is a codec.VideoEncoderBuilder, and the
// encoder it builds is controlled through codec.KeyFrameController and
// codec.BitRateController. It lives apart from native so that only the
// programs that import it link pion/mediadevices.
//
// Without cgo the package builds, and BuildVideoEncoder returns
// native.ErrUnavailable.
package mediadevices

import (
	"fmt"
	"image"
	"image/draw"
	"sync"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/cloudphone/media-service/native"
)

// Interface guards: the libavcodec encoder plugs into pion/mediadevices.
var (
	_ codec.VideoEncoderBuilder = (*Params)(nil)
	_ codec.ReadCloser          = (*readCloser)(nil)
	_ codec.KeyFrameController  = (*native.Encoder)(nil)
	_ codec.BitRateController   = (*native.Encoder)(nil)
)

// Params builds a pion/mediadevices video encoder on native's libavcodec
// encoder, so that the service's encoder can stand in for mediadevices' own
// cgo x264 wrapper. Options' Width, Height and FrameRate come from the
// media properties when they are zero.
type Params struct {
	native.Options
}

// RTPCodec returns the RTP codec of what the options produce: VP8 for
// libvpx, otherwise H.264 with the options' profile.
func (p *Params) RTPCodec() *codec.RTPCodec {
	o := p.WithDefaults()
	if native.MediaCodecOf(o.Codec) == native.MediaCodecVP8 {
		return codec.NewRTPVP8Codec(90000)
	}
	c := codec.NewRTPH264Codec(90000)
	c.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profileLevelID(o.Profile)
	return c
}

// profileLevelID is the SDP profile-level-id of each profile at level 3.1.
func profileLevelID(profile string) string {
	switch profile {
	case "main":
		return "4d001f"
	case "high":
		return "64001f"
	}
	return "42e01f" // Constrained Baseline
}

// BuildVideoEncoder returns a codec.ReadCloser that pulls pictures from r
// and returns one access unit per Read. Its Controller is the
// *native.Encoder, a codec.KeyFrameController and codec.BitRateController.
func (p *Params) BuildVideoEncoder(r video.Reader, m prop.Media) (codec.ReadCloser, error) {
	o := p.Options
	if o.Width == 0 {
		o.Width = m.Width
	}
	if o.Height == 0 {
		o.Height = m.Height
	}
	if o.FrameRate == 0 && m.FrameRate > 0 {
		o.FrameRate = int(m.FrameRate + 0.5)
	}
	e, err := native.NewEncoder(o)
	if err != nil {
		return nil, err
	}
	o = e.Options()
	pool, err := native.NewFramePool(o.Width, o.Height, o.PixelFormat, 2)
	if err != nil {
		e.Close()
		return nil, err
	}
	return &readCloser{r: r, enc: e, pool: pool}, nil
}

// readCloser adapts native.Encoder to codec.ReadCloser.
type readCloser struct {
	r    video.Reader
	enc  *native.Encoder
	pool *native.FramePool

	mu   sync.Mutex
	buf  []byte // the last access unit, reused by the next Read
	rgba *image.RGBA
}

// Read encodes the next picture from the reader and returns its packet (an
// H.264 access unit or a VP8 frame). The returned bytes are valid until the
// next Read.
func (m *readCloser) Read() ([]byte, func(), error) {
	img, release, err := m.r.Read()
	if err != nil {
		return nil, nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.pool.Get()
	if err != nil {
		release()
		return nil, nil, err
	}
	err = m.writeImage(f, img)
	release()
	if err != nil {
		f.Release()
		return nil, nil, err
	}
	m.buf = m.buf[:0]
	err = m.enc.Encode(f, func(p native.Packet) error {
		m.buf = append(m.buf, p.Data...)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return m.buf, func() {}, nil
}

// writeImage puts img into f: YCbCr 4:2:0 plane by plane, RGBA through
// libswscale, anything else drawn into RGBA first.
func (m *readCloser) writeImage(f *native.Frame, img image.Image) error {
	b := img.Bounds()
	switch im := img.(type) {
	case *image.YCbCr:
		if im.SubsampleRatio == image.YCbCrSubsampleRatio420 && b.Dx() == f.Width() && b.Dy() == f.Height() && f.Format() == native.PixelFormatYUV420P {
			copyPlane(f.Plane(0), f.Stride(0), im.Y[im.YOffset(b.Min.X, b.Min.Y):], im.YStride, f.Width(), f.Height())
			cw, ch := f.Width()/2, f.Height()/2
			off := im.COffset(b.Min.X, b.Min.Y)
			copyPlane(f.Plane(1), f.Stride(1), im.Cb[off:], im.CStride, cw, ch)
			copyPlane(f.Plane(2), f.Stride(2), im.Cr[off:], im.CStride, cw, ch)
			return nil
		}
	case *image.RGBA:
		return f.WritePacked(im.Pix[im.PixOffset(b.Min.X, b.Min.Y):], b.Dx(), b.Dy(), im.Stride, native.PixelFormatRGBA)
	case *image.NRGBA:
		return f.WritePacked(im.Pix[im.PixOffset(b.Min.X, b.Min.Y):], b.Dx(), b.Dy(), im.Stride, native.PixelFormatRGBA)
	}
	if b.Empty() {
		return fmt.Errorf("%w: empty picture", native.ErrInvalidOptions)
	}
	if m.rgba == nil || m.rgba.Bounds().Size() != b.Size() {
		m.rgba = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	}
	draw.Draw(m.rgba, m.rgba.Bounds(), img, b.Min, draw.Src)
	return f.WritePacked(m.rgba.Pix, b.Dx(), b.Dy(), m.rgba.Stride, native.PixelFormatRGBA)
}

func copyPlane(dst []byte, dstStride int, src []byte, srcStride, w, h int) {
	for r := 0; r < h; r++ {
		copy(dst[r*dstStride:r*dstStride+w], src[r*srcStride:r*srcStride+w])
	}
}

// Controller returns the *native.Encoder, which implements
// codec.KeyFrameController and codec.BitRateController.
func (m *readCloser) Controller() codec.EncoderController { return m.enc }

// Close frees the encoder and its frames. It is idempotent.
func (m *readCloser) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.enc.Close()
	return m.pool.Close()
}
