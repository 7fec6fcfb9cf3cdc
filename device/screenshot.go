package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/capture"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/native"
)

// Screenshots (GET /api/media/devices/{deviceId}/screenshot).
//
// A screenshot is a picture of the device, taken once per
// ScreenshotWindow and shared by every request for the device within it,
// then encoded once per variant (format and width) and shared likewise:
// a wall of 200 thumbnails refreshing together takes one picture and
// makes one thumbnail. The picture is, in order of preference:
//
//   - SourcePicture: the latest picture of a device that runs here and
//     whose pictures are current (screencap and raw-frames modes, or
//     screenrecord while its stream is decoded here for an encoder): a
//     reference, no pixel copied;
//   - SourceDecoded: in pass-through, the stream's group of pictures
//     since its keyframe (the fan-out's cache), decoded here from the
//     keyframe to the newest unit with a software decoder of its own, the
//     last picture kept;
//   - SourceCapture: a one-off `screencap -p`: for a device that does not
//     run here (it is not started for it), or one whose cached group
//     outgrew the cache (its keyframe alone would give an old picture).
//
// A device picture becomes RGBA (scaled for a thumbnail) with libswscale
// (native.Frame.RGBA); a capture's PNG is served as the device wrote it
// when it is asked for as such, else decoded and scaled here. Encoding is
// image/png (BestSpeed) or image/jpeg (quality 80).

// Screenshot formats (ScreenshotRequest.Format).
const (
	FormatPNG  = "png"
	FormatJPEG = "jpeg"
)

// Where a screenshot's picture came from (Screenshot.Source; the source
// label of media_service_screenshots_total).
const (
	SourcePicture = "picture"
	SourceDecoded = "decoded"
	SourceCapture = "capture"
)

// ScreenshotSources lists the sources.
var ScreenshotSources = []string{SourcePicture, SourceDecoded, SourceCapture}

// Outcomes counted by ScreenshotMetrics (the result label).
const (
	// ScreenshotTaken: a picture was taken (once per window and device).
	ScreenshotTaken = "taken"
	// ScreenshotShared: a request was answered with a picture taken for
	// another one within the window, or in flight.
	ScreenshotShared = "shared"
	// ScreenshotFailed: taking a picture failed.
	ScreenshotFailed = "failed"
)

// ScreenshotResults lists the outcomes.
var ScreenshotResults = []string{ScreenshotTaken, ScreenshotShared, ScreenshotFailed}

// ScreenshotWindow is how long a picture serves the requests for its
// device after it was taken, and an encoded variant those that ask for
// it. A failure is remembered as long.
const ScreenshotWindow = time.Second

// Bounds of ScreenshotRequest.MaxWidth.
const (
	MinScreenshotWidth = 16
	MaxScreenshotWidth = 4096
)

// screenshotTimeout bounds taking one picture: a capture or a decode.
const screenshotTimeout = 20 * time.Second

// maxVariants bounds the encoded variants kept for one picture; those
// past it are encoded for their request alone.
const maxVariants = 32

// jpegQuality is the JPEG encoder's quality.
const jpegQuality = 80

// ScreenshotRequest asks for a screenshot.
type ScreenshotRequest struct {
	// Format is FormatPNG (the default, also for "") or FormatJPEG.
	Format string
	// MaxWidth scales the picture down to at most this width, keeping its
	// aspect ratio (never up): MinScreenshotWidth..MaxScreenshotWidth, or
	// 0 for the device's size.
	MaxWidth int
}

// check validates r and sets its default format.
func (r ScreenshotRequest) check() (ScreenshotRequest, error) {
	switch r.Format {
	case "":
		r.Format = FormatPNG
	case FormatPNG, FormatJPEG:
	default:
		return r, fmt.Errorf("%w: screenshot format %q (want png or jpeg)", media.ErrInvalidArgument, r.Format)
	}
	if r.MaxWidth != 0 && (r.MaxWidth < MinScreenshotWidth || r.MaxWidth > MaxScreenshotWidth) {
		return r, fmt.Errorf("%w: screenshot width %d (want %d..%d)", media.ErrInvalidArgument, r.MaxWidth, MinScreenshotWidth, MaxScreenshotWidth)
	}
	return r, nil
}

