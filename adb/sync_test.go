package adb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/internal/testutil"
)

// countingReader serves n pseudo-random bytes (or endless ones, n < 0)
// through Read only, recording how much was read and the largest read
// asked for.
type countingReader struct {
	r       *rand.ChaCha8
	left    int64
	read    atomic.Int64
	maxAsk  atomic.Int64
	onBytes int64  // when read reaches it, call hook once
	hook    func() // nil: none
}

func newCountingReader(n int64) *countingReader {
	return &countingReader{r: rand.NewChaCha8([32]byte{1, 2, 3}), left: n}
}

func (c *countingReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.maxAsk.Load() {
		c.maxAsk.Store(int64(len(p)))
	}
	if c.left == 0 {
		return 0, io.EOF
	}
	if c.left > 0 && int64(len(p)) > c.left {
		p = p[:c.left]
	}
	// Short reads, as a pipe or socket gives.
	p = p[:min(len(p), 10000)]
	n, _ := c.r.Read(p)
	if c.left > 0 {
		c.left -= int64(n)
	}
	total := c.read.Add(int64(n))
	if c.hook != nil && total >= c.onBytes {
		c.hook()
		c.hook = nil
	}
	return n, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestSync pushes, stats, lists and pulls through a real adb server and
// devicesim.
func TestSync(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	adbs := adbtest.Start(t)
	c, sim, serial := startDevice(t, adbs, devicesim.Options{Width: 64, Height: 64, Static: true})
	ctx := context.Background()
	const remote = "/data/local/tmp/dir/payload.bin"
	size := int64(1<<20 + 54321)
	want, _ := io.ReadAll(newCountingReader(size))
	mtime := time.Unix(1_650_000_000, 0)

	t.Run("push", func(t *testing.T) {
		src := newCountingReader(size)
		if err := c.Push(ctx, serial, src, remote, 0o640, mtime); err != nil {
			t.Fatal(err)
		}
		if src.read.Load() != size || src.maxAsk.Load() > syncDataMax {
			t.Fatalf("read %d bytes in reads of up to %d; want %d in reads of at most %d",
				src.read.Load(), src.maxAsk.Load(), size, syncDataMax)
		}
		got, mode, ok := sim.File(remote)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("device holds %d bytes (ok %v), want the %d pushed", len(got), ok, size)
		}
		// adbd copies the owner's bits to group and others: 0640 → 0666.
		if mode != 0o666 {
			t.Fatalf("mode %v, want 0666", mode)
		}
	})

	t.Run("stat", func(t *testing.T) {
		fi, err := c.Stat(ctx, serial, remote)
		if err != nil {
			t.Fatal(err)
		}
		if fi != (FileInfo{Name: "payload.bin", Mode: 0o666, Size: size, ModTime: mtime}) {
			t.Fatalf("Stat = %+v", fi)
		}
		fi, err = c.Stat(ctx, serial, "/data/local/tmp/dir")
		if err != nil || !fi.IsDir() || fi.Name != "dir" || fi.Mode.Perm() != 0o771 {
			t.Fatalf("Stat of a directory = %+v, %v", fi, err)
		}
		_, err = c.Stat(ctx, serial, "/data/local/tmp/missing")
		if !errors.Is(err, os.ErrNotExist) || !errors.Is(err, ErrADB) {
			t.Fatalf("Stat of a missing path: %v; want os.ErrNotExist", err)
		}
	})

	t.Run("list", func(t *testing.T) {
		sim.PutFile("/data/local/tmp/dir/tool", []byte("#!/bin/sh\n"), 0o755)
		l, err := c.List(ctx, serial, "/data/local/tmp/dir")
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 2 || l[0].Name != "payload.bin" || l[0].Size != size || !l[0].ModTime.Equal(mtime) ||
			l[1].Name != "tool" || l[1].Mode != 0o755 || l[1].Size != 10 {
			t.Fatalf("List = %+v", l)
		}
		l, err = c.List(ctx, serial, "/data/local/tmp")
		if err != nil || len(l) != 1 || l[0].Name != "dir" || !l[0].IsDir() {
			t.Fatalf("List /data/local/tmp = %+v, %v", l, err)
		}
		if _, err := c.List(ctx, serial, "/data/local/tmp/none"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("List of a missing directory: %v", err)
		}
		if _, err := c.List(ctx, serial, remote); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("List of a file: %v", err)
		}
	})

	t.Run("pull", func(t *testing.T) {
		var buf bytes.Buffer
		n, err := c.Pull(ctx, serial, remote, &buf)
		if err != nil || n != size || !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("Pull = %d bytes, %v; want the %d pushed", n, err, size)
		}
		n, err = c.Pull(ctx, serial, "/sdcard/missing", &buf)
		if n != 0 || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "open failed: No such file or directory") {
			t.Fatalf("Pull of a missing file = %d, %v", n, err)
		}
		if _, err := c.Pull(ctx, serial, "/sdcard", &buf); err == nil || !strings.Contains(err.Error(), "Is a directory") {
			t.Fatalf("Pull of a directory: %v", err)
		}
		// Cancelled after the first chunk arrived.
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		n, err = c.Pull(cctx, serial, remote, writerFunc(func(p []byte) (int, error) { cancel(); return len(p), nil }))
		if !errors.Is(err, context.Canceled) || n == 0 || n >= size {
			t.Fatalf("cancelled Pull = %d bytes, %v", n, err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		err := c.Push(ctx, serial, strings.NewReader("x"), "/system/bin/x", 0o755, time.Time{})
		if !errors.Is(err, ErrADB) || !strings.Contains(err.Error(), "couldn't create file: Permission denied") {
			t.Fatalf("Push to /system: %v; want the device's message", err)
		}
		// A long push stops at the device's FAIL: it is not sent whole.
		src := newCountingReader(1 << 30)
		start := time.Now()
		err = c.Push(ctx, serial, src, "/system/big", 0o644, time.Time{})
		if err == nil || !strings.Contains(err.Error(), "Permission denied") || src.read.Load() > 64<<20 {
			t.Fatalf("refused push of 1 GiB: %v after reading %d bytes", err, src.read.Load())
		}
		t.Logf("refused after %d bytes, %v", src.read.Load(), time.Since(start))
	})

	t.Run("cancel", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		src := newCountingReader(-1)
		var cancelled time.Time
		src.onBytes, src.hook = 2<<20, func() { cancelled = time.Now(); cancel() }
		err := c.Push(cctx, serial, src, "/sdcard/endless", 0o644, time.Time{})
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrADB) {
			t.Fatalf("cancelled Push: %v", err)
		}
		if d := time.Since(cancelled); d > 5*time.Second {
			t.Fatalf("Push returned %v after the cancel", d)
		}
		if _, _, ok := sim.File("/sdcard/endless"); ok {
			t.Fatal("a cancelled push left a file")
		}
		// Cancelled before it starts: nothing is dialled.
		if err := c.Push(cctx, serial, strings.NewReader("x"), "/sdcard/x", 0, time.Time{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Push with a cancelled context: %v", err)
		}
		// The server and the device serve on.
		if err := c.Push(ctx, serial, strings.NewReader("after"), "/sdcard/after", 0, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if got, mode, _ := sim.File("/sdcard/after"); string(got) != "after" || mode != 0o666 {
			t.Fatalf("push after the cancel stored %q, %v", got, mode)
		}
	})

	t.Run("local abstract", func(t *testing.T) {
		s, err := c.LocalAbstract(ctx, serial, "devicesim-no-such-socket")
		if err == nil {
			s.Close()
			t.Fatal("LocalAbstract to a socket nobody listens on succeeded")
		}
		if !errors.Is(err, ErrADB) {
			t.Fatalf("LocalAbstract to an unknown socket: %v; want ErrADB", err)
		}
	})
}

