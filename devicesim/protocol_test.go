package devicesim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
)

// The tests in this file speak the host side of the protocol themselves,
// to reach the cases that the real adb server never produces: a small
// maxdata, the checksummed protocol version, a host that breaks flow
// control, a withheld OKAY.

type host struct {
	t       testing.TB
	c       net.Conn
	hdr     [headerSize]byte
	rhdr    [headerSize]byte
	pending []byte // output read while waiting for something else
}

func dialHost(t testing.TB, d *Device) *host {
	t.Helper()
	c, err := net.Dial("tcp", d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &host{t: t, c: c}
}

func (h *host) send(cmd, a0, a1 uint32, data []byte) {
	h.t.Helper()
	if err := writeMessage(h.c, &h.hdr, cmd, a0, a1, data, true); err != nil {
		h.t.Fatal(err)
	}
}

// recv reads the next message within the generous bound.
func (h *host) recv() message {
	h.t.Helper()
	m, err := h.tryRecv(generous)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

func (h *host) tryRecv(within time.Duration) (message, error) {
	_ = h.c.SetReadDeadline(time.Now().Add(within))
	return readMessage(h.c, &h.rhdr, 1<<20)
}

// expect reads a message and checks its command and arguments.
func (h *host) expect(cmd, a0, a1 uint32) message {
	h.t.Helper()
	m := h.recv()
	if m.Command != cmd || m.Arg0 != a0 || m.Arg1 != a1 {
		h.t.Fatalf("got %s(%d, %d) %q, want %s(%d, %d)", commandName(m.Command), m.Arg0, m.Arg1,
			m.Data[:min(len(m.Data), 60)], commandName(cmd), a0, a1)
	}
	return m
}

// connect does the CNXN exchange.
func (h *host) connect(version, maxData uint32) message {
	h.t.Helper()
	h.send(cmdCNXN, version, maxData, []byte("host::features=shell_v2,cmd\x00"))
	m := h.recv()
	if m.Command != cmdCNXN {
		h.t.Fatalf("got %s, want CNXN", commandName(m.Command))
	}
	return m
}

// open opens a stream with the host id local and returns the device's id.
func (h *host) open(local uint32, service string) uint32 {
	h.t.Helper()
	h.send(cmdOPEN, local, 0, []byte(service+"\x00"))
	m := h.recv()
	if m.Command != cmdOKAY || m.Arg1 != local || m.Arg0 == 0 {
		h.t.Fatalf("OPEN %s: got %s(%d, %d)", service, commandName(m.Command), m.Arg0, m.Arg1)
	}
	return m.Arg0
}

// readStream acknowledges every WRTE of one stream and returns their data
// once the device closes it. It checks each payload against maxData and,
// for the old protocol version, its checksum.
func (h *host) readStream(local, remote, maxData uint32, checked bool) []byte {
	h.t.Helper()
	var out []byte
	for {
		m := h.recv()
		switch {
		case m.Command == cmdWRTE && m.Arg0 == remote && m.Arg1 == local:
			if uint32(len(m.Data)) > maxData {
				h.t.Fatalf("WRTE of %d bytes over maxdata %d", len(m.Data), maxData)
			}
			if checked && m.DataCheck != checksum(m.Data) {
				h.t.Fatalf("data_check %d, want %d", m.DataCheck, checksum(m.Data))
			}
			out = append(out, m.Data...)
			h.send(cmdOKAY, local, remote, nil)
		case m.Command == cmdCLSE && m.Arg0 == remote && m.Arg1 == local:
			return out
		default:
			h.t.Fatalf("unexpected %s(%d, %d)", commandName(m.Command), m.Arg0, m.Arg1)
		}
	}
}

func (d *Device) streamCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for c := range d.conns {
		c.mu.Lock()
		n += len(c.streams)
		c.mu.Unlock()
	}
	return n
}

func TestProtocolHandshake(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{Serial: "hs", Model: "M"})
	h := dialHost(t, d)
	m := h.connect(versionSkipChecksum, 1<<20)
	if m.Arg0 != 0x01000001 || m.Arg1 != 256*1024 {
		t.Fatalf("CNXN(0x%08x, %d), want (0x01000001, 262144)", m.Arg0, m.Arg1)
	}
	banner := string(m.Data)
	if !strings.HasPrefix(banner, "device::") || !strings.Contains(banner, "ro.product.model=M;") ||
		!strings.Contains(banner, "features=") || strings.Contains(banner, "shell_v2") || strings.Contains(banner, "delayed_ack") {
		t.Fatalf("banner %q", banner)
	}
	if m.DataCheck != 0 {
		t.Fatalf("data_check %d with version 0x01000001, want 0", m.DataCheck)
	}
}

