package annexb

import (
	"io"
	"time"
)

// Stream tuning: the reader goroutine reads into one of streamBuffers
// recycled buffers of streamChunk bytes and queues up to streamQueue chunks
// for the framing loop.
const (
	streamChunk   = 64 << 10
	streamQueue   = 8
	streamBuffers = streamQueue + 2 // queued, one being read, one being framed
)

// chunk is what the reader goroutine hands to the framing loop: data read at
// time at, or the read error that ended the stream.
type chunk struct {
	data []byte // a prefix of a recycled buffer
	at   time.Time
	err  error
}

// Stream reads rc until it fails or ends and frames what it reads, calling
// emit for each access unit in order, on the calling goroutine.
//
// A reader goroutine reads chunks into recycled buffers and queues them on a
// bounded channel, stamped with the time the read returned (the access
// units' Arrival). The framing loop writes each chunk to a [Framer] and, when
// no chunk has arrived for idle after the last one, flushes it: an access
// unit is delivered at most about idle after its last byte arrived, instead
// of one frame interval later when the next access unit's first bytes show
// up. idle should exceed the gaps within an access unit: screenrecord writes
// each encoder output buffer, a whole access unit, at once, so a millisecond
// or a few is plenty. idle <= 0 flushes only at the end of the stream.
//
// Stream returns nil when rc reports io.EOF (after flushing), emit's error if
// emit fails, the first framing error (wrapping [ErrMalformed] or
// [ErrTooLarge]), or the read error (without flushing: the last access unit
// may be cut off). It always closes rc before returning, which must unblock
// a pending Read, and returns only after its goroutine has exited.
func Stream(rc io.ReadCloser, idle time.Duration, o Options, emit func(AccessUnit) error) error {
	chunks := make(chan chunk, streamQueue)
	free := make(chan []byte, streamBuffers)
	for range streamBuffers {
		free <- make([]byte, streamChunk)
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		readChunks(rc, chunks, free, done)
	}()
	defer func() { // on every return, a panicking emit's included
		close(done)
		_ = rc.Close() // unblocks the reader; its error says nothing about the stream
		<-exited
	}()
	return frameChunks(NewFramer(o), idle, chunks, free, emit)
}

// readChunks reads rc into buffers from free and sends them on chunks until
// a read fails or done is closed. The read error, io.EOF included, is the
// last chunk it sends.
func readChunks(rc io.Reader, chunks chan<- chunk, free chan []byte, done <-chan struct{}) {
	for {
		var b []byte
		select {
		case b = <-free:
		case <-done:
			return
		}
		n, err := rc.Read(b)
		at := time.Now()
		if n > 0 {
			select {
			case chunks <- chunk{data: b[:n], at: at}:
			case <-done:
				return
			}
		} else {
			free <- b // never blocks: free holds every buffer
		}
		if err != nil {
			select {
			case chunks <- chunk{err: err}:
			case <-done:
			}
			return
		}
	}
}

// frameChunks is Stream's framing loop.
func frameChunks(f *Framer, idle time.Duration, chunks <-chan chunk, free chan<- []byte, emit func(AccessUnit) error) error {
	var timer *time.Timer
	var timeout <-chan time.Time
	if idle > 0 {
		timer = time.NewTimer(idle)
		timer.Stop()
		defer timer.Stop()
	}
	for {
		var c chunk
		select {
		case c = <-chunks:
		case <-timeout:
			timeout = nil
			if len(chunks) > 0 {
				continue // more bytes came after all: frame them first
			}
			if err := f.Flush(time.Now(), emit); err != nil {
				return err
			}
			continue
		}
		if c.err != nil {
			if c.err == io.EOF {
				return f.Flush(time.Now(), emit)
			}
			return c.err
		}
		err := f.Write(c.data, c.at, emit)
		free <- c.data[:cap(c.data)]
		if err != nil {
			return err
		}
		if timer != nil {
			timer.Reset(idle)
			timeout = timer.C
		}
	}
}