// TestSyncArgumentsRefused checks that bad arguments are refused before
// anything is dialled.
func TestSyncArgumentsRefused(t *testing.T) {
	addr, conns := adbtest.Sentinel(t)
	c, err := NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const serial = "127.0.0.1:5555"
	long := "/sdcard/" + strings.Repeat("a", syncPathMax)
	for _, p := range []string{"", "sdcard/x", "/sdcard/a\x00b", "/sdcard/a\nb", "/sdcard/a\rb", long} {
		if err := c.Push(ctx, serial, strings.NewReader(""), p, 0o644, time.Time{}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Push to %q: %v", p, err)
		}
		if _, err := c.Stat(ctx, serial, p); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Stat %q: %v", p, err)
		}
		if _, err := c.List(ctx, serial, p); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("List %q: %v", p, err)
		}
		if _, err := c.Pull(ctx, serial, p, io.Discard); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Pull %q: %v", p, err)
		}
	}
	// The path fits, the path with its ",MODE" does not.
	fits := "/" + strings.Repeat("a", syncPathMax-1)
	if err := c.Push(ctx, serial, strings.NewReader(""), fits, 0o644, time.Time{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Push to a path of %d bytes: %v", len(fits), err)
	}
	for _, bad := range []struct {
		mode  os.FileMode
		mtime time.Time
	}{
		{os.ModeDir | 0o755, time.Time{}},
		{os.ModeSymlink | 0o777, time.Time{}},
		{0o644, time.Unix(-1, 0)},
		{0o644, time.Unix(1<<32, 0)},
	} {
		if err := c.Push(ctx, serial, strings.NewReader(""), "/sdcard/x", bad.mode, bad.mtime); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Push with mode %v, mtime %v: %v", bad.mode, bad.mtime, err)
		}
	}
	if err := c.Push(ctx, serial, nil, "/sdcard/x", 0, time.Time{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Push of a nil reader: %v", err)
	}
	if _, err := c.Pull(ctx, serial, "/sdcard/x", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Pull to a nil writer: %v", err)
	}
	for _, name := range []string{"", "a b", "a/b", "a:b", "a\x00", "é", "@agent", strings.Repeat("a", 101)} {
		if s, err := c.LocalAbstract(ctx, serial, name); !errors.Is(err, ErrInvalidArgument) {
			if s != nil {
				s.Close()
			}
			t.Errorf("LocalAbstract(%q): %v", name, err)
		}
	}
	if err := checkAbstractName("media-agent_1.0"); err != nil {
		t.Error(err)
	}
	if err := checkAbstractName(strings.Repeat("a", 100)); err != nil {
		t.Error(err)
	}
	if _, err := c.Stat(ctx, "bad serial", "/sdcard"); !errors.Is(err, ErrInvalidSerial) {
		t.Errorf("Stat with a bad serial: %v", err)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the server", n)
	}
}

