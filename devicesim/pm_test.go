package devicesim

import (
	"archive/zip"
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// testAPK is a ZIP with a text manifest naming pkg, as the simulator's pm
// reads one; with manifest false, a ZIP without one.
func testAPK(t *testing.T, pkg string, manifest bool) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	if manifest {
		w, _ := zw.Create("AndroidManifest.xml")
		w.Write([]byte(`<?xml version="1.0" encoding="utf-8"?><manifest xmlns:android="http://schemas.android.com/apk/res/android" package="` + pkg + `"/>`))
	}
	w, _ := zw.Create("classes.dex")
	w.Write([]byte("dex\n035\x00"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPmInstall(t *testing.T) {
	d := newDevice(t, Options{Static: true})
	staged := `/data/app/vmdl\d+\.tmp/base\.apk`

	d.PutFile("/data/local/tmp/a.apk", testAPK(t, "com.example.hello", true), 0o644)
	if out := runShell(d, "pm install -r /data/local/tmp/a.apk"); out != "Success\n" {
		t.Fatalf("pm install of an APK: %q", out)
	}
	if got := d.Packages(); !slices.Equal(got, []string{"com.example.hello"}) {
		t.Fatalf("Packages %q", got)
	}
	// Again: -r replaces it; without, the installer refuses.
	if out := runShell(d, "pm install -r -t /data/local/tmp/a.apk"); out != "Success\n" {
		t.Fatalf("pm install -r again: %q", out)
	}
	if out := runShell(d, "pm install /data/local/tmp/a.apk"); out != "Failure [INSTALL_FAILED_ALREADY_EXISTS: Attempt to re-install com.example.hello without first uninstalling.]\n" {
		t.Fatalf("pm install without -r of an installed package: %q", out)
	}

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"text", []byte("hello, not an APK"), `^Failure \[INSTALL_PARSE_FAILED_NOT_APK: Failed to parse (` + staged + `): Failed to load asset path (` + staged + `)\]\n$`},
		{"zip magic, no zip", []byte("PK\x03\x04garbage"), `^Failure \[INSTALL_PARSE_FAILED_NOT_APK: Failed to parse ` + staged + `: Failed to load asset path ` + staged + `\]\n$`},
		{"zip without a manifest", testAPK(t, "", false), `^Failure \[INSTALL_PARSE_FAILED_UNEXPECTED_EXCEPTION: Failed to parse ` + staged + `: AndroidManifest.xml\]\n$`},
		{"manifest without a package", testAPK(t, "", true), `^Failure \[INSTALL_PARSE_FAILED_MANIFEST_MALFORMED: Failed parse during installPackageLI: ` + staged + ` \(at Binary XML file line #1\): <manifest> does not specify package\]\n$`},
	} {
		d.PutFile("/data/local/tmp/x.apk", tc.data, 0o644)
		out := runShell(d, "pm install -r /data/local/tmp/x.apk")
		m := regexp.MustCompile(tc.want).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("%s: %q, want %s", tc.name, out, tc.want)
		} else if len(m) == 3 && m[1] != m[2] {
			t.Errorf("%s: two staged paths in %q", tc.name, out)
		}
	}

	// A missing file, and one on /sdcard, which system_server may not
	// read from Android 11.
	out := runShell(d, "pm install -r /data/local/tmp/missing.apk")
	if !strings.HasPrefix(out, "Error: Unable to open file: /data/local/tmp/missing.apk\nError: Can't open file: /data/local/tmp/missing.apk\n"+
		"Exception occurred while executing 'install':\njava.lang.IllegalArgumentException: Error: Can't open file: /data/local/tmp/missing.apk\n") {
		t.Errorf("pm install of a missing file: %q", out)
	}
	d.PutFile("/sdcard/Download/a.apk", testAPK(t, "com.example.sd", true), 0o644)
	out = runShell(d, "pm install /sdcard/Download/a.apk")
	if !strings.Contains(out, "tcontext=u:object_r:fuse:s0") || !strings.Contains(out, "(from path /storage/emulated/0/Download/a.apk,") ||
		!strings.Contains(out, "Error: Unable to open file: /sdcard/Download/a.apk\nConsider using a file under /data/local/tmp/\n") {
		t.Errorf("pm install from /sdcard: %q", out)
	}
	if out := runShell(d, "pm install"); out != "Error: must either specify a package size or an APK file\n" {
		t.Errorf("pm install without a file: %q", out)
	}
	if got := d.Packages(); !slices.Equal(got, []string{"com.example.hello"}) {
		t.Fatalf("Packages after the failures %q", got)
	}

	// list and uninstall.
	if out := runShell(d, "pm list packages -3"); out != "package:com.example.hello\n" {
		t.Errorf("pm list packages -3: %q", out)
	}
	if out := runShell(d, "pm list packages"); !strings.Contains(out, "package:android\n") || !strings.Contains(out, "package:com.example.hello\n") {
		t.Errorf("pm list packages: %q", out)
	}
	if out := runShell(d, "pm list packages hello"); out != "package:com.example.hello\n" {
		t.Errorf("pm list packages hello: %q", out)
	}
	if out := runShell(d, "pm uninstall com.example.hello"); out != "Success\n" {
		t.Errorf("pm uninstall: %q", out)
	}
	if out := runShell(d, "pm uninstall com.example.hello"); out != "Failure [DELETE_FAILED_INTERNAL_ERROR]\n" {
		t.Errorf("pm uninstall again: %q", out)
	}
	if got := d.Packages(); len(got) != 0 {
		t.Errorf("Packages after uninstall %q", got)
	}
}

