package devicesim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudphone/media-service/native"
)

// screenrecord's limits, as Android's.
const (
	recordMinBitRate     = 100_000
	recordMaxBitRate     = 200_000_000
	recordDefaultBitRate = 20_000_000
	recordMaxTimeLimit   = 180
	recordMaxSize        = 4096
)

// recordOptions are screenrecord's parsed arguments.
type recordOptions struct {
	format        string // "h264" or "raw-frames"
	width, height int    // 0: the screen's size
	bitRate       int
	timeLimit     time.Duration
	verbose       bool
	help          bool
}

// parseRecordArgs parses screenrecord's command line the way getopt_long
// does (--opt VALUE or --opt=VALUE, options and the file in any order).
// The error is the text screenrecord prints.
func parseRecordArgs(args []string) (recordOptions, error) {
	o := recordOptions{format: "mp4", bitRate: recordDefaultBitRate, timeLimit: recordMaxTimeLimit * time.Second}
	var files []string
	takesValue := map[string]bool{
		"size": true, "bit-rate": true, "time-limit": true, "output-format": true,
		"rotate": false, "verbose": false, "help": false, "bugreport": false,
		"codec-name": true, "monotonic-time": false, "persistent-surface": false,
		"bframes": true, "display-id": true,
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			files = append(files, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "--") {
			if len(a) > 1 && a[0] == '-' {
				return o, fmt.Errorf("screenrecord: invalid option -- '%c'", a[1])
			}
			files = append(files, a)
			continue
		}
		name, val, hasVal := strings.Cut(a[2:], "=")
		needs, known := takesValue[name]
		if !known {
			return o, fmt.Errorf("screenrecord: unrecognized option '%s'", a)
		}
		if !needs && hasVal {
			return o, fmt.Errorf("screenrecord: option '--%s' doesn't allow an argument", name)
		}
		if needs && !hasVal {
			if i+1 >= len(args) {
				return o, fmt.Errorf("screenrecord: option '--%s' requires an argument", name)
			}
			i++
			val = args[i]
		}
		switch name {
		case "help":
			o.help = true
			return o, nil
		case "verbose":
			o.verbose = true
		case "size":
			w, h, ok := parseSize(val)
			if !ok {
				//lint:ignore ST1005 Android's screenrecord prints this text verbatim
				return o, fmt.Errorf("Invalid size '%s', must be width x height", val)
			}
			if w <= 0 || h <= 0 || w > recordMaxSize || h > recordMaxSize {
				//lint:ignore ST1005 Android's screenrecord prints this text verbatim
				return o, fmt.Errorf("Invalid size %dx%d", w, h)
			}
			o.width, o.height = w, h
		case "bit-rate":
			br, ok := parseValueWithUnit(val)
			if !ok {
				//lint:ignore ST1005 Android's screenrecord prints this text verbatim
				return o, fmt.Errorf("Invalid bit rate '%s'", val)
			}
			if br < recordMinBitRate || br > recordMaxBitRate {
				//lint:ignore ST1005 Android's screenrecord prints this text verbatim
				return o, fmt.Errorf("Bit rate %dbps outside acceptable range [%d,%d]", br, recordMinBitRate, recordMaxBitRate)
			}
			o.bitRate = br
		case "time-limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > recordMaxTimeLimit {
				if err != nil {
					n = 0
				}
				//lint:ignore ST1005 Android's screenrecord prints this text verbatim
				return o, fmt.Errorf("Time limit %ds outside acceptable range [1,%d]", n, recordMaxTimeLimit)
			}
			o.timeLimit = time.Duration(n) * time.Second
		case "output-format":
			switch val {
			case "h264", "raw-frames":
				o.format = val
			case "mp4", "webm", "3gpp", "frames":
				return o, fmt.Errorf("devicesim: --output-format=%s is not simulated (use h264 or raw-frames)", val)
			default:
				//lint:ignore ST1005 Android's screenrecord prints this text verbatim
				return o, fmt.Errorf("Unknown format '%s'", val)
			}
		default:
			return o, fmt.Errorf("devicesim: --%s is not simulated", name)
		}
	}
	if len(files) != 1 {
		//lint:ignore ST1005 Android's screenrecord prints this text verbatim
		return o, errors.New("Must specify output file (see --help).")
	}
	if files[0] != "-" {
		return o, fmt.Errorf("devicesim: screenrecord writes to standard output (-) only, not %s", files[0])
	}
	if o.format == "mp4" {
		//lint:ignore ST1005 Android's screenrecord prints this text verbatim
		return o, errors.New("Can't write to stdout in mp4 format; use --output-format=h264 or raw-frames")
	}
	return o, nil
}