// Screenshot is an encoded screenshot. Its Data is shared with the other
// requests of its window: do not change it.
type Screenshot struct {
	Data          []byte
	ContentType   string // image/png or image/jpeg
	Width, Height int
	Source        string    // SourcePicture, SourceDecoded or SourceCapture
	Taken         time.Time // when its picture was taken
}

// ScreenshotMetrics counts screenshots: each picture taken or failed
// (with how long it took), and each request that shared one.
type ScreenshotMetrics interface {
	Screenshot(source, result string, took time.Duration)
}

// Screenshot returns a screenshot of the device: see above for where its
// picture comes from. A device that adb does not list in state "device"
// is media.ErrUnknownDevice. ctx bounds this request's wait only: the
// picture is taken under the registry's own context (so that the
// requests sharing it are not failed by the first one's leaving), within
// 20 s.
func (r *Registry) Screenshot(ctx context.Context, id string, req ScreenshotRequest) (Screenshot, error) {
	if err := media.CheckDeviceID(id); err != nil {
		return Screenshot{}, err
	}
	req, err := req.check()
	if err != nil {
		return Screenshot{}, err
	}
	for attempt := 0; ; attempt++ {
		pc, leader, err := r.pictureCall(id)
		if err != nil {
			return Screenshot{}, err
		}
		select {
		case <-pc.done:
		case <-ctx.Done():
			return Screenshot{}, ctx.Err()
		}
		if pc.err != nil {
			return Screenshot{}, pc.err
		}
		shot, err := r.shots.variant(ctx, pc, req)
		if errors.Is(err, errPictureGone) && attempt < 2 {
			continue // it expired meanwhile: take the next one
		}
		if err == nil && !leader {
			r.countShot(pc.source, ScreenshotShared, 0)
		}
		return shot, err
	}
}

func (r *Registry) countShot(source, result string, took time.Duration) {
	if m := r.cfg.Screenshots; m != nil {
		m.Screenshot(source, result, took)
	}
}

// errPictureGone: the picture expired (or the registry closed) between
// its taking and its encoding.
var errPictureGone = errors.New("device: the screenshot's picture expired")

// shotCache holds each device's picture of the window, taken once, and
// its encoded variants.
type shotCache struct {
	mu     sync.Mutex
	pics   map[string]*picCall // by device ID
	closed bool
	// decodes counts the groups of pictures decoded for screenshots
	// (tests).
	decodes int
}

// picCall is one picture of a device: in flight until done closes, then
// shared until expires.
type picCall struct {
	id      string
	done    chan struct{}
	pic     *picture // set with err, source and expires before done closes
	err     error
	source  string
	expires time.Time
	timer   *time.Timer
	gone    bool // expired: pic released
	shots   map[ScreenshotRequest]*shotCall
}

// shotCall is one encoded variant of a picture.
type shotCall struct {
	done chan struct{}
	shot Screenshot
	err  error
}

// window is how long a picture serves; tests shorten or lengthen it.
func (r *Registry) window() time.Duration {
	if r.shotWindow > 0 {
		return r.shotWindow
	}
	return ScreenshotWindow
}

// pictureCall returns the device's picture of the window, starting it
// (leader) when there is none.
func (r *Registry) pictureCall(id string) (pc *picCall, leader bool, err error) {
	c := &r.shots
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false, media.ErrClosed
	}
	if pc := c.pics[id]; pc != nil {
		if pc.expires.IsZero() || time.Now().Before(pc.expires) {
			return pc, false, nil
		}
		c.expireLocked(pc)
	}
	// Lock order: shots.mu, then r.mu (never the other way round).
	r.mu.Lock()
	closed := r.closed
	if !closed {
		r.wg.Add(1)
	}
	r.mu.Unlock()
	if closed {
		return nil, false, media.ErrClosed
	}
	pc = &picCall{id: id, done: make(chan struct{}), shots: map[ScreenshotRequest]*shotCall{}}
	if c.pics == nil {
		c.pics = map[string]*picCall{}
	}
	c.pics[id] = pc
	go func() {
		defer r.wg.Done()
		r.take(pc)
	}()
	return pc, true, nil
}

