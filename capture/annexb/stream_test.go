package annexb

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// patience bounds every wait in these tests. It is no timing threshold: a
// test only fails on it if something never happens.
const patience = 10 * time.Second

// closeTracker records Close on the reader it wraps.
type closeTracker struct {
	io.ReadCloser
	closed atomic.Bool
}

func (c *closeTracker) Close() error {
	c.closed.Store(true)
	return c.ReadCloser.Close()
}

// startStream runs Stream on the read end of a pipe and returns the write
// end, the access units as they are emitted, and Stream's result.
func startStream(t *testing.T, idle time.Duration, emitErr func(n int) error) (*io.PipeWriter, *closeTracker, <-chan gotAU, <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	rc := &closeTracker{ReadCloser: pr}
	aus := make(chan gotAU, 100)
	done := make(chan error, 1)
	n := 0
	go func() {
		done <- Stream(rc, idle, Options{}, func(a AccessUnit) error {
			n++
			if emitErr != nil {
				if err := emitErr(n); err != nil {
					return err
				}
			}
			aus <- gotAU{data: bytes.Clone(a.Data), key: a.KeyFrame, both: a.HasParams, arrival: a.Arrival}
			return nil
		})
	}()
	t.Cleanup(func() { pw.Close() })
	return pw, rc, aus, done
}

func receive(t *testing.T, aus <-chan gotAU, what string) gotAU {
	t.Helper()
	select {
	case a := <-aus:
		return a
	case <-time.After(patience):
		t.Fatalf("no access unit: %s", what)
		return gotAU{}
	}
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(patience):
		t.Fatal("Stream did not return")
		return nil
	}
}

func write(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestStreamDeliversOnIdle(t *testing.T) {
	pw, rc, aus, done := startStream(t, time.Millisecond, nil)
	first := cat(unit(tSPS), unit(tPPS), unit(tIDR(0, 1)))
	// The access unit arrives in two chunks, then the stream goes quiet:
	// nothing marks its end, yet it must be delivered.
	before := time.Now()
	write(t, pw, first[:10])
	write(t, pw, first[10:])
	a := receive(t, aus, "the first access unit before the second was written")
	if !bytes.Equal(a.data, first) || !a.key || !a.both {
		t.Fatalf("got % x key %v params %v, want % x", a.data, a.key, a.both, first)
	}
	if a.arrival.Before(before) || a.arrival.After(time.Now()) {
		t.Fatalf("Arrival %v outside the write", a.arrival)
	}
	second := unit(tP(0, 2))
	write(t, pw, second)
	if a := receive(t, aus, "the second access unit"); !bytes.Equal(a.data, second) {
		t.Fatalf("got % x, want % x", a.data, second)
	}
	pw.Close()
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	if !rc.closed.Load() {
		t.Fatal("Stream did not close its reader")
	}
	if len(aus) != 0 {
		t.Fatalf("%d access units more", len(aus))
	}
}

func TestStreamFlushesAtEOF(t *testing.T) {
	for _, idle := range []time.Duration{0, time.Hour} {
		stream := readStream(t, "main_slices4_aud_320x240.h264")
		want, _ := frameChunked(stream, nil, true, Options{})
		pw, rc, aus, done := startStream(t, idle, nil)
		go func() {
			for c := range slices.Chunk(stream, 1000) {
				if _, err := pw.Write(c); err != nil {
					return
				}
			}
			pw.Close()
		}()
		if err := result(t, done); err != nil {
			t.Fatal(err)
		}
		var got []gotAU // every emit happened before Stream returned
		for len(aus) > 0 {
			got = append(got, <-aus)
		}
		if d := sameAUs(got, asWant(want)); d != "" {
			t.Fatalf("idle %v: %s", idle, d)
		}
		if !rc.closed.Load() {
			t.Fatal("Stream did not close its reader")
		}
	}
}

func TestStreamEmitErrorClosesReader(t *testing.T) {
	errStop := errors.New("viewer gone")
	pw, rc, _, done := startStream(t, 0, func(int) error { return errStop })
	// The second access unit's first bytes complete the first: emit fails.
	write(t, pw, cat(unit(tIDR(0, 1)), unit(tP(0, 2))))
	if err := result(t, done); !errors.Is(err, errStop) {
		t.Fatalf("Stream = %v, want %v", err, errStop)
	}
	if !rc.closed.Load() {
		t.Fatal("Stream did not close its reader")
	}
	// The writer learns that nobody reads any more.
	if _, err := pw.Write([]byte{0, 0, 1}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write after Stream returned: %v, want io.ErrClosedPipe", err)
	}
}

func TestStreamEmitErrorOnIdleFlush(t *testing.T) {
	errStop := errors.New("viewer gone")
	pw, rc, _, done := startStream(t, time.Millisecond, func(int) error { return errStop })
	write(t, pw, unit(tIDR(0, 1)))
	if err := result(t, done); !errors.Is(err, errStop) {
		t.Fatalf("Stream = %v, want %v", err, errStop)
	}
	if !rc.closed.Load() {
		t.Fatal("Stream did not close its reader")
	}
}

func TestStreamReadError(t *testing.T) {
	errBroken := errors.New("adb connection reset")
	pw, rc, aus, done := startStream(t, 0, nil)
	write(t, pw, cat(unit(tIDR(0, 1)), unit(tP(0, 2))))
	if a := receive(t, aus, "the first access unit"); !a.key {
		t.Fatal("first access unit is not a key frame")
	}
	pw.CloseWithError(errBroken)
	if err := result(t, done); !errors.Is(err, errBroken) {
		t.Fatalf("Stream = %v, want %v", err, errBroken)
	}
	if !rc.closed.Load() {
		t.Fatal("Stream did not close its reader")
	}
	// A broken stream is not flushed: its last access unit may be cut off.
	if len(aus) != 0 {
		t.Fatalf("%d access units after the read error", len(aus))
	}
}

func TestStreamFramingError(t *testing.T) {
	pw, rc, _, done := startStream(t, 0, nil)
	write(t, pw, cat(unit(tIDR(0, 1)), unit([]byte{0x85, 0x42})))
	if err := result(t, done); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Stream = %v, want ErrMalformed", err)
	}
	if !rc.closed.Load() {
		t.Fatal("Stream did not close its reader")
	}
}

