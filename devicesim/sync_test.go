package devicesim

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
)

// syncPeer speaks the host side of the sync protocol to serveSync over a
// loopback TCP connection (buffered, unlike net.Pipe: the device may
// answer FAIL before the host has sent all it meant to), without adb.
type syncPeer struct {
	t    testing.TB
	c    net.Conn
	done chan struct{}
}

func startSync(t testing.TB, d *Device) *syncPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	p := &syncPeer{t: t, c: a, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer b.Close()
		d.serveSync(b, slog.New(slog.DiscardHandler))
	}()
	_ = a.SetDeadline(time.Now().Add(generous))
	t.Cleanup(func() { a.Close(); <-p.done })
	return p
}

// send writes one request or data message: id, length, payload.
func (p *syncPeer) send(id string, n uint32, payload []byte) {
	p.t.Helper()
	b := binary.LittleEndian.AppendUint32([]byte(id), n)
	if _, err := p.c.Write(append(b, payload...)); err != nil {
		p.t.Fatalf("send %s: %v", id, err)
	}
}

func (p *syncPeer) req(id, arg string) { p.t.Helper(); p.send(id, uint32(len(arg)), []byte(arg)) }

func (p *syncPeer) read(n int) []byte {
	p.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(p.c, b); err != nil {
		p.t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// reply reads an id and a word.
func (p *syncPeer) reply() (string, uint32) {
	p.t.Helper()
	b := p.read(8)
	return string(b[:4]), binary.LittleEndian.Uint32(b[4:])
}

func (p *syncPeer) expectFail(msg string) {
	p.t.Helper()
	id, n := p.reply()
	if id != "FAIL" {
		p.t.Fatalf("got %s, want FAIL %q", id, msg)
	}
	if got := string(p.read(int(n))); got != msg {
		p.t.Fatalf("FAIL %q, want %q", got, msg)
	}
}

func (p *syncPeer) expectOkay() {
	p.t.Helper()
	if id, n := p.reply(); id != "OKAY" || n != 0 {
		if id == "FAIL" {
			p.t.Fatalf("FAIL %q, want OKAY", p.read(int(n)))
		}
		p.t.Fatalf("got %s %d, want OKAY 0", id, n)
	}
}

// expectEnd checks that the service ended and closed the stream.
func (p *syncPeer) expectEnd() {
	p.t.Helper()
	var b [1]byte
	if n, err := p.c.Read(b[:]); err != io.EOF {
		p.t.Fatalf("read %d bytes (%q), %v; want the end of the service", n, b[:n], err)
	}
}

// stat sends STAT and returns the reply's mode, size, mtime.
func (p *syncPeer) stat(path string) (mode, size, mtime uint32) {
	p.t.Helper()
	p.req("STAT", path)
	b := p.read(16)
	if string(b[:4]) != "STAT" {
		p.t.Fatalf("STAT %s: got %q", path, b[:4])
	}
	w := func(i int) uint32 { return binary.LittleEndian.Uint32(b[4+4*i:]) }
	return w(0), w(1), w(2)
}

// list sends LIST and returns the entries' names and modes.
func (p *syncPeer) list(path string) map[string]uint32 {
	p.t.Helper()
	p.req("LIST", path)
	out := map[string]uint32{}
	for {
		b := p.read(20)
		switch string(b[:4]) {
		case "DONE":
			if !bytes.Equal(b[4:], make([]byte, 16)) {
				p.t.Fatalf("DONE %x", b[4:])
			}
			return out
		case "DENT":
			out[string(p.read(int(binary.LittleEndian.Uint32(b[16:]))))] = binary.LittleEndian.Uint32(b[4:])
		default:
			p.t.Fatalf("LIST %s: got %q", path, b[:4])
		}
	}
}

// push sends a whole file in chunks of at most 64 KiB.
func (p *syncPeer) push(spec string, data []byte, mtime uint32) {
	p.t.Helper()
	p.req("SEND", spec)
	for len(data) > 0 {
		n := min(len(data), syncDataMax)
		p.send("DATA", uint32(n), data[:n])
		data = data[n:]
	}
	p.send("DONE", mtime, nil)
}

// recv sends RECV and returns the file, checking the chunks' sizes.
func (p *syncPeer) recv(path string) []byte {
	p.t.Helper()
	p.req("RECV", path)
	var out []byte
	for {
		id, n := p.reply()
		switch id {
		case "DATA":
			if n > syncDataMax-8 {
				p.t.Fatalf("DATA of %d bytes", n)
			}
			out = append(out, p.read(int(n))...)
		case "DONE":
			return out
		default:
			p.t.Fatalf("RECV %s: got %s %d", path, id, n)
		}
	}
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestSyncProtocol(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{Static: true})
	p := startSync(t, d)

	// Missing paths stat as zeros; the fixed directories exist.
	if m, s, tm := p.stat("/sdcard/nothing"); m|s|tm != 0 {
		t.Fatalf("STAT of a missing path: %o %d %d", m, s, tm)
	}
	for _, dir := range []string{"/", "/data", "/data/local/tmp", "/sdcard", "/sdcard/"} {
		if m, _, _ := p.stat(dir); m&sIFMT != sIFDIR {
			t.Fatalf("STAT %s: mode %o, want a directory", dir, m)
		}
	}

	// A file of several chunks, the last one short.
	data := randomBytes(3*syncDataMax + 123)
	p.push("/data/local/tmp/a/b/file.bin,33152", data, 1_700_000_000) // 0100600
	p.expectOkay()
	got, mode, ok := d.File("/data/local/tmp/a/b/file.bin")
	if !ok || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes (ok %v), want %d", len(got), ok, len(data))
	}
	if mode != 0o666 {
		t.Fatalf("mode %v, want 0666 (adbd copies the owner's bits to group and others)", mode)
	}
	if m, s, tm := p.stat("/data/local/tmp/a/b/file.bin"); m != sIFREG|0o666 || s != uint32(len(data)) || tm != 1_700_000_000 {
		t.Fatalf("STAT: mode %o size %d mtime %d", m, s, tm)
	}
	if m, _, tm := p.stat("/data/local/tmp/a"); m != dirMode || int64(tm) < time.Now().Unix()-3600 {
		t.Fatalf("STAT of the implicit directory: mode %o mtime %d", m, tm)
	}
	if m, _, _ := p.stat("/data/local/tmp/a/b/file.bin/"); m != 0 {
		t.Fatalf("STAT of a file with a trailing slash: mode %o, want ENOTDIR's zeros", m)
	}
	if back := p.recv("/data/local/tmp/a/b/file.bin"); !bytes.Equal(back, data) {
		t.Fatalf("RECV returned %d bytes, want the %d pushed", len(back), len(data))
	}

	// An empty file, a mode in octal, and a second file in the directory.
	p.push("/data/local/tmp/a/empty,0644", nil, 5)
	p.expectOkay()
	if got, mode, ok := d.File("/data/local/tmp/a/empty"); !ok || len(got) != 0 || mode != 0o666 {
		t.Fatalf("empty file: %d bytes, mode %v, ok %v", len(got), mode, ok)
	}
	d.PutFile("/system/bin/tool", []byte("#!/bin/sh\n"), 0o755)

	if l := p.list("/data/local/tmp/a"); len(l) != 4 || l["."] != dirMode || l[".."] != dirMode ||
		l["b"] != dirMode || l["empty"] != sIFREG|0o666 {
		t.Fatalf("LIST /data/local/tmp/a: %v", l)
	}
	if l := p.list("/"); len(l) != 5 || l["data"] != dirMode || l["sdcard"] != dirMode || l["system"] != dirMode {
		t.Fatalf("LIST /: %v", l)
	}
	// adbd answers a LIST it cannot open with an empty one.
	if l := p.list("/data/local/tmp/a/empty"); len(l) != 0 {
		t.Fatalf("LIST of a file: %v", l)
	}
	if l := p.list("/nowhere"); len(l) != 0 {
		t.Fatalf("LIST of a missing directory: %v", l)
	}
	// A file placed anywhere can be read back, not written over.
	if back := p.recv("/system/bin/tool"); string(back) != "#!/bin/sh\n" {
		t.Fatalf("RECV /system/bin/tool: %q", back)
	}
	p.req("QUIT", "")
	p.expectEnd()
}

func TestSyncRefusals(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{Static: true})
	d.PutFile("/sdcard/f", []byte("x"), 0o644)
	chunk := make([]byte, 1000)
	cases := []struct {
		name string
		run  func(p *syncPeer)
	}{
		{"outside the writable directories", func(p *syncPeer) {
			p.req("SEND", "/system/bin/evil,33261")
			p.expectFail("couldn't create file: Permission denied")
			// Like adbd, the device reads on to DONE, then ends the service.
			p.send("DATA", uint32(len(chunk)), chunk)
			p.send("DONE", 0, nil)
			p.expectEnd()
		}},
		{"escaping with ..", func(p *syncPeer) {
			p.push("/sdcard/../etc/hosts,33188", chunk, 0)
			p.expectFail("couldn't create file: Permission denied")
			p.expectEnd()
		}},
		{"the root itself", func(p *syncPeer) {
			p.push("/data/local/tmp,33188", chunk, 0)
			p.expectFail("couldn't create file: Is a directory")
			p.expectEnd()
		}},
		{"below a file", func(p *syncPeer) {
			p.push("/sdcard/f/g,33188", chunk, 0)
			p.expectFail("couldn't create file: Not a directory")
			p.expectEnd()
		}},
		{"no mode", func(p *syncPeer) {
			p.req("SEND", "/sdcard/g")
			p.expectFail("missing , in ID_SEND_V1")
			p.expectEnd()
		}},
		{"oversize chunk", func(p *syncPeer) {
			p.req("SEND", "/sdcard/g,33188")
			p.send("DATA", syncDataMax+1, nil)
			p.expectFail("oversize data message")
			p.expectEnd()
		}},
		{"not DATA", func(p *syncPeer) {
			p.req("SEND", "/sdcard/g,33188")
			p.send("STAT", 0, nil)
			p.expectFail("invalid data message")
			p.expectEnd()
		}},
		{"path too long", func(p *syncPeer) {
			p.send("STAT", syncPathMax+1, nil)
			p.expectFail("path too long")
			p.expectEnd()
		}},
		{"unknown request", func(p *syncPeer) {
			p.req("STA2", "/sdcard/f")
			p.expectFail("unknown command 32415453")
			p.expectEnd()
		}},
		{"RECV of a missing file", func(p *syncPeer) {
			p.req("RECV", "/sdcard/none")
			p.expectFail("open failed: No such file or directory")
			p.expectEnd()
		}},
		{"RECV of a directory", func(p *syncPeer) {
			p.req("RECV", "/sdcard")
			p.expectFail("read failed: Is a directory")
			p.expectEnd()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(startSync(t, d)) })
	}
	if _, _, ok := d.File("/sdcard/g"); ok {
		t.Fatal("a refused push stored a file")
	}
}