// take takes pc's picture and keeps it for the window.
func (r *Registry) take(pc *picCall) {
	ctx, cancel := context.WithTimeout(r.ctx, screenshotTimeout)
	defer cancel()
	start := time.Now()
	pic, source, err := r.takePicture(ctx, pc.id)
	took := time.Since(start)
	if err != nil {
		if r.ctx.Err() != nil {
			err = media.ErrClosed
		}
		r.countShot(source, ScreenshotFailed, took)
		r.log.Debug("screenshot failed", "device", pc.id, "source", source, "err", err)
	} else {
		r.countShot(source, ScreenshotTaken, took)
	}
	c := &r.shots
	c.mu.Lock()
	pc.pic, pc.err, pc.source = pic, err, source
	pc.expires = time.Now().Add(r.window())
	if c.closed || c.pics[pc.id] != pc {
		c.expireLocked(pc)
	} else {
		pc.timer = time.AfterFunc(r.window(), func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.pics[pc.id] == pc {
				c.expireLocked(pc)
			}
		})
	}
	c.mu.Unlock()
	close(pc.done)
}

// expireLocked drops pc from the cache and releases its picture; c.mu is
// held. A variant being encoded holds a reference of its own.
func (c *shotCache) expireLocked(pc *picCall) {
	if c.pics[pc.id] == pc {
		delete(c.pics, pc.id)
	}
	if pc.timer != nil {
		pc.timer.Stop()
	}
	if !pc.gone && !pc.expires.IsZero() {
		pc.gone = true
		pc.pic.release()
		pc.shots = nil
	}
}

// close releases every picture; pictures in flight are released when
// taken. The registry's starts and stops have ended.
func (c *shotCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, pc := range c.pics {
		c.expireLocked(pc)
	}
}

// variant returns pc's picture encoded as req asks, encoding it once for
// every request of the window that asks the same.
func (c *shotCache) variant(ctx context.Context, pc *picCall, req ScreenshotRequest) (Screenshot, error) {
	c.mu.Lock()
	if pc.gone {
		c.mu.Unlock()
		return Screenshot{}, errPictureGone
	}
	if sc := pc.shots[req]; sc != nil {
		c.mu.Unlock()
		select {
		case <-sc.done:
			return sc.shot, sc.err
		case <-ctx.Done():
			return Screenshot{}, ctx.Err()
		}
	}
	sc := &shotCall{done: make(chan struct{})}
	if len(pc.shots) < maxVariants {
		pc.shots[req] = sc
	}
	src, err := pc.pic.frameRef()
	c.mu.Unlock()
	if err == nil {
		sc.shot, sc.err = pc.pic.encode(src, req, pc.source)
		src.Release()
	} else {
		sc.err = err
	}
	close(sc.done)
	return sc.shot, sc.err
}

// picture is a device's picture for the window: a device's frame, or a
// capture's PNG.
type picture struct {
	frame *native.Frame // a reference the picture owns; nil for a capture
	png   []byte        // a capture's PNG, as the device wrote it
	w, h  int
	taken time.Time

	decodeOnce sync.Once // a capture's PNG, decoded on first need
	img        image.Image
	decodeErr  error
}

func framePicture(f *native.Frame) *picture {
	return &picture{frame: f, w: f.Width(), h: f.Height(), taken: time.Now()}
}

// pngPicture is a capture's PNG, whose size is read and whose pixels are
// decoded only when a variant needs them.
func pngPicture(data []byte) (*picture, error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("screencap gave no PNG: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("screencap gave a %dx%d PNG", cfg.Width, cfg.Height)
	}
	return &picture{png: data, w: cfg.Width, h: cfg.Height, taken: time.Now()}, nil
}

// release drops the picture's frame; c.mu is held.
func (p *picture) release() {
	if p != nil && p.frame != nil {
		p.frame.Release()
		p.frame = nil
	}
}

// frameRef returns a reference of the picture's frame for one encoder
// (nil for a capture); c.mu is held.
func (p *picture) frameRef() (*native.Frame, error) {
	if p.frame == nil {
		return nil, nil
	}
	return p.frame.Ref()
}