func TestProtocolSmallMaxDataAndChecksums(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{Width: 64, Height: 64, Static: true})
	h := dialHost(t, d)
	h.connect(versionMin, 4096)
	remote := h.open(1, "exec:screencap -p")
	img := decodePNG(t, h.readStream(1, remote, 4096, true))
	if img.Bounds().Dx() != 64 {
		t.Fatalf("PNG %v", img.Bounds())
	}
	// Raw RGBA: 16 KiB in 4 KiB payloads.
	remote = h.open(2, "exec:screencap")
	if got := len(h.readStream(2, remote, 4096, true)); got != 12+64*64*4 {
		t.Fatalf("raw screencap %d bytes", got)
	}
}

func TestProtocolRefusedService(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{})
	h := dialHost(t, d)
	h.connect(versionSkipChecksum, 1<<20)
	for i, svc := range []string{"reboot:", "shell,v2,raw:ls", "framebuffer:", "nonsense"} {
		h.send(cmdOPEN, uint32(10+i), 0, []byte(svc+"\x00"))
		h.expect(cmdCLSE, 0, uint32(10+i))
	}
	// Stray messages for streams that do not exist are ignored.
	h.send(cmdWRTE, 5, 999, []byte("x"))
	h.send(cmdOKAY, 5, 999, nil)
	h.send(cmdCLSE, 5, 999, nil)
	remote := h.open(1, "shell:echo still here")
	if got := string(h.readStream(1, remote, 1<<20, false)); got != "still here\n" {
		t.Fatalf("got %q", got)
	}
}

// TestProtocolFlowControl withholds the OKAY for a WRTE: the device must
// not send the next one until it comes.
func TestProtocolFlowControl(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{})
	h := dialHost(t, d)
	h.connect(versionSkipChecksum, 1<<20)
	remote := h.open(7, "shell:")
	h.send(cmdWRTE, 7, remote, []byte("echo one; echo two\n"))
	h.expect(cmdOKAY, remote, 7) // the shell took our line
	if m := h.expect(cmdWRTE, remote, 7); string(m.Data) != "one\n" {
		t.Fatalf("first output %q", m.Data)
	}
	if m, err := h.tryRecv(300 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %s(%d, %d) %q before acknowledging the first WRTE", commandName(m.Command), m.Arg0, m.Arg1, m.Data)
	}
	h.send(cmdOKAY, 7, remote, nil)
	if m := h.expect(cmdWRTE, remote, 7); string(m.Data) != "two\n" {
		t.Fatalf("second output %q", m.Data)
	}
	h.send(cmdOKAY, 7, remote, nil)
	h.send(cmdWRTE, 7, remote, []byte("exit\n"))
	h.expect(cmdOKAY, remote, 7)
	h.expect(cmdCLSE, remote, 7)
	testutil.Eventually(t, "stream gone", generous, func() bool { return d.streamCount() == 0 })
}

// TestProtocolHostClose closes a running screenrecord from the host side.
func TestProtocolHostClose(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{Width: 32, Height: 32})
	h := dialHost(t, d)
	h.connect(versionSkipChecksum, 1<<20)
	remote := h.open(3, "exec:screenrecord --output-format=raw-frames -")
	m := h.expect(cmdWRTE, remote, 3)
	if len(m.Data) != 32*32*3 {
		t.Fatalf("frame of %d bytes", len(m.Data))
	}
	h.send(cmdCLSE, 3, remote, nil)
	testutil.Eventually(t, "stream gone", generous, func() bool { return d.streamCount() == 0 })
	// The connection is still good.
	remote = h.open(4, "shell:echo ok")
	if got := string(h.readStream(4, remote, 1<<20, false)); got != "ok\n" {
		t.Fatalf("got %q", got)
	}
}

// TestProtocolWriteBeforeOkay: a host that sends a second WRTE before the
// device acknowledged the first breaks flow control and is dropped.
func TestProtocolWriteBeforeOkay(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{Static: true, Width: 16, Height: 16})
	h := dialHost(t, d)
	h.connect(versionSkipChecksum, 1<<20)
	// screenrecord never reads its input, so nothing acknowledges it.
	remote := h.open(1, "exec:screenrecord --output-format=raw-frames -")
	h.send(cmdWRTE, 1, remote, []byte("a"))
	h.send(cmdWRTE, 1, remote, []byte("b"))
	for {
		_, err := h.tryRecv(generous)
		if err == nil {
			continue // the frame
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("connection not dropped")
		}
		break
	}
	testutil.Eventually(t, "connection gone", generous, func() bool { return d.streamCount() == 0 })
}

