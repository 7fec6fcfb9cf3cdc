package capture

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/internal/retry"
	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
)

// PNG decoders for screencap.
const (
	// PNGDecoderGo is the standard library's image/png (the original
	// design's choice).
	PNGDecoderGo = "go"
	// PNGDecoderFFmpeg is libavcodec's PNG decoder, through native.
	PNGDecoderFFmpeg = "ffmpeg"
)

// DefaultPNGDecoder is the faster of the two decoders as measured by
// BenchmarkPNGDecode on a 720x1280 screenshot (see docs/capture.md).
const DefaultPNGDecoder = PNGDecoderFFmpeg

// maxPNG bounds one screenshot.
const maxPNG = 64 << 20

// ScreencapOptions configures a screencap source.
type ScreencapOptions struct {
	// Decoder is PNGDecoderGo or PNGDecoderFFmpeg; default DefaultPNGDecoder.
	Decoder string
	// Interval is the least time between the starts of two captures; 0
	// captures as fast as the device answers.
	Interval time.Duration
	// FrameRate caps the captures per second: it sets the least time
	// between the starts of two captures to 1/FrameRate, or to Interval if
	// that is longer. 0 leaves Interval alone.
	FrameRate int
	// OnSize, if set, is told the frames' size before the first frame and
	// before the first frame of each new size (a rotation), on the
	// goroutine that calls emit.
	OnSize func(media.Size)
	// PoolFrames bounds the frames in flight; default 4.
	PoolFrames int
	Log        *slog.Logger
	OnError    func(error)
}

// ScreencapSource takes screenshots with `screencap -p` in a loop and
// decodes them into pooled YUV420P frames for an encoder on this host.
type ScreencapSource struct {
	client *adb.Client
	serial string
	opts   ScreencapOptions
	dec    pngDecoder
	clk    clock
	shoot  func(context.Context) ([]byte, error) // takes one PNG screenshot
	kick   chan struct{}                         // Kick: the device is back

	mu   sync.Mutex
	size media.Size
	fps  float64

	frames, errors atomic.Int64
}