func TestRm(t *testing.T) {
	d := newDevice(t, Options{Static: true})
	d.PutFile("/data/local/tmp/a", []byte("a"), 0o644)
	d.PutFile("/sdcard/Download/b", []byte("b"), 0o644)
	d.PutFile("/sdcard/Download/sub/c", []byte("c"), 0o644)
	d.PutFile("/system/etc/hosts", []byte("127.0.0.1 localhost\n"), 0o644)

	if out := runShell(d, "rm -f /data/local/tmp/a"); out != "" {
		t.Errorf("rm -f: %q", out)
	}
	if _, _, ok := d.File("/data/local/tmp/a"); ok {
		t.Error("rm -f left the file")
	}
	if out := runShell(d, "rm -f /data/local/tmp/a"); out != "" {
		t.Errorf("rm -f of a missing file: %q", out)
	}
	if out := runShell(d, "rm /data/local/tmp/a"); out != "rm: /data/local/tmp/a: No such file or directory\n" {
		t.Errorf("rm of a missing file: %q", out)
	}
	if out := runShell(d, "rm -f /sdcard/Download"); out != "rm: /sdcard/Download: Is a directory\n" {
		t.Errorf("rm of a directory: %q", out)
	}
	if out := runShell(d, "rm -f /system/etc/hosts"); out != "rm: /system/etc/hosts: Permission denied\n" {
		t.Errorf("rm of a system file: %q", out)
	}
	if _, _, ok := d.File("/system/etc/hosts"); !ok {
		t.Error("rm removed a file the shell user may not")
	}
	if got := d.FilePaths("/sdcard"); !slices.Equal(got, []string{"/sdcard/Download/b", "/sdcard/Download/sub/c"}) {
		t.Errorf("FilePaths(/sdcard) %q", got)
	}
	if out := runShell(d, "rm -rf /sdcard/Download"); out != "" {
		t.Errorf("rm -rf: %q", out)
	}
	for _, p := range []string{"/sdcard/Download/b", "/sdcard/Download/sub/c"} {
		if _, _, ok := d.File(p); ok {
			t.Errorf("rm -rf left %s", p)
		}
	}
}