// encode makes req's variant of the picture; f is the caller's reference
// to its frame (nil for a capture).
func (p *picture) encode(f *native.Frame, req ScreenshotRequest, source string) (Screenshot, error) {
	w, h := fitWidth(p.w, p.h, req.MaxWidth)
	shot := Screenshot{Width: w, Height: h, Source: source, Taken: p.taken, ContentType: "image/" + req.Format}
	if p.png != nil && req.Format == FormatPNG && w == p.w {
		shot.Data = p.png // as the device wrote it
		return shot, nil
	}
	var img image.Image
	switch {
	case f != nil:
		var err error
		if img, err = f.RGBA(w, h); err != nil {
			return Screenshot{}, err
		}
	default:
		p.decodeOnce.Do(func() {
			p.img, p.decodeErr = png.Decode(bytes.NewReader(p.png))
		})
		if p.decodeErr != nil {
			return Screenshot{}, fmt.Errorf("decode the screencap PNG: %w", p.decodeErr)
		}
		img = p.img
		if w != p.w || h != p.h {
			img = scaleDown(img, w, h)
		}
	}
	var buf bytes.Buffer
	var err error
	if req.Format == FormatJPEG {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	}
	if err != nil {
		return Screenshot{}, fmt.Errorf("encode the screenshot as %s: %w", req.Format, err)
	}
	shot.Data = buf.Bytes()
	return shot, nil
}

// fitWidth returns the size of a w x h picture at most maxWidth wide (0:
// no bound), with its aspect ratio; never larger.
func fitWidth(w, h, maxWidth int) (int, int) {
	if maxWidth <= 0 || w <= maxWidth {
		return w, h
	}
	return maxWidth, max(1, int(math.Round(float64(h)*float64(maxWidth)/float64(w))))
}

// scaleDown shrinks img to w x h by averaging the source pixels each
// target pixel covers (a box filter): a capture's thumbnail.
func scaleDown(img image.Image, w, h int) *image.RGBA {
	b := img.Bounds()
	var pix []uint8
	var stride int
	switch m := img.(type) {
	case *image.RGBA:
		pix, stride = m.Pix, m.Stride
	case *image.NRGBA:
		// Straight alpha: averaged as it is (screens are opaque).
		pix, stride = m.Pix, m.Stride
	default:
		rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
		pix, stride = rgba.Pix, rgba.Stride
	}
	sw, sh := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	var sum [4]uint64
	for y := range h {
		y0, y1 := y*sh/h, max((y+1)*sh/h, y*sh/h+1)
		for x := range w {
			x0, x1 := x*sw/w, max((x+1)*sw/w, x*sw/w+1)
			sum = [4]uint64{}
			for sy := y0; sy < y1; sy++ {
				row := pix[sy*stride+x0*4 : sy*stride+x1*4]
				for i := 0; i < len(row); i += 4 {
					sum[0] += uint64(row[i])
					sum[1] += uint64(row[i+1])
					sum[2] += uint64(row[i+2])
					sum[3] += uint64(row[i+3])
				}
			}
			n := uint64((y1 - y0) * (x1 - x0))
			o := out.PixOffset(x, y)
			for i := range 4 {
				out.Pix[o+i] = uint8((sum[i] + n/2) / n)
			}
		}
	}
	return out
}

// takePicture takes a picture of the device: from the device when it
// runs here (holding it meanwhile), else with a one-off capture. A device
// that starts meanwhile waits for the capture (as for a stop: the
// capture's adb connection is not taken from under it).
func (r *Registry) takePicture(ctx context.Context, id string) (*picture, string, error) {
	for attempt := 0; ; attempt++ {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, SourceCapture, media.ErrClosed
		}
		if e := r.entries[id]; e != nil && attempt < 2 {
			e.refs++
			r.cancelStop(e)
			r.mu.Unlock()
			select {
			case <-e.ready:
			case <-ctx.Done():
				r.release(e)
				return nil, SourceCapture, ctx.Err()
			}
			if e.err != nil {
				r.release(e)
				continue // it did not start: capture, unless another start is under way
			}
			pic, source, err := e.dev.screenshotPicture(ctx, &r.shots)
			r.release(e)
			return pic, source, err
		}
		if prev := r.stopping[id]; prev != nil {
			r.mu.Unlock()
			select {
			case <-prev:
			case <-ctx.Done():
				return nil, SourceCapture, ctx.Err()
			}
			continue
		}
		done := make(chan struct{})
		r.stopping[id] = done
		r.mu.Unlock()
		pic, err := r.captureOnce(ctx, id)
		r.mu.Lock()
		if r.stopping[id] == done {
			delete(r.stopping, id)
		}
		r.mu.Unlock()
		close(done)
		return pic, SourceCapture, err
	}
}