// NewScreencapSource returns a screencap source for the device.
func NewScreencapSource(c *adb.Client, serial string, o ScreencapOptions) (*ScreencapSource, error) {
	if err := adb.ValidSerial(serial); err != nil {
		return nil, err
	}
	if o.Decoder == "" {
		o.Decoder = DefaultPNGDecoder
	}
	if o.Interval < 0 {
		return nil, fmt.Errorf("%w: interval %s", media.ErrInvalidArgument, o.Interval)
	}
	if o.FrameRate < 0 || o.FrameRate > maxFrameRate {
		return nil, fmt.Errorf("%w: frame rate %d (want 0..%d)", media.ErrInvalidArgument, o.FrameRate, maxFrameRate)
	}
	if o.FrameRate > 0 {
		o.Interval = max(o.Interval, time.Second/time.Duration(o.FrameRate))
	}
	if o.PoolFrames <= 0 {
		o.PoolFrames = 4
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	dec, err := newPNGDecoder(o.Decoder)
	if err != nil {
		return nil, err
	}
	s := &ScreencapSource{client: c, serial: serial, opts: o, dec: dec, clk: wallClock{}, kick: make(chan struct{}, 1)}
	s.shoot = s.capture
	return s, nil
}

// Run captures until ctx ends; emit takes ownership of each frame. Errors
// (a vanished device) go to OnError, and capture retries with backoff.
func (s *ScreencapSource) Run(ctx context.Context, emit func(*native.Frame) error) error {
	defer s.dec.Close()
	var pool *native.FramePool
	defer func() {
		if pool != nil {
			pool.Close()
		}
	}()
	bo := retry.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	started := time.Now()
	window, windowStart := 0, time.Now()
	var told media.Size
	pause := s.clk.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	sleep := func(d time.Duration) bool {
		pause.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-pause.C():
			return true
		}
	}
	// backOff waits out the retry delay, or less if the device is back
	// (Kick), which also resets the back-off.
	backOff := func() bool {
		pause.Reset(bo.Next())
		select {
		case <-ctx.Done():
			return false
		case <-pause.C():
		case <-s.kick:
			pause.Stop()
			bo.Reset()
		}
		return true
	}
	for ctx.Err() == nil {
		t0 := s.clk.Now()
		data, err := s.shoot(ctx)
		if err == nil {
			var f *native.Frame
			f, pool, err = s.decode(data, pool)
			if err == nil {
				f.PTS = time.Since(started)
				if size := (media.Size{Width: f.Width(), Height: f.Height()}); size != told {
					told = size
					if s.opts.OnSize != nil {
						s.opts.OnSize(size)
					}
				}
				s.frames.Add(1)
				if err := emit(f); err != nil {
					return err
				}
				bo.Reset()
				select {
				case <-s.kick: // capture works: a kick meanwhile is moot
				default:
				}
				if window++; time.Since(windowStart) >= time.Second {
					s.mu.Lock()
					s.fps = float64(window) / time.Since(windowStart).Seconds()
					s.mu.Unlock()
					window, windowStart = 0, time.Now()
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.errors.Add(1)
			s.opts.OnError(fmt.Errorf("screencap: %w", err))
			if !backOff() {
				break
			}
			continue
		}
		if wait := s.opts.Interval - s.clk.Now().Sub(t0); wait > 0 && !sleep(wait) {
			break
		}
	}
	return ctx.Err()
}

// Kick tells the source that its device is back (listed again by the adb
// server, reconnected, or the adb server answers again): a source waiting
// to retry a failed capture tries now, with its back-off reset; a kick
// during a capture that then fails retries it at once. It never blocks.
func (s *ScreencapSource) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// capture runs screencap -p and returns the PNG.
func (s *ScreencapSource) capture(ctx context.Context) ([]byte, error) {
	st, err := s.client.Exec(ctx, s.serial, "screencap", "-p")
	if err != nil {
		return nil, err
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	data, err := io.ReadAll(io.LimitReader(st, maxPNG+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPNG {
		return nil, fmt.Errorf("%w: screenshot over %d bytes", media.ErrInvalidArgument, maxPNG)
	}
	return data, nil
}

// decode decodes a PNG into a pooled frame, (re)creating the pool when the
// screen's size changes (rotation).
func (s *ScreencapSource) decode(data []byte, pool *native.FramePool) (*native.Frame, *native.FramePool, error) {
	var f *native.Frame
	err := s.dec.Decode(data, func(pix []byte, w, h, stride int, format native.PixelFormat) error {
		ew, eh := max(w&^1, 2), max(h&^1, 2)
		if pool == nil || pool.Width() != ew || pool.Height() != eh {
			if pool != nil {
				pool.Close()
			}
			p, err := native.NewFramePool(ew, eh, native.PixelFormatYUV420P, s.opts.PoolFrames)
			if err != nil {
				return err
			}
			pool = p
			s.mu.Lock()
			s.size = media.Size{Width: w, Height: h}
			s.mu.Unlock()
		}
		fr, err := pool.Get()
		if err != nil {
			return err
		}
		// Crop, never scale, to the even size.
		if err := fr.WritePacked(pix, min(w, ew), min(h, eh), stride, format); err != nil {
			fr.Release()
			return err
		}
		f = fr
		return nil
	})
	if err == nil && f == nil {
		err = fmt.Errorf("%w: screenshot decoded to no picture", media.ErrInvalidArgument)
	}
	return f, pool, err
}

// Size returns the device's screen size seen in the last screenshot.
func (s *ScreencapSource) Size() media.Size {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// FPS returns the capture rate achieved over the last second or so.
func (s *ScreencapSource) FPS() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fps
}

// Stats returns the source's counters; Units counts frames delivered.
func (s *ScreencapSource) Stats() SourceStats {
	return SourceStats{Units: s.frames.Load()}
}

// pngDecoder decodes a PNG and calls fn with its packed pixels, valid
// during fn only.
type pngDecoder interface {
	Decode(data []byte, fn func(pix []byte, w, h, stride int, format native.PixelFormat) error) error
	Close() error
}

func newPNGDecoder(name string) (pngDecoder, error) {
	switch name {
	case PNGDecoderGo:
		return &goPNG{}, nil
	case PNGDecoderFFmpeg:
		d, err := native.NewDecoder(native.DecoderPNG)
		if err != nil {
			return nil, err
		}
		return ffmpegPNG{d}, nil
	}
	return nil, fmt.Errorf("%w: PNG decoder %q (want %s or %s)", media.ErrInvalidArgument, name, PNGDecoderGo, PNGDecoderFFmpeg)
}

// goPNG decodes with image/png.
type goPNG struct{ rgba *image.RGBA }

func (g *goPNG) Decode(data []byte, fn func([]byte, int, int, int, native.PixelFormat) error) error {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("decode png: %w", err)
	}
	b := img.Bounds()
	switch im := img.(type) {
	case *image.NRGBA:
		return fn(im.Pix, b.Dx(), b.Dy(), im.Stride, native.PixelFormatRGBA)
	case *image.RGBA:
		return fn(im.Pix, b.Dx(), b.Dy(), im.Stride, native.PixelFormatRGBA)
	}
	if g.rgba == nil || g.rgba.Bounds().Size() != b.Size() {
		g.rgba = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	}
	draw.Draw(g.rgba, g.rgba.Bounds(), img, b.Min, draw.Src)
	return fn(g.rgba.Pix, b.Dx(), b.Dy(), g.rgba.Stride, native.PixelFormatRGBA)
}

func (g *goPNG) Close() error { return nil }

// ffmpegPNG decodes with libavcodec.
type ffmpegPNG struct{ d *native.Decoder }

func (f ffmpegPNG) Decode(data []byte, fn func([]byte, int, int, int, native.PixelFormat) error) error {
	return f.d.Decode(data, func(p *native.Picture) error {
		if p.Format != native.PixelFormatRGBA && p.Format != native.PixelFormatRGB24 {
			return fmt.Errorf("%w: PNG decoded to pixel format %d (want rgba or rgb24)", media.ErrInvalidArgument, p.AVFormat)
		}
		return fn(p.Planes[0], p.Width, p.Height, p.Strides[0], p.Format)
	})
}

func (f ffmpegPNG) Close() error { return f.d.Close() }