func TestSyncFileSizeLimit(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{Static: true})
	limit := 2*syncDataMax + 10
	d.fileStore().maxFile = limit // before any request
	p := startSync(t, d)
	p.push("/sdcard/fits,33188", make([]byte, limit), 0)
	p.expectOkay()
	big := make([]byte, syncDataMax)
	p.req("SEND", "/sdcard/big,33188")
	for range 2 {
		p.send("DATA", syncDataMax, big)
	}
	p.send("DATA", 11, big[:11])
	p.expectFail("write failed: No space left on device")
	p.send("DATA", syncDataMax, big)
	p.send("DONE", 0, nil)
	p.expectEnd()
	if _, _, ok := d.File("/sdcard/big"); ok {
		t.Fatal("a file over the limit was stored")
	}
}

// TestSyncStoreConcurrent runs pushes and reads of one device's files at
// once, for the race detector.
func TestSyncStoreConcurrent(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{Static: true})
	t.Run("group", func(t *testing.T) {
		for i := range 4 {
			name := "/sdcard/d" + strconv.Itoa(i) + "/f"
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				p := startSync(t, d)
				for j := range 20 {
					p.push(name+",420", []byte{byte(j)}, uint32(j))
					p.expectOkay()
					_ = p.list("/sdcard")
					d.PutFile("/data/local/tmp/put", []byte{byte(i)}, 0o600)
					if b, _, ok := d.File(name); !ok || len(b) != 1 || b[0] != byte(j) {
						t.Fatalf("%s holds %v (ok %v) after push %d", name, b, ok, j)
					}
				}
			})
		}
	})
	if l := startSync(t, d).list("/sdcard"); len(l) != 6 {
		t.Fatalf("LIST /sdcard: %v", l)
	}
}