func TestFileMode(t *testing.T) {
	for _, c := range []struct {
		unix uint32
		want os.FileMode
	}{
		{0o100644, 0o644},
		{0o040771, os.ModeDir | 0o771},
		{0o041777, os.ModeDir | os.ModeSticky | 0o777},
		{0o120777, os.ModeSymlink | 0o777},
		{0o104755, os.ModeSetuid | 0o755},
		{0o102755, os.ModeSetgid | 0o755},
		{0o020620, os.ModeDevice | os.ModeCharDevice | 0o620},
		{0o060660, os.ModeDevice | 0o660},
		{0o010600, os.ModeNamedPipe | 0o600},
		{0o140777, os.ModeSocket | 0o777},
		{0o170644, os.ModeIrregular | 0o644},
	} {
		if got := fileMode(c.unix); got != c.want {
			t.Errorf("fileMode(%o) = %v, want %v", c.unix, got, c.want)
		}
	}
	if got := unixMode(os.ModeSetuid | os.ModeSticky | 0o750); got != 0o105750 {
		t.Errorf("unixMode = %o", got)
	}
}

// syncReplyBytes encodes a reply as a device sends it.
func syncReplyBytes(id string, words []uint32, tail []byte) []byte {
	b := []byte(id)
	for _, w := range words {
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	return append(b, tail...)
}

// encodeReply re-encodes a parsed reply.
func encodeReply(req syncRequest, rep syncReply) []byte {
	switch {
	case rep.id == "FAIL":
		return syncReplyBytes("FAIL", []uint32{rep.n}, []byte(rep.msg))
	case rep.id == "STAT":
		return syncReplyBytes("STAT", []uint32{rep.mode, rep.size, rep.mtime}, nil)
	case rep.id == "DENT":
		return syncReplyBytes("DENT", []uint32{rep.mode, rep.size, rep.mtime, uint32(len(rep.name))}, []byte(rep.name))
	case rep.id == "DONE" && req == reqList:
		return syncReplyBytes("DONE", []uint32{rep.mode, rep.size, rep.mtime, 0}, nil)
	case rep.id == "DATA":
		return syncReplyBytes("DATA", []uint32{rep.n}, rep.data)
	default: // OKAY, a RECV's DONE
		return syncReplyBytes(rep.id, []uint32{rep.n}, nil)
	}
}

// FuzzSyncReply feeds arbitrary bytes to the sync reply parser as the
// reply to each kind of request. It must never panic nor accept what a
// device cannot send (a DATA chunk over 64 KiB, a name with a slash),
// every error must wrap ErrADB, and whatever it accepts must re-encode
// to the bytes it consumed.
func FuzzSyncReply(f *testing.F) {
	for _, seed := range []struct {
		req byte
		in  []byte
	}{
		{byte(reqStat), syncReplyBytes("STAT", []uint32{0o100644, 5, 1_700_000_000}, nil)},
		{byte(reqStat), syncReplyBytes("STAT", []uint32{0, 0, 0}, nil)},
		{byte(reqList), append(syncReplyBytes("DENT", []uint32{0o040771, 4096, 1, 1}, []byte(".")),
			syncReplyBytes("DONE", []uint32{0, 0, 0, 0}, nil)...)},
		{byte(reqList), syncReplyBytes("DENT", []uint32{0o100644, 3, 1, 3}, []byte("a/b"))},
		{byte(reqRecv), append(syncReplyBytes("DATA", []uint32{5}, []byte("hello")), syncReplyBytes("DONE", []uint32{0}, nil)...)},
		{byte(reqRecv), syncReplyBytes("DATA", []uint32{syncDataMax + 1}, nil)},
		{byte(reqRecv), syncReplyBytes("FAIL", []uint32{38}, []byte("open failed: No such file or directory"))},
		{byte(reqSend), syncReplyBytes("OKAY", []uint32{0}, nil)},
		{byte(reqSend), syncReplyBytes("FAIL", []uint32{39}, []byte("couldn't create file: Permission denied"))},
		{byte(reqSend), syncReplyBytes("OKAY", []uint32{3}, []byte("abc"))},
	} {
		f.Add(seed.req, seed.in)
	}
	f.Fuzz(func(t *testing.T, kind byte, in []byte) {
		req := syncRequest(kind % 4)
		r := bytes.NewReader(in)
		sr := syncReader{r: r}
		var out []byte
		consumed := 0
		for range 1000 {
			rep, err := sr.next(req)
			if err != nil {
				if !errors.Is(err, ErrADB) {
					t.Fatalf("error %v does not wrap ErrADB", err)
				}
				break
			}
			switch {
			case rep.id == "DATA" && (req != reqRecv || len(rep.data) > syncDataMax || int(rep.n) != len(rep.data)):
				t.Fatalf("accepted DATA of %d bytes (header %d) for request %d", len(rep.data), rep.n, req)
			case rep.id == "DENT" && (rep.name == "" || strings.ContainsAny(rep.name, "/\x00") || len(rep.name) > syncNameMax):
				t.Fatalf("accepted name %q", rep.name)
			case rep.id == "FAIL" && len(rep.msg) > syncFailMax:
				t.Fatalf("accepted a FAIL message of %d bytes", len(rep.msg))
			}
			out = append(out, encodeReply(req, rep)...)
			consumed = len(in) - r.Len()
		}
		if !bytes.Equal(out, in[:consumed]) {
			t.Fatalf("re-encoding %q differs from the input %q", out, in[:consumed])
		}
	})
}
