package devicesim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// errStreamClosed is returned by writes to a stream that the host closed,
// or whose connection ended.
var errStreamClosed = errors.New("adb: stream closed")

// stream is one ADB stream seen from the device: an io.ReadWriter for the
// service that runs on it. Writes are split into payloads of at most the
// negotiated maxdata, and each waits for the host's OKAY before the next is
// sent. Reads take one WRTE payload at a time and acknowledge it with OKAY
// when it is taken, so at most one payload waits per stream: the host's own
// flow control bounds the memory a slow service uses.
type stream struct {
	c       *conn
	local   uint32 // the device's id
	remote  uint32 // the host's id
	service string
	log     *slog.Logger

	ctx    context.Context // cancelled when the stream closes
	cancel context.CancelFunc

	in   chan []byte   // the payload of a WRTE the service has not taken
	okay chan struct{} // the host acknowledged our WRTE

	pending []byte // the rest of the payload being read (reader only)

	closeOnce sync.Once
}

func newStream(c *conn, local, remote uint32, service string) *stream {
	s := &stream{
		c:       c,
		local:   local,
		remote:  remote,
		service: service,
		log:     c.log.With("stream", local, "service", service),
		in:      make(chan []byte, 1),
		okay:    make(chan struct{}, 1),
	}
	s.ctx, s.cancel = context.WithCancel(c.ctx)
	return s
}

// deliver queues a WRTE payload from the host. The host sends the next one
// only after our OKAY, so the queue of one never overflows; a host that
// does not wait breaks the protocol and loses the connection.
func (s *stream) deliver(data []byte) error {
	select {
	case s.in <- data:
		return nil
	case <-s.ctx.Done():
		return nil
	default:
		return fmt.Errorf("stream %d: WRTE before the OKAY for the previous one", s.local)
	}
}

// acked records the host's OKAY for our last WRTE.
func (s *stream) acked() {
	select {
	case s.okay <- struct{}{}:
	default: // an OKAY we did not wait for: ignore it
	}
}

// Read returns data the host wrote, io.EOF once the stream is closed.
func (s *stream) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		select {
		case <-s.ctx.Done():
			return 0, io.EOF
		case d := <-s.in:
			if err := s.c.send(cmdOKAY, s.local, s.remote, nil); err != nil {
				return 0, io.EOF
			}
			s.pending = d
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

// Write sends p in WRTE messages of at most maxdata bytes, each after the
// host acknowledged the previous one.
func (s *stream) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if s.ctx.Err() != nil {
			return written, errStreamClosed
		}
		chunk := p[:min(len(p), s.c.maxData())]
		if err := s.c.send(cmdWRTE, s.local, s.remote, chunk); err != nil {
			return written, errStreamClosed
		}
		select {
		case <-s.okay:
		case <-s.ctx.Done():
			return written, errStreamClosed
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

// MaxWrite is the largest payload one WRTE carries on this stream.
func (s *stream) MaxWrite() int { return s.c.maxData() }

// close ends the stream from the device's side: CLSE to the host.
func (s *stream) close() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.c.forget(s)
		_ = s.c.send(cmdCLSE, s.local, s.remote, nil)
	})
}

// closedByPeer ends the stream on the host's CLSE.
func (s *stream) closedByPeer() {
	s.closeOnce.Do(func() {
		s.log.Debug("host closed the stream")
		s.cancel()
		s.c.forget(s)
	})
}

// abort ends the stream because its connection ended.
func (s *stream) abort() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.c.forget(s)
	})
}
