package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// needTool is the path of a program a test needs. Where it is missing the
// test is skipped, or fails where CI is "true" (the project's rule: CI
// installs everything, third_party/install-deps.sh test).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (third_party/install-deps.sh test installs it): %v", name, err)
		}
		t.Skipf("%s is missing (third_party/install-deps.sh test installs it): %v", name, err)
	}
	return p
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestDexIsFresh rebuilds the dex from smali/ with build.sh and compares
// it with the embedded one.
func TestDexIsFresh(t *testing.T) {
	needTool(t, "smali")
	bash := needTool(t, "bash")
	out := filepath.Join(t.TempDir(), "media-agent.dex")
	if b, err := exec.Command(bash, "build.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, Dex) {
		t.Fatalf("agent/media-agent.dex (%d bytes, sha256 %s) is not the build of agent/smali (%d bytes, sha256 %s): run `make agent` and commit agent/media-agent.dex",
			len(Dex), sha(Dex), len(fresh), sha(fresh))
	}
	if got := DexSHA256(); got != sha(fresh) {
		t.Errorf("DexSHA256() = %s, want %s", got, sha(fresh))
	}
}

// androidAPI lists every Android class and member the agent may reference
// directly, by the API level that brought it: all must be 21 or less, so
// that Android 5 links the dex. Anything newer or hidden (InputManager,
// InputManagerGlobal, ServiceManager, IClipboard, IWindowManager) is
// reached by reflection and appears as a string only.
var androidAPI = map[int][]string{
	1: {
		"Landroid/net/LocalServerSocket;",
		"Landroid/net/LocalServerSocket;.<init>:(Ljava/lang/String;)V",
		"Landroid/net/LocalServerSocket;.accept:()Landroid/net/LocalSocket;",
		"Landroid/net/LocalSocket;",
		"Landroid/net/LocalSocket;.close:()V",
		"Landroid/net/LocalSocket;.getInputStream:()Ljava/io/InputStream;",
		"Landroid/net/LocalSocket;.getOutputStream:()Ljava/io/OutputStream;",
		"Landroid/net/LocalSocket;.setSoTimeout:(I)V",
		"Landroid/net/LocalSocket;.shutdownInput:()V",
		"Landroid/net/LocalSocket;.shutdownOutput:()V",
		"Landroid/os/IBinder;",
		"Landroid/os/Looper;.prepareMainLooper:()V",
		"Landroid/os/SystemClock;.uptimeMillis:()J",
		"Landroid/view/KeyCharacterMap;",
		"Landroid/view/KeyCharacterMap;.getEvents:([C)[Landroid/view/KeyEvent;",
		"Landroid/view/KeyCharacterMap;.load:(I)Landroid/view/KeyCharacterMap;",
		"Landroid/view/KeyEvent;",
		"Landroid/view/MotionEvent;",
	},
	4: {
		"Landroid/os/Build$VERSION;.SDK_INT:I",
	},
	9: {
		"Landroid/view/InputEvent;",
		"Landroid/view/KeyEvent;.<init>:(JJIIIIIIII)V",
		"Landroid/view/MotionEvent$PointerCoords;",
		"Landroid/view/MotionEvent$PointerCoords;.<init>:()V",
		"Landroid/view/MotionEvent$PointerCoords;.pressure:F",
		"Landroid/view/MotionEvent$PointerCoords;.x:F",
		"Landroid/view/MotionEvent$PointerCoords;.y:F",
	},
	11: {
		"Landroid/content/ClipData$Item;",
		"Landroid/content/ClipData$Item;.getText:()Ljava/lang/CharSequence;",
		"Landroid/content/ClipData;",
		"Landroid/content/ClipData;.getItemAt:(I)Landroid/content/ClipData$Item;",
		"Landroid/content/ClipData;.getItemCount:()I",
		"Landroid/content/ClipData;.newPlainText:(Ljava/lang/CharSequence;Ljava/lang/CharSequence;)Landroid/content/ClipData;",
	},
	12: {
		"Landroid/view/MotionEvent$PointerCoords;.setAxisValue:(IF)V",
	},
	14: {
		"Landroid/view/MotionEvent$PointerProperties;",
		"Landroid/view/MotionEvent$PointerProperties;.<init>:()V",
		"Landroid/view/MotionEvent$PointerProperties;.id:I",
		"Landroid/view/MotionEvent$PointerProperties;.toolType:I",
		"Landroid/view/MotionEvent;.obtain:(JJII[Landroid/view/MotionEvent$PointerProperties;[Landroid/view/MotionEvent$PointerCoords;IIFFIIII)Landroid/view/MotionEvent;",
	},
}

