package devicesim

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// The package manager (pm install, pm list packages, pm uninstall) and rm,
// on the files the sync: service stores (sync.go): enough of them for a
// host that pushes an APK to /data/local/tmp, installs it and removes it,
// answering as Android 11 and later do.
//
// An APK is a ZIP archive ("PK\x03\x04" first) with an
// AndroidManifest.xml. A real one's manifest is binary XML; the simulator
// reads it as text and takes the package name from its package="..."
// attribute (a test's APK is a ZIP with a text manifest). What is not an
// APK fails with the real installer's failure lines.

// systemPackages are listed by pm list packages beside the installed ones
// (not by pm list packages -3).
var systemPackages = []string{"android", "com.android.settings", "com.android.shell", "com.android.systemui"}

// maxManifest bounds the manifest the simulator reads.
const maxManifest = 1 << 20

// packages are a device's installed apps: package name → the APK's size.
type packages struct {
	mu  sync.Mutex
	set map[string]int
}

func (d *Device) packages() *packages {
	d.pkgOnce.Do(func() { d.pkgs = &packages{set: map[string]int{}} })
	return d.pkgs
}

// Packages returns the names of the apps installed with pm install,
// sorted.
func (d *Device) Packages() []string {
	p := d.packages()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.set))
	for name := range p.set {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// FilePaths returns the paths of the files stored below dir (pushed, or
// placed with PutFile), sorted.
func (d *Device) FilePaths(dir string) []string {
	fs := d.fileStore()
	dir = cleanPath(dir)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []string
	for p := range fs.files {
		if p != dir && under(p, dir) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// cmdPm: pm install [-r] [-t] [-g] [-d] PATH | pm list packages [-3]
// [FILTER] | pm uninstall [-k] PACKAGE.
func cmdPm(sh *shell, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(sh.out, "usage: pm install [-r] PATH | pm list packages [-3] [FILTER] | pm uninstall PACKAGE")
		return 1
	}
	switch args[0] {
	case "install":
		return pmInstall(sh, args[1:])
	case "list":
		if len(args) >= 2 && args[1] == "packages" {
			return pmList(sh, args[2:])
		}
	case "uninstall":
		return pmUninstall(sh, args[1:])
	}
	fmt.Fprintf(sh.out, "Unknown command: %s\n", strings.Join(args, " "))
	return 255
}

// pmInstall installs an APK from a file on the device. Its output is the
// installer's: "Success", or a "Failure [CODE: message]" line, or for a
// file it cannot open the shell command's errors and exception.
func pmInstall(sh *shell, args []string) int {
	replace := false
	var file string
	for _, a := range args {
		switch {
		case a == "-r":
			replace = true
		case a == "-t" || a == "-g" || a == "-d" || a == "-f":
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(sh.out, "Error: Unknown option: %s\n", a)
			return 1
		case file == "":
			file = a
		}
	}
	if file == "" {
		fmt.Fprintln(sh.out, "Error: must either specify a package size or an APK file")
		return 1
	}
	p := cleanPath(file)
	if sh.d.opts.SDK >= 30 && under(p, "/sdcard") {
		// Android 11 and later: /sdcard is a FUSE mount that
		// system_server, which installs, may not read.
		fmt.Fprintf(sh.out, "avc:  denied  { read } for  scontext=u:r:system_server:s0 tcontext=u:object_r:fuse:s0 tclass=file permissive=0\n"+
			"System server has no access to read file context u:object_r:fuse:s0 (from path /storage/emulated/0%s, context u:r:system_server:s0)\n",
			strings.TrimPrefix(p, "/sdcard"))
		return cannotOpen(sh, file)
	}
	fs := sh.d.fileStore()
	fs.mu.Lock()
	f, ok := fs.files[p]
	fs.mu.Unlock()
	if !ok {
		return cannotOpen(sh, file)
	}
	// The installer copies the file into a session's staging directory
	// and parses it there: its failures name that copy.
	staged := fmt.Sprintf("/data/app/vmdl%d.tmp/base.apk", 100_000_000+rand.IntN(1_900_000_000))
	pkg, failure := parseAPK(f.data, staged)
	pkgs := sh.d.packages()
	pkgs.mu.Lock()
	if _, installed := pkgs.set[pkg]; failure == "" && installed && !replace {
		failure = fmt.Sprintf("INSTALL_FAILED_ALREADY_EXISTS: Attempt to re-install %s without first uninstalling.", pkg)
	}
	if failure == "" {
		pkgs.set[pkg] = len(f.data)
	}
	pkgs.mu.Unlock()
	if failure != "" {
		fmt.Fprintf(sh.out, "Failure [%s]\n", failure)
		return 1
	}
	sh.log.Info("pm: package installed", "package", pkg, "from", p, "size", len(f.data))
	fmt.Fprintln(sh.out, "Success")
	return 0
}

// cannotOpen prints what pm install prints for a file the installer
// cannot open, and returns its exit status.
func cannotOpen(sh *shell, file string) int {
	fmt.Fprintf(sh.out, "Error: Unable to open file: %s\n", file)
	if !strings.HasPrefix(file, "/data/local/tmp/") {
		fmt.Fprintln(sh.out, "Consider using a file under /data/local/tmp/")
	}
	fmt.Fprintf(sh.out, "Error: Can't open file: %s\n"+
		"Exception occurred while executing 'install':\n"+
		"java.lang.IllegalArgumentException: Error: Can't open file: %s\n"+
		"\tat com.android.server.pm.PackageManagerShellCommand.setParamsSize(PackageManagerShellCommand.java:604)\n"+
		"\tat com.android.server.pm.PackageManagerShellCommand.doRunInstall(PackageManagerShellCommand.java:1427)\n"+
		"\tat com.android.server.pm.PackageManagerShellCommand.runInstall(PackageManagerShellCommand.java:1393)\n"+
		"\tat com.android.server.pm.PackageManagerShellCommand.onCommand(PackageManagerShellCommand.java:209)\n", file, file)
	return 255
}

var manifestPackage = regexp.MustCompile(`\bpackage\s*=\s*"([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+)"`)

// parseAPK returns the package an APK holds, or the installer's failure
// (CODE: message) for data staged at path.
func parseAPK(data []byte, path string) (pkg, failure string) {
	notAPK := fmt.Sprintf("INSTALL_PARSE_FAILED_NOT_APK: Failed to parse %s: Failed to load asset path %s", path, path)
	if !bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		return "", notAPK
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", notAPK
	}
	i := slices.IndexFunc(zr.File, func(f *zip.File) bool { return f.Name == "AndroidManifest.xml" })
	if i < 0 {
		return "", fmt.Sprintf("INSTALL_PARSE_FAILED_UNEXPECTED_EXCEPTION: Failed to parse %s: AndroidManifest.xml", path)
	}
	rc, err := zr.File[i].Open()
	if err != nil {
		return "", notAPK
	}
	manifest, err := io.ReadAll(io.LimitReader(rc, maxManifest))
	rc.Close()
	if err != nil {
		return "", notAPK
	}
	m := manifestPackage.FindSubmatch(manifest)
	if m == nil {
		return "", fmt.Sprintf("INSTALL_PARSE_FAILED_MANIFEST_MALFORMED: Failed parse during installPackageLI: %s (at Binary XML file line #1): <manifest> does not specify package", path)
	}
	return string(m[1]), ""
}

// pmList: pm list packages [-3] [FILTER], as "package:NAME" lines.
func pmList(sh *shell, args []string) int {
	thirdParty, filter := false, ""
	for _, a := range args {
		switch {
		case a == "-3":
			thirdParty = true
		case strings.HasPrefix(a, "-"):
		default:
			filter = a
		}
	}
	var names []string
	if !thirdParty {
		names = append(names, systemPackages...)
	}
	names = append(names, sh.d.Packages()...)
	for _, n := range names {
		if strings.Contains(n, filter) {
			fmt.Fprintf(sh.out, "package:%s\n", n)
		}
	}
	return 0
}

// pmUninstall: pm uninstall [-k] PACKAGE.
func pmUninstall(sh *shell, args []string) int {
	var pkg string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			pkg = a
		}
	}
	p := sh.d.packages()
	p.mu.Lock()
	_, ok := p.set[pkg]
	delete(p.set, pkg)
	p.mu.Unlock()
	if !ok {
		fmt.Fprintln(sh.out, "Failure [DELETE_FAILED_INTERNAL_ERROR]")
		return 1
	}
	fmt.Fprintln(sh.out, "Success")
	return 0
}