// stutterReader returns its data a few bytes at a time with empty reads in
// between, then io.EOF with the last bytes.
type stutterReader struct {
	data   []byte
	reads  int
	closed atomic.Bool
}

func (r *stutterReader) Read(p []byte) (int, error) {
	r.reads++
	if r.reads%3 == 0 {
		return 0, nil
	}
	n := copy(p, r.data[:min(len(r.data), 7)])
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func (r *stutterReader) Close() error { r.closed.Store(true); return nil }

func TestStreamShortAndEmptyReads(t *testing.T) {
	stream := readStream(t, "high_interlaced_320x180.h264")
	want, _ := frameChunked(stream, nil, true, Options{})
	r := &stutterReader{data: stream}
	var got []gotAU
	if err := Stream(r, 0, Options{}, collector(&got)); err != nil {
		t.Fatal(err)
	}
	if d := sameAUs(got, asWant(want)); d != "" {
		t.Fatal(d)
	}
	if !r.closed.Load() {
		t.Fatal("Stream did not close its reader")
	}
}

// blockingReader blocks in Read until closed, like a socket.
type blockingReader struct{ closed chan struct{} }

func (r *blockingReader) Read([]byte) (int, error) {
	<-r.closed
	return 0, io.ErrClosedPipe
}

func (r *blockingReader) Close() error { close(r.closed); return nil }

func TestStreamUnblocksReaderOnEmitError(t *testing.T) {
	// The reader goroutine is blocked in Read when emit fails; Stream must
	// close the reader to release it, and wait for it (goleak checks).
	r := &blockingReader{closed: make(chan struct{})}
	errStop := errors.New("stop")
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(cat(unit(tIDR(0, 1)), unit(tP(0, 2))))
		_ = pw.Close()
	}()
	rc := struct {
		io.Reader
		io.Closer
	}{io.MultiReader(pr, r), r}
	if err := Stream(rc, 0, Options{}, func(AccessUnit) error { return errStop }); !errors.Is(err, errStop) {
		t.Fatalf("Stream = %v, want %v", err, errStop)
	}
}