// captureOnce takes a one-off screencap of a device that does not run
// here, at the address Config.LocateCapture gives (the ID by default),
// once the adb server lists it in state "device".
func (r *Registry) captureOnce(ctx context.Context, id string) (*picture, error) {
	serial := id
	if r.cfg.LocateCapture != nil {
		s, done, err := r.cfg.LocateCapture(ctx, id)
		if err != nil {
			return nil, err
		}
		defer done()
		serial = s
	}
	list, err := r.cfg.ADB.Devices(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: list the devices: %v", media.ErrUnavailable, err)
	}
	if !slices.ContainsFunc(list, func(d adb.DeviceInfo) bool { return d.Serial == serial && d.State == "device" }) {
		return nil, fmt.Errorf("%w: %s", media.ErrUnknownDevice, id)
	}
	return capturePicture(ctx, r.cfg.ADB, serial)
}

// capturePicture takes a screencap.
func capturePicture(ctx context.Context, c *adb.Client, serial string) (*picture, error) {
	data, err := capture.Screencap(ctx, c, serial)
	if err != nil {
		return nil, fmt.Errorf("screencap: %w", err)
	}
	return pngPicture(data)
}

// screenshotPicture takes a picture of a running device: its latest
// picture when that is current, else its pass-through stream's newest,
// decoded, else a capture.
func (d *Device) screenshotPicture(ctx context.Context, c *shotCache) (*picture, string, error) {
	if f := d.currentPicture(); f != nil {
		return framePicture(f), SourcePicture, nil
	}
	if o := d.ownOutput(); o != nil {
		if units, complete := o.b.GOP(); complete && len(units) > 0 {
			c.mu.Lock()
			c.decodes++
			c.mu.Unlock()
			f, err := decodeLast(units)
			if err == nil {
				return framePicture(f), SourceDecoded, nil
			}
			d.log.Warn("screenshot: decode the stream's group of pictures; capturing instead", "err", err)
		}
	}
	pic, err := capturePicture(ctx, d.cfg.ADB, d.serial)
	return pic, SourceCapture, err
}

// currentPicture returns a reference to the device's latest picture when
// it is current: the capture feeds it all the time (screencap,
// raw-frames), or the device's H.264 is decoded here now (for an
// encoder) and in step.
func (d *Device) currentPicture() *native.Frame {
	fed := d.cfg.Mode != media.CaptureScreenrecord || (d.decoded != nil && d.hasEncoded() && !d.resync.Load())
	if !fed {
		return nil
	}
	d.outMu.Lock()
	defer d.outMu.Unlock()
	if d.last == nil || d.closing {
		return nil
	}
	f, err := d.last.Ref()
	if err != nil {
		return nil
	}
	return f
}

// decodeLast decodes a group of pictures (keyframe first) with a software
// decoder of its own and returns its last picture.
func decodeLast(units []media.Unit) (*native.Frame, error) {
	dec, err := native.NewVideoDecoder(native.DecoderOptions{Codec: native.DecoderH264, Backend: native.BackendSoftware, Threads: 2})
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	var last *native.Frame
	keep := func(f *native.Frame) error {
		last.Release()
		last = f
		return nil
	}
	for _, u := range units {
		if err := dec.Decode(u.Data, keep); err != nil {
			last.Release()
			return nil, err
		}
	}
	if err := dec.Flush(keep); err != nil {
		last.Release()
		return nil, err
	}
	if last == nil {
		return nil, fmt.Errorf("%d access units decoded to no picture", len(units))
	}
	return last, nil
}