// parseSize parses "WxH" as sscanf("%dx%d") would (no trailing text).
func parseSize(s string) (int, int, bool) {
	ws, hs, ok := strings.Cut(s, "x")
	if !ok {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	return w, h, err1 == nil && err2 == nil
}

// parseValueWithUnit parses bits per second: a number, or a number of
// megabits with an M suffix ("4M" is 4,000,000).
func parseValueWithUnit(s string) (int, bool) {
	mult := 1
	if t, ok := strings.CutSuffix(s, "M"); ok {
		s, mult = t, 1_000_000
	} else if t, ok := strings.CutSuffix(s, "m"); ok {
		s, mult = t, 1_000_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > recordMaxBitRate*10/mult {
		return 0, false
	}
	return n * mult, true
}

func recordUsage(sh *shell) {
	fmt.Fprintf(sh.out, "Usage: screenrecord [options] <filename>\n\n"+
		"Android screenrecord (simulated by devicesim). Writes to standard output (-) only.\n\n"+
		"Options:\n"+
		"--size WIDTHxHEIGHT\n    Set the video size. Default is the device's main display resolution.\n"+
		"--bit-rate RATE\n    Set the video bit rate, in bits per second. Value may be specified as\n"+
		"    bits or megabits, e.g. '4000000' is equivalent to '4M'. Default %dMbps.\n"+
		"--time-limit TIME\n    Set the maximum recording time, in seconds. Default / maximum is %d.\n"+
		"--output-format FORMAT\n    h264 (raw H.264 elementary stream) or raw-frames (RGB888 frames).\n"+
		"--verbose\n    Accepted; prints nothing (its text would corrupt the stream).\n"+
		"--help\n    Show this message.\n",
		recordDefaultBitRate/1_000_000, recordMaxTimeLimit)
}

// cmdScreenrecord streams the screen until the time limit, or until the
// stream closes. A frame goes out whenever the screen changed since the
// last one; a reader slower than the screen gets the latest picture, never
// a backlog. The video keeps the size it started with (the screen's, or
// --size): when the screen's size changes under it (a rotation, wm size),
// the new picture is scaled to fit that size with its aspect ratio kept,
// centred between black bars, as Android's screenrecord does.
func cmdScreenrecord(sh *shell, args []string) int {
	o, err := parseRecordArgs(args)
	if o.help {
		recordUsage(sh)
		return 0
	}
	if err != nil {
		fmt.Fprintln(sh.out, err)
		return 2
	}
	scr := sh.d.screen
	if o.width == 0 {
		o.width, o.height = scr.size()
	}
	var rec frameWriter
	switch o.format {
	case "h264":
		rec, err = newH264Writer(sh, o)
	default:
		rec = newRawWriter(sh, o)
	}
	if err != nil {
		fmt.Fprintf(sh.out, "screenrecord: %v\n", err)
		return 1
	}
	defer rec.close()
	defer sh.d.recordingStarted(sh.log)()
	sh.log.Info("screenrecord started", "format", o.format,
		"size", fmt.Sprintf("%dx%d", o.width, o.height), "bit_rate", o.bitRate, "time_limit", o.timeLimit)

	start := time.Now()
	limit := time.NewTimer(o.timeLimit)
	defer limit.Stop()
	frames := 0
	last := ^uint64(0)
	for {
		gen, changed := scr.watch()
		if gen == last {
			select {
			case <-changed:
				continue
			case <-limit.C:
				sh.log.Info("screenrecord time limit reached", "frames", frames)
				return 0
			case <-sh.ctx.Done():
				return 0
			}
		}
		select {
		case <-limit.C:
			sh.log.Info("screenrecord time limit reached", "frames", frames)
			return 0
		case <-sh.ctx.Done():
			return 0
		default:
		}
		last, err = rec.frame(time.Since(start))
		if err != nil {
			if sh.ctx.Err() == nil && !errors.Is(err, errStreamClosed) {
				sh.log.Warn("screenrecord failed", "err", err)
			}
			return 1
		}
		frames++
	}
}

// frameWriter captures the screen, converts or encodes it, and writes one
// frame to the stream; it returns the screen generation it captured.
type frameWriter interface {
	frame(pts time.Duration) (uint64, error)
	close()
}

// h264Writer encodes with libx264 through package native: one thread, so
// that each picture is one slice, and each access unit goes out in one
// WRTE (split only above maxdata).
type h264Writer struct {
	sh   *shell
	enc  *native.Encoder
	pool *native.FramePool
	fit  *fitter
	rgba []byte // the letterboxed picture, when the screen's aspect differs
	au   []byte
}

func newH264Writer(sh *shell, o recordOptions) (*h264Writer, error) {
	if o.width%2 != 0 || o.height%2 != 0 {
		return nil, fmt.Errorf("H.264 needs an even size, not %dx%d", o.width, o.height)
	}
	fps := sh.d.opts.FPS
	enc, err := native.NewEncoder(native.Options{
		Width:            o.width,
		Height:           o.height,
		FrameRate:        fps,
		BitRate:          o.bitRate,
		Preset:           "ultrafast",
		KeyFrameInterval: 2 * fps,
		Threads:          1,
	})
	if err != nil {
		return nil, err
	}
	pool, err := native.NewFramePool(o.width, o.height, native.PixelFormatYUV420P, 2)
	if err != nil {
		_ = enc.Close()
		return nil, err
	}
	return &h264Writer{sh: sh, enc: enc, pool: pool, fit: newFitter(o.width, o.height)}, nil
}

func (w *h264Writer) frame(pts time.Duration) (uint64, error) {
	f, err := w.pool.Get()
	if err != nil {
		return 0, err
	}
	gen, err := w.sh.d.screen.read(func(pix []byte, width, height, stride int) error {
		w.fit.prepare(width, height)
		if w.fit.full() { // the same aspect: libswscale scales, if it must
			return f.WritePacked(pix, width, height, stride, native.PixelFormatRGBA)
		}
		if n := w.fit.dstW * w.fit.dstH * 4; len(w.rgba) != n {
			w.rgba = make([]byte, n)
		}
		w.fit.writeRGBA(w.rgba, pix, stride)
		return f.WritePacked(w.rgba, w.fit.dstW, w.fit.dstH, w.fit.dstW*4, native.PixelFormatRGBA)
	})
	if err != nil {
		f.Release()
		return gen, err
	}
	f.PTS = pts
	w.au = w.au[:0]
	if err := w.enc.Encode(f, func(p native.Packet) error {
		w.au = append(w.au, p.Data...)
		return nil
	}); err != nil {
		return gen, err
	}
	if len(w.au) > 0 {
		if _, err := w.sh.out.Write(w.au); err != nil {
			return gen, err
		}
	}
	return gen, nil
}

func (w *h264Writer) close() {
	_ = w.enc.Close()
	_ = w.pool.Close()
}

// rawWriter writes RGB888 frames, width·height·3 bytes each, top row
// first, with no header: screenrecord's raw-frames format. A screen of
// another size is scaled to fit, nearest neighbour (see fitter).
type rawWriter struct {
	sh         *shell
	rgba       []byte // the captured screen
	srcW, srcH int    // its size
	out        []byte // the frame
	fit        *fitter
}

func newRawWriter(sh *shell, o recordOptions) *rawWriter {
	return &rawWriter{sh: sh, out: make([]byte, o.width*o.height*3), fit: newFitter(o.width, o.height)}
}

func (r *rawWriter) frame(time.Duration) (uint64, error) {
	gen, _ := r.sh.d.screen.read(func(pix []byte, w, h, _ int) error {
		r.rgba = append(r.rgba[:0], pix[:w*h*4]...)
		r.srcW, r.srcH = w, h
		return nil
	})
	r.fit.prepare(r.srcW, r.srcH)
	r.fit.writeRGB(r.out, r.rgba, r.srcW*4)
	_, err := r.sh.out.Write(r.out)
	return gen, err
}

func (r *rawWriter) close() {}

// A running screenrecord keeps the video size it started with. When the
// display's size changes under it (a rotation, wm size), Android's
// screenrecord re-projects the display into that fixed size, keeping its
// aspect ratio: the picture is scaled to fit and centred, with black bars
// (setDisplayProjection in screenrecord.cpp). fitter does the same, nearest
// neighbour, for a screen of any size into a fixed output.

// fitRect returns where a src-sized picture lands in a dst-sized output
// when it is scaled to fit with its aspect ratio kept, as screenrecord
// computes it; a rectangle within a pixel of the whole output is widened
// to the whole output (stretched), so that rounding never leaves a
// one-pixel bar.
func fitRect(srcW, srcH, dstW, dstH int) rect {
	if srcW <= 0 || srcH <= 0 || dstW <= 0 || dstH <= 0 {
		return rect{}
	}
	var w, h int
	if dstH*srcW > dstW*srcH { // limited by the narrow width: reduce the height
		w, h = dstW, dstW*srcH/srcW
	} else { // limited by the short height: reduce the width
		w, h = dstH*srcW/srcH, dstH
	}
	if w >= dstW-1 && h >= dstH-1 {
		return rect{0, 0, dstW, dstH}
	}
	w, h = max(w, 1), max(h, 1)
	x, y := (dstW-w)/2, (dstH-h)/2
	return rect{x, y, x + w, y + h}
}

// fitter maps a source picture into a fixed output with fitRect. Its
// tables are rebuilt whenever the source's size changes.
type fitter struct {
	dstW, dstH int
	srcW, srcH int
	content    rect  // where the source lands in the output
	xs, ys     []int // source column (row) of each column (row) of content
}

func newFitter(dstW, dstH int) *fitter { return &fitter{dstW: dstW, dstH: dstH} }

// prepare sets the source's size.
func (f *fitter) prepare(srcW, srcH int) {
	if srcW == f.srcW && srcH == f.srcH && f.xs != nil {
		return
	}
	f.srcW, f.srcH = srcW, srcH
	f.content = fitRect(srcW, srcH, f.dstW, f.dstH)
	cw, ch := f.content.X1-f.content.X0, f.content.Y1-f.content.Y0
	f.xs = make([]int, cw)
	for x := range f.xs {
		f.xs[x] = x * srcW / cw
	}
	f.ys = make([]int, ch)
	for y := range f.ys {
		f.ys[y] = y * srcH / ch
	}
}

// identity reports whether the source is the output's size.
func (f *fitter) identity() bool { return f.srcW == f.dstW && f.srcH == f.dstH }

// full reports whether the source covers the whole output (no bars).
func (f *fitter) full() bool { return f.content == rect{0, 0, f.dstW, f.dstH} }

// writeRGB writes the RGBA source (src, with stride bytes a row) into dst
// as packed RGB888, dstW·dstH·3 bytes, with black bars around it.
func (f *fitter) writeRGB(dst, src []byte, stride int) {
	if f.identity() {
		for y := range f.dstH {
			s := src[y*stride : y*stride+f.dstW*4]
			d := dst[y*f.dstW*3 : (y+1)*f.dstW*3]
			for i, j := 0, 0; j+2 < len(d); i, j = i+4, j+3 {
				d[j], d[j+1], d[j+2] = s[i], s[i+1], s[i+2]
			}
		}
		return
	}
	c := f.content
	for y := range f.dstH {
		d := dst[y*f.dstW*3 : (y+1)*f.dstW*3]
		if y < c.Y0 || y >= c.Y1 {
			clear(d)
			continue
		}
		clear(d[:c.X0*3])
		clear(d[c.X1*3:])
		row := src[f.ys[y-c.Y0]*stride:]
		out := d[c.X0*3 : c.X1*3]
		for x, sx := range f.xs {
			s := row[sx*4 : sx*4+3]
			out[3*x], out[3*x+1], out[3*x+2] = s[0], s[1], s[2]
		}
	}
}

// writeRGBA writes the RGBA source into dst as RGBA, dstW·dstH·4 bytes,
// with opaque black bars around it.
func (f *fitter) writeRGBA(dst, src []byte, stride int) {
	c := f.content
	black := func(b []byte) {
		for i := 0; i+3 < len(b); i += 4 {
			b[i], b[i+1], b[i+2], b[i+3] = 0, 0, 0, 0xff
		}
	}
	for y := range f.dstH {
		d := dst[y*f.dstW*4 : (y+1)*f.dstW*4]
		if y < c.Y0 || y >= c.Y1 {
			black(d)
			continue
		}
		black(d[:c.X0*4])
		black(d[c.X1*4:])
		row := src[f.ys[y-c.Y0]*stride:]
		out := d[c.X0*4 : c.X1*4]
		for x, sx := range f.xs {
			copy(out[4*x:4*x+4], row[sx*4:sx*4+4])
		}
	}
}