// cmdRm: rm [-f] [-r] PATH...: removes stored files (toybox's messages).
// The shell user may remove what it may create: below /sdcard and
// /data/local/tmp.
func cmdRm(sh *shell, args []string) int {
	force, recursive := false, false
	var paths []string
	opts := true
	for _, a := range args {
		if opts && a == "--" {
			opts = false
			continue
		}
		if opts && len(a) > 1 && a[0] == '-' {
			for _, c := range a[1:] {
				switch c {
				case 'f':
					force = true
				case 'r', 'R':
					recursive = true
				default:
					fmt.Fprintf(sh.out, "rm: Unknown option '%c'\n", c)
					return 1
				}
			}
			continue
		}
		paths = append(paths, a)
	}
	if len(paths) == 0 {
		if force {
			return 0
		}
		fmt.Fprintln(sh.out, "rm: Needs 1 argument")
		return 1
	}
	status := 0
	fs := sh.d.fileStore()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, raw := range paths {
		p := cleanPath(raw)
		writable := slices.ContainsFunc(writableRoots, func(root string) bool { return p != root && under(p, root) })
		_, isFile := fs.files[p]
		switch {
		case isFile && !writable:
			fmt.Fprintf(sh.out, "rm: %s: Permission denied\n", raw)
			status = 1
		case isFile:
			delete(fs.files, p)
		case fs.isDirLocked(p) && !recursive:
			fmt.Fprintf(sh.out, "rm: %s: Is a directory\n", raw)
			status = 1
		case fs.isDirLocked(p):
			for k := range fs.files {
				if under(k, p) && slices.ContainsFunc(writableRoots, func(root string) bool { return under(k, root) }) {
					delete(fs.files, k)
				}
			}
		case !force:
			fmt.Fprintf(sh.out, "rm: %s: No such file or directory\n", raw)
			status = 1
		}
	}
	return status
}