// reflected are the classes the agent must reach by reflection only: newer
// than API 21, or hidden (and changing) framework classes.
var reflected = []string{
	"android.hardware.input.InputManagerGlobal", // API 34
	"android.hardware.input.InputManager",       // getInstance and injectInputEvent are hidden
	"android.os.ServiceManager",
	"android.content.IClipboard$Stub",
	"android.view.IWindowManager$Stub",
}

// TestDexdump checks the embedded dex with dexdump (which verifies its
// structure and checksum): dex version 035, the Main class and its main
// method, and no direct reference to anything Android 5 lacks.
func TestDexdump(t *testing.T) {
	dexdump := needTool(t, "dexdump")
	if !bytes.HasPrefix(Dex, []byte("dex\n035\x00")) {
		t.Fatalf("dex magic %q, want dex\\n035 (API 21 loads 035)", Dex[:min(8, len(Dex))])
	}
	path := filepath.Join(t.TempDir(), "media-agent.dex")
	if err := os.WriteFile(path, Dex, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(dexdump, "-f", "-d", path).CombinedOutput()
	if err != nil {
		t.Fatalf("dexdump: %v\n%s", err, out)
	}
	dump := string(out)
	for _, want := range []string{
		`DEX version '035'`,
		`magic               : 'dex\n035\0'`,
		`Class descriptor  : 'Lcom/cloudphone/agent/Main;'`,
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("dexdump: no %q", want)
		}
	}
	main := regexp.MustCompile(`\(in Lcom/cloudphone/agent/Main;\)\s+name\s+: 'main'\s+type\s+: '\(\[Ljava/lang/String;\)V'\s+access\s+: 0x0009 \(PUBLIC STATIC\)`)
	if !main.MatchString(dump) {
		t.Errorf("dexdump: no public static void main(String[]) in %s", MainClass)
	}
	if "L"+strings.ReplaceAll(MainClass, ".", "/")+";" != "Lcom/cloudphone/agent/Main;" {
		t.Errorf("MainClass %q is not the dex's main class", MainClass)
	}

	for _, name := range reflected {
		desc := "L" + strings.ReplaceAll(name, ".", "/")
		if i := strings.Index(dump, desc+";"); i >= 0 {
			t.Errorf("the dex references %s directly (Android 5 lacks it or hides it): %s", name, lineAt(dump, i))
		}
		if !regexp.MustCompile(`const-string v\d+, "` + regexp.QuoteMeta(name) + `"`).MatchString(dump) {
			t.Errorf("no const-string %q: is %s still reached by reflection?", name, name)
		}
	}

	api := map[string]int{}
	for level, names := range androidAPI {
		for _, n := range names {
			api[n] = level
		}
	}
	refs := map[string]bool{}
	for _, r := range regexp.MustCompile(`Landroid/[A-Za-z0-9_/$]+;(?:\.[A-Za-z0-9_<>$]+:[^\s,]+)?`).FindAllString(dump, -1) {
		refs[r] = true
	}
	var unknown []string
	for r := range refs {
		level, ok := api[r]
		switch {
		case !ok:
			unknown = append(unknown, r)
		case level > 21:
			t.Errorf("%s is API %d: Android 5 (API 21) lacks it; reach it by reflection", r, level)
		}
	}
	sort.Strings(unknown)
	for _, r := range unknown {
		t.Errorf("the dex references %s: add it to androidAPI with the API level that brought it (at most 21), or reach it by reflection", r)
	}
	if len(refs) == 0 {
		t.Error("no android reference found in the dump: has dexdump's format changed?")
	}

	// Java APIs newer than Android 5, and the opcodes of dex 038+.
	for _, bad := range []string{"Ljava/util/function/", "Ljava/util/stream/", "Ljava/time/", "Ljava/nio/file/", "Ljava/lang/invoke/", "invoke-custom", "invoke-polymorphic"} {
		if i := strings.Index(dump, bad); i >= 0 {
			t.Errorf("the dex uses %s, newer than Android 5: %s", bad, lineAt(dump, i))
		}
	}
}

// lineAt is the line of s around index i.
func lineAt(s string, i int) string {
	start := strings.LastIndexByte(s[:i], '\n') + 1
	end := strings.IndexByte(s[i:], '\n')
	if end < 0 {
		return strings.TrimSpace(s[start:])
	}
	return strings.TrimSpace(s[start : i+end])
}
