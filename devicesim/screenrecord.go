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
// a backlog.
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
		o.width, o.height = scr.w, scr.h
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
	return &h264Writer{sh: sh, enc: enc, pool: pool}, nil
}

func (w *h264Writer) frame(pts time.Duration) (uint64, error) {
	f, err := w.pool.Get()
	if err != nil {
		return 0, err
	}
	gen, err := w.sh.d.screen.read(func(pix []byte, width, height, stride int) error {
		return f.WritePacked(pix, width, height, stride, native.PixelFormatRGBA)
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
// first, with no header: screenrecord's raw-frames format. A size other
// than the screen's is scaled to, nearest neighbour.
type rawWriter struct {
	sh    *shell
	w, h  int
	rgba  []byte // the captured screen
	out   []byte // the frame
	xs    []int  // source column of each output column
	scale bool
}

func newRawWriter(sh *shell, o recordOptions) *rawWriter {
	scr := sh.d.screen
	r := &rawWriter{
		sh: sh, w: o.width, h: o.height,
		rgba:  make([]byte, scr.w*scr.h*4),
		out:   make([]byte, o.width*o.height*3),
		scale: o.width != scr.w || o.height != scr.h,
	}
	r.xs = make([]int, o.width)
	for x := range r.xs {
		r.xs[x] = x * scr.w / o.width
	}
	return r
}

func (r *rawWriter) frame(time.Duration) (uint64, error) {
	scr := r.sh.d.screen
	gen, _ := scr.read(func(pix []byte, _, _, _ int) error {
		copy(r.rgba, pix)
		return nil
	})
	stride := scr.w * 4
	if !r.scale {
		src, dst := r.rgba, r.out
		for i, j := 0, 0; j+2 < len(dst); i, j = i+4, j+3 {
			dst[j], dst[j+1], dst[j+2] = src[i], src[i+1], src[i+2]
		}
	} else {
		for y := range r.h {
			row := r.rgba[(y*scr.h/r.h)*stride:]
			dst := r.out[y*r.w*3 : (y+1)*r.w*3]
			for x, sx := range r.xs {
				s := row[sx*4 : sx*4+3]
				dst[3*x], dst[3*x+1], dst[3*x+2] = s[0], s[1], s[2]
			}
		}
	}
	_, err := r.sh.out.Write(r.out)
	return gen, err
}

func (r *rawWriter) close() {}
