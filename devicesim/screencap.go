package devicesim

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"image/png"
)

// screencapFormatRGBA8888 is HAL_PIXEL_FORMAT_RGBA_8888.
const screencapFormatRGBA8888 = 1

// screencap [-p] [-d ID] [-]: the screen as PNG (-p), or raw: a 12-byte
// header (width, height, format 1 = RGBA_8888; little-endian u32) and the
// RGBA pixels, top row first. Only standard output is supported.
func cmdScreencap(sh *shell, args []string) int {
	asPNG := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-p":
			asPNG = true
		case "-d":
			i++
			if i >= len(args) {
				fmt.Fprintln(sh.out, "screencap: option requires an argument -- d")
				return 1
			}
		case "-h":
			screencapUsage(sh)
			return 0
		case "-":
		default:
			if len(a) > 1 && a[0] == '-' {
				fmt.Fprintf(sh.out, "screencap: invalid option -- %s\n", a[1:])
				screencapUsage(sh)
				return 1
			}
			fmt.Fprintf(sh.out, "devicesim: screencap writes to standard output only, not %s\n", a)
			return 1
		}
	}
	img := sh.d.screen.snapshot()
	w := bufio.NewWriterSize(sh.out, sh.s.MaxWrite())
	if asPNG {
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(w, img); err != nil {
			return 1
		}
	} else {
		var hdr [12]byte
		binary.LittleEndian.PutUint32(hdr[0:], uint32(img.Rect.Dx()))
		binary.LittleEndian.PutUint32(hdr[4:], uint32(img.Rect.Dy()))
		binary.LittleEndian.PutUint32(hdr[8:], screencapFormatRGBA8888)
		_, _ = w.Write(hdr[:])
		_, _ = w.Write(img.Pix)
	}
	if err := w.Flush(); err != nil {
		return 1
	}
	return 0
}

func screencapUsage(sh *shell) {
	fmt.Fprint(sh.out, "usage: screencap [-hp] [-d display-id] [FILENAME]\n"+
		"   -h: this message\n"+
		"   -p: save the file as a png.\n"+
		"   -d: specify the display id to capture, default 0.\n"+
		"If FILENAME ends with .png it will be saved as a png.\n"+
		"If FILENAME is not given, the results will be printed to stdout.\n")
}
