package devicesim

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// deviceFeatures is what the device's CNXN banner advertises: nothing. In
// particular not shell_v2, so the host opens raw shell streams (stdout and
// stderr merged, no exit status), nor delayed_ack, which protocol version
// 0x01000001 predates, nor the sync features (sync: speaks version 1).
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

// wm size [reset|WxH] | density.
func cmdWm(sh *shell, args []string) int {
	if len(args) == 0 {
		wmUsage(sh.out)
		return 0
	}
	switch args[0] {
	case "size":
		return wmSize(sh, args[1:])
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
		"  size [reset|WxH]\n    Return or override display size.\n"+
		"  density\n    Return the physical display density.\n")
}

// wm size [reset|WxH]: without an argument, the physical size, and the
// override size when one is set; with one, it sets or clears the override.
func wmSize(sh *shell, args []string) int {
	d := sh.d
	if len(args) == 0 {
		g := d.Display()
		fmt.Fprintf(sh.out, "Physical size: %dx%d\n", g.PhysicalWidth, g.PhysicalHeight)
		if g.Overridden() {
			fmt.Fprintf(sh.out, "Override size: %dx%d\n", g.Width, g.Height)
		}
		return 0
	}
	if len(args) > 1 {
		fmt.Fprintf(sh.out, "Error: unexpected argument %s\n", args[1])
		return 255
	}
	if args[0] == "reset" {
		_ = d.SetSize(0, 0)
		return 0
	}
	w, h, ok := parseSize(args[0])
	if !ok {
		fmt.Fprintf(sh.out, "Error: bad size %s\n", args[0])
		return 255
	}
	if err := checkSize(w, h); err != nil {
		fmt.Fprintf(sh.out, "Error: %v\n", err)
		return 255
	}
	if err := d.SetSize(w, h); err != nil {
		fmt.Fprintf(sh.out, "Error: %v\n", err)
		return 255
	}
	return 0
}

// settingsNamespaces are the namespaces of the settings command.
var settingsNamespaces = []string{"system", "secure", "global"}

// defaultSettings are the settings a fresh device has. The rotation is
// the user's (user_rotation) and auto-rotation is off: the simulator has
// no accelerometer, so user_rotation applies whatever
// accelerometer_rotation says.
func defaultSettings(o Options) map[string]map[string]string {
	return map[string]map[string]string{
		"system": {
			"user_rotation":          strconv.Itoa(o.Rotation),
			"accelerometer_rotation": "0",
			"screen_brightness":      "102",
			"screen_off_timeout":     "2147483647",
		},
		"secure": {
			"android_id": "0123456789abcdef",
		},
		"global": {
			"adb_enabled":              "1",
			"stay_on_while_plugged_in": "7",
		},
	}
}

// settings [--user N|current] get|put|delete|list NAMESPACE [KEY [VALUE]]:
// Android's settings command on an in-memory store. Putting system
// user_rotation 0..3 turns the display (SetRotation).
func cmdSettings(sh *shell, args []string) int {
	if len(args) >= 2 && args[0] == "--user" {
		args = args[2:]
	}
	if len(args) < 2 {
		settingsUsage(sh)
		return 1
	}
	verb, ns := args[0], strings.ToLower(args[1])
	if !slices.Contains(settingsNamespaces, ns) {
		fmt.Fprintf(sh.out, "Invalid namespace '%s'\n", args[1])
		settingsUsage(sh)
		return 1
	}
	rest := args[2:]
	d := sh.d
	switch {
	case verb == "get" && len(rest) == 1:
		d.dispMu.Lock()
		v, ok := d.settings[ns][rest[0]]
		d.dispMu.Unlock()
		if !ok {
			v = "null"
		}
		fmt.Fprintln(sh.out, v)
	case verb == "put" && len(rest) >= 2 && len(rest) <= 4:
		key, val := rest[0], rest[1]
		if ns == "system" && key == "user_rotation" {
			if n, err := strconv.Atoi(val); err == nil && n >= 0 && n <= 3 {
				_ = d.SetRotation(n)
				return 0
			}
			sh.log.Warn("settings: user_rotation out of range 0..3 stored, not applied", "value", val)
		}
		d.dispMu.Lock()
		d.settings[ns][key] = val
		d.dispMu.Unlock()
	case verb == "delete" && len(rest) == 1:
		d.dispMu.Lock()
		_, ok := d.settings[ns][rest[0]]
		delete(d.settings[ns], rest[0])
		d.dispMu.Unlock()
		n := 0
		if ok {
			n = 1
		}
		fmt.Fprintf(sh.out, "Deleted %d rows\n", n)
	case verb == "list" && len(rest) == 0:
		d.dispMu.Lock()
		m := maps.Clone(d.settings[ns])
		d.dispMu.Unlock()
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(sh.out, "%s=%s\n", k, m[k])
		}
	default:
		settingsUsage(sh)
		return 1
	}
	return 0
}

func settingsUsage(sh *shell) {
	fmt.Fprint(sh.out, "usage:  settings [--user <USER_ID> | current] get namespace key\n"+
		"        settings [--user <USER_ID> | current] put namespace key value [tag] [default]\n"+
		"        settings [--user <USER_ID> | current] delete namespace key\n"+
		"        settings [--user <USER_ID> | current] list namespace\n\n"+
		"'namespace' is one of {system, secure, global}, case-insensitive\n")
}

// dumpsys [-l | SERVICE]: only the input service, with the touch screen's
// viewport and SurfaceOrientation, the lines that tools read the
// display's rotation from.
func cmdDumpsys(sh *shell, args []string) int {
	if len(args) == 0 || args[0] == "-l" {
		fmt.Fprint(sh.out, "Currently running services:\n  input\n")
		return 0
	}
	if args[0] != "input" {
		fmt.Fprintf(sh.out, "Can't find service: %s\n", args[0])
		return 0
	}
	g := sh.d.Display()
	pw, ph := g.Picture()
	fmt.Fprintf(sh.out, `INPUT MANAGER (dumpsys input)

Input Manager State:
  Interactive: true
  Pointer Speed: 0
  Show Touches: false

Event Hub State:
  BuiltInKeyboardId: -2
  Devices:
    1: devicesim_touchscreen
      Classes: 0x00000015
      Path: /dev/input/event1

Input Reader State:
  Device 1: devicesim_touchscreen
    Generation: 2
    IsExternal: false
    Sources: 0x00001002
    KeyboardType: 0
    Touch Input Mapper (mode - DIRECT):
      Viewport INTERNAL: displayId=0, uniqueId=local:0, port=0, orientation=%[1]d, logicalFrame=[0, 0, %[2]d, %[3]d], physicalFrame=[0, 0, %[2]d, %[3]d], deviceSize=[%[4]d, %[5]d]
      Raw Touch Axes:
        X: min=0, max=%[6]d, flat=0, fuzz=0, resolution=0
        Y: min=0, max=%[7]d, flat=0, fuzz=0, resolution=0
      SurfaceWidth: %[2]dpx
      SurfaceHeight: %[3]dpx
      SurfaceLeft: 0
      SurfaceTop: 0
      SurfaceOrientation: %[1]d
`, g.Rotation, pw, ph, g.Width, g.Height, g.Width-1, g.Height-1)
	return 0
}