// TestSyncWithADB pushes and pulls with the real adb program.
func TestSyncWithADB(t *testing.T) {
	t.Parallel()
	testutil.Deadline(t, testDeadline)
	adb := startADB(t)
	d := newDevice(t, Options{Static: true})
	serial := adb.Connect(t, d.Addr())
	dir := t.TempDir()
	local := filepath.Join(dir, "payload.bin")
	data := randomBytes(1<<20 + 12345)
	if err := os.WriteFile(local, data, 0o640); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1_600_000_000, 0)
	if err := os.Chtimes(local, mtime, mtime); err != nil {
		t.Fatal(err)
	}

	adb.Run(t, "-s", serial, "push", local, "/data/local/tmp/payload.bin")
	got, mode, ok := d.File("/data/local/tmp/payload.bin")
	if !ok || !bytes.Equal(got, data) {
		t.Fatalf("device has %d bytes (ok %v), want the %d pushed", len(got), ok, len(data))
	}
	if mode != 0o666 {
		t.Fatalf("mode %v, want 0666 (0640 with the owner's bits copied)", mode)
	}
	fs := d.fileStore()
	fs.mu.Lock()
	gotTime := fs.files["/data/local/tmp/payload.bin"].mtime
	fs.mu.Unlock()
	if !gotTime.Equal(mtime) {
		t.Fatalf("mtime %v, want %v", gotTime, mtime)
	}

	// A directory as the destination: adb stats it and appends the name.
	adb.Run(t, "-s", serial, "push", local, "/sdcard/")
	if got, _, ok := d.File("/sdcard/payload.bin"); !ok || !bytes.Equal(got, data) {
		t.Fatalf("push into /sdcard/: %d bytes, ok %v", len(got), ok)
	}

	back := filepath.Join(dir, "back.bin")
	adb.Run(t, "-s", serial, "pull", "/data/local/tmp/payload.bin", back)
	if b, err := os.ReadFile(back); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("pulled %d bytes (%v), want the %d pushed", len(b), err, len(data))
	}

	// adb 1.0.41 prints its errors on standard output.
	out, err := adb.TryRun("-s", serial, "push", local, "/system/payload.bin")
	if err == nil || !strings.Contains(string(out), "remote couldn't create file: Permission denied") {
		t.Fatalf("push to /system: %v, output %q; want the device's Permission denied", err, out)
	}
	out, err = adb.TryRun("-s", serial, "pull", "/sdcard/missing", filepath.Join(dir, "missing"))
	if err == nil || !strings.Contains(string(out), "'/sdcard/missing' does not exist") {
		t.Fatalf("pull of a missing file: %v, output %q", err, out)
	}
	// The device still serves after the failures.
	if out := adb.Shell(t, serial, "echo", "ok"); out != "ok\n" {
		t.Fatalf("shell after sync: %q", out)
	}
}
