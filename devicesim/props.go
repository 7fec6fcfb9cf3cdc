package devicesim

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// deviceFeatures is what the device's CNXN banner advertises: nothing. In
// particular not shell_v2, so the host opens raw shell streams (stdout and
// stderr merged, no exit status), nor delayed_ack, which protocol version
// 0x01000001 predates, nor the sync features (sync: is refused).
var deviceFeatures []string

// defaultProps returns the system properties getprop reports.
func defaultProps(serial string, o Options) map[string]string {
	p := map[string]string{
		"ro.product.model":                o.Model,
		"ro.product.manufacturer":         "CloudPhone",
		"ro.product.brand":                "cloudphone",
		"ro.product.name":                 "devicesim",
		"ro.product.device":               "devicesim",
		"ro.product.board":                "devicesim",
		"ro.product.cpu.abi":              "x86_64",
		"ro.product.cpu.abilist":          "x86_64,x86,arm64-v8a,armeabi-v7a,armeabi",
		"ro.build.version.release":        "10",
		"ro.build.version.sdk":            "29",
		"ro.build.version.security_patch": "2020-03-05",
		"ro.build.id":                     "QQ2A.200305.004.A1",
		"ro.build.type":                   "userdebug",
		"ro.build.tags":                   "test-keys",
		"ro.build.fingerprint":            "cloudphone/devicesim/devicesim:10/QQ2A.200305.004.A1/1:userdebug/test-keys",
		"ro.build.characteristics":        "default",
		"ro.serialno":                     serial,
		"ro.boot.serialno":                serial,
		"ro.debuggable":                   "1",
		"ro.secure":                       boolProp(o.Auth),
		"ro.adb.secure":                   boolProp(o.Auth),
		"ro.sf.lcd_density":               "320",
		"ro.hardware":                     "devicesim",
		"ro.kernel.qemu":                  "0",
		"sys.boot_completed":              "1",
		"dev.bootcomplete":                "1",
		"init.svc.adbd":                   "running",
		"service.adb.tcp.port":            "5555",
		"persist.sys.timezone":            "UTC",
		"persist.sys.locale":              "en-US",
	}
	maps.Copy(p, o.Props)
	return p
}

func boolProp(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// banner is the payload of the device's CNXN.
func (d *Device) banner() string {
	var b strings.Builder
	b.WriteString("device::")
	for _, k := range []string{"ro.product.name", "ro.product.model", "ro.product.device"} {
		fmt.Fprintf(&b, "%s=%s;", k, d.props[k])
	}
	b.WriteString("features=")
	b.WriteString(strings.Join(deviceFeatures, ","))
	return b.String()
}

// getprop [KEY [DEFAULT]]: all properties as "[key]: [value]" lines, or
// one value (DEFAULT, or an empty line, when it is not set).
func cmdGetprop(sh *shell, args []string) int {
	switch len(args) {
	case 0:
		for _, k := range slices.Sorted(maps.Keys(sh.d.props)) {
			fmt.Fprintf(sh.out, "[%s]: [%s]\n", k, sh.d.props[k])
		}
	case 1, 2:
		v, ok := sh.d.props[args[0]]
		if !ok && len(args) == 2 {
			v = args[1]
		}
		fmt.Fprintln(sh.out, v)
	default:
		fmt.Fprintln(sh.out, "usage: getprop [NAME [DEFAULT]]")
		return 1
	}
	return 0
}

// wm size | density.
func cmdWm(sh *shell, args []string) int {
	if len(args) == 0 {
		wmUsage(sh.out)
		return 0
	}
	switch args[0] {
	case "size":
		if len(args) > 1 {
			fmt.Fprintln(sh.out, "devicesim: wm size cannot change the screen size")
			return 1
		}
		fmt.Fprintf(sh.out, "Physical size: %dx%d\n", sh.d.opts.Width, sh.d.opts.Height)
	case "density":
		if len(args) > 1 {
			fmt.Fprintln(sh.out, "devicesim: wm density cannot change the density")
			return 1
		}
		fmt.Fprintf(sh.out, "Physical density: %s\n", sh.d.props["ro.sf.lcd_density"])
	default:
		fmt.Fprintf(sh.out, "Unknown command: %s\n", args[0])
		wmUsage(sh.out)
		return 255
	}
	return 0
}

func wmUsage(w io.Writer) {
	fmt.Fprint(w, "Window manager (window) commands:\n"+
		"  size\n    Return the physical display size.\n"+
		"  density\n    Return the physical display density.\n")
}