func TestProtocolBeforeConnect(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{})
	h := dialHost(t, d)
	h.send(cmdOPEN, 1, 0, []byte("shell:echo x\x00")) // ignored: not connected yet
	h.connect(versionSkipChecksum, 1<<20)
	h.send(cmdCNXN, versionSkipChecksum, 1<<20, []byte("host::\x00")) // a second CNXN drops it
	if _, err := h.tryRecv(generous); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second CNXN: err = %v, want the connection closed", err)
	}
}

// TestProtocolAuth runs the AUTH exchange with a key of the test's own.
func TestProtocolAuth(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{Auth: true})
	sign := func(token []byte, k *rsa.PrivateKey) []byte {
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA1, token)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	pub, err := encodeAndroidPublicKey(&testKey.PublicKey, "test@devicesim")
	if err != nil {
		t.Fatal(err)
	}

	// First connection: the signature is by a key the device does not
	// know; the device sends a new token; the public key is accepted.
	h := dialHost(t, d)
	h.send(cmdCNXN, versionSkipChecksum, 1<<20, []byte("host::\x00"))
	tok := h.expect(cmdAUTH, authToken, 0)
	if len(tok.Data) != 20 {
		t.Fatalf("token of %d bytes", len(tok.Data))
	}
	h.send(cmdOPEN, 1, 0, []byte("shell:echo x\x00")) // ignored until authorised
	h.send(cmdAUTH, authSignature, 0, sign(tok.Data, testKey))
	tok2 := h.expect(cmdAUTH, authToken, 0)
	if bytes.Equal(tok.Data, tok2.Data) {
		t.Fatal("the device reused its token")
	}
	h.send(cmdAUTH, authRSAPublicKey, 0, []byte("garbage\x00"))
	if m, err := h.tryRecv(300 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after a bad key: %s, %v", commandName(m.Command), err)
	}
	h.send(cmdAUTH, authRSAPublicKey, 0, pub)
	if m := h.recv(); m.Command != cmdCNXN {
		t.Fatalf("after the public key: %s", commandName(m.Command))
	}

	// Second connection: the signature verifies.
	h2 := dialHost(t, d)
	h2.send(cmdCNXN, versionSkipChecksum, 1<<20, []byte("host::\x00"))
	tok = h2.expect(cmdAUTH, authToken, 0)
	h2.send(cmdAUTH, authSignature, 0, sign(tok.Data, testKey))
	if m := h2.recv(); m.Command != cmdCNXN {
		t.Fatalf("after a good signature: %s", commandName(m.Command))
	}
	remote := h2.open(1, "shell:echo in")
	if got := string(h2.readStream(1, remote, 1<<20, false)); got != "in\n" {
		t.Fatalf("got %q", got)
	}
}

func TestCloseIdempotentWithoutStart(t *testing.T) {
	d, err := New(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d.Start() // after Close: does nothing
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Width: 3, Height: 4}); err == nil {
		t.Fatal("odd width accepted")
	}
	if _, err := New(Options{FPS: 500}); err == nil {
		t.Fatal("fps 500 accepted")
	}
}

// TestProtocolInteractiveLines sends the interactive shell a line split
// across writes, a quoted newline, an overlong line and a CRLF line.
func TestProtocolInteractiveLines(t *testing.T) {
	testutil.Deadline(t, testDeadline)
	d := newDevice(t, Options{})
	h := dialHost(t, d)
	h.connect(versionSkipChecksum, 1<<20)
	remote := h.open(5, "shell:")
	for _, in := range []string{
		"ec", "ho one\n",
		"echo 'two\n", "lines'\r\n",
		"echo " + strings.Repeat("x", maxLine) + "\n",
		"echo after && exit\n",
	} {
		h.send(cmdWRTE, 5, remote, []byte(in))
		// The shell acknowledges each write; its output may come first.
		for {
			m := h.recv()
			if m.Command == cmdOKAY {
				break
			}
			if m.Command != cmdWRTE {
				t.Fatalf("got %s", commandName(m.Command))
			}
			h.pending = append(h.pending, m.Data...)
			h.send(cmdOKAY, 5, remote, nil)
		}
	}
	out := string(h.pending) + string(h.readStream(5, remote, 1<<20, false))
	want := "one\ntwo\nlines\n/system/bin/sh: line longer than 65536 bytes discarded\nafter\n"
	if out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}
