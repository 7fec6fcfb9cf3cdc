package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// ErrClosed is returned by a Client's calls once its connection ended.
var ErrClosed = errors.New("agent: connection closed")

// ClientOptions are a Client's callbacks. Both run on the Client's reader
// goroutine and must not block.
type ClientOptions struct {
	// OnClipboard receives the device's clipboard when it changes.
	OnClipboard func(text string)
	// OnError receives the agent's reports of failed requests.
	OnError func(Error)
}

// Client speaks to one running agent over one connection. Its methods
// may be called from several goroutines; frames are written whole, in
// call order.
type Client struct {
	conn  io.ReadWriteCloser
	opt   ClientOptions
	ready Ready

	wmu sync.Mutex // serialises writes
	buf []byte

	mu    sync.Mutex
	seq   uint32
	pings map[uint32]chan Pong
	clips []chan clipAnswer
	err   error

	done chan struct{}
}

// clipAnswer answers one GetClipboard: the text, or the agent's Error.
type clipAnswer struct {
	text string
	err  error
}

// deadliner is a connection that can bound its reads.
type deadliner interface{ SetReadDeadline(time.Time) error }

// NewClient opens the conversation on conn: it sends Hello with the
// secret and waits for Ready until ctx ends. The Client owns conn from
// then on, and closes it on error.
func NewClient(ctx context.Context, conn io.ReadWriteCloser, secret string, opt ClientOptions) (*Client, error) {
	c := &Client{conn: conn, opt: opt, pings: map[uint32]chan Pong{}, done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	ready, err := c.handshake(secret)
	if !stop() || err != nil {
		conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("agent: handshake: %w", err)
	}
	if d, ok := conn.(deadliner); ok {
		d.SetReadDeadline(time.Time{})
	}
	c.ready = ready
	go c.read()
	return c, nil
}

func (c *Client) handshake(secret string) (Ready, error) {
	if len(secret) == 0 || len(secret) > MaxSecret {
		return Ready{}, fmt.Errorf("secret of %d bytes (want 1..%d)", len(secret), MaxSecret)
	}
	if err := WriteFrame(c.conn, Hello{Secret: []byte(secret)}); err != nil {
		return Ready{}, err
	}
	m, err := ReadMessage(c.conn)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the agent closed the connection (a wrong secret?)")
		}
		return Ready{}, err
	}
	r, ok := m.(Ready)
	if !ok {
		return Ready{}, fmt.Errorf("%w: 0x%02x before Ready", ErrFrame, m.Type())
	}
	return r, nil
}

// Ready is what the agent said when the connection opened: its Android
// API level and version.
func (c *Client) Ready() Ready { return c.ready }

// read dispatches the agent's frames until the connection ends.
func (c *Client) read() {
	var err error
	defer func() {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		for _, ch := range c.pings {
			close(ch)
		}
		clear(c.pings)
		for _, ch := range c.clips {
			close(ch)
		}
		c.clips = nil
		c.mu.Unlock()
		c.conn.Close()
		close(c.done)
	}()
	for {
		var m Message
		if m, err = ReadMessage(c.conn); err != nil {
			return
		}
		switch m := m.(type) {
		case Pong:
			c.mu.Lock()
			ch := c.pings[m.Seq]
			delete(c.pings, m.Seq)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		case Clipboard:
			if m.Changed {
				if c.opt.OnClipboard != nil {
					c.opt.OnClipboard(m.Text)
				}
				continue
			}
			c.answerClipboard(clipAnswer{text: m.Text})
		case Error:
			if m.Request == TypeGetClipboard {
				// Answers come in request order: this one failed.
				c.answerClipboard(clipAnswer{err: fmt.Errorf("agent: the device's clipboard: %s", m.Message)})
				continue
			}
			if c.opt.OnError != nil {
				c.opt.OnError(m)
			}
		}
	}
}

// answerClipboard gives an answer to the oldest GetClipboard waiting.
func (c *Client) answerClipboard(a clipAnswer) {
	c.mu.Lock()
	var ch chan clipAnswer
	if len(c.clips) > 0 {
		ch, c.clips = c.clips[0], c.clips[1:]
	}
	c.mu.Unlock()
	if ch != nil {
		ch <- a
	}
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why the connection ended (nil while it runs).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Send writes one message. When ctx ends before the write does, the
// connection is closed: an agent that stops reading is a dead agent.
// Every error wraps ErrClosed: the connection is over.
func (c *Client) Send(ctx context.Context, m Message) error {
	select {
	case <-c.done:
		return c.closedErr()
	default:
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	c.buf = AppendFrame(c.buf[:0], m)
	_, err := c.conn.Write(c.buf)
	if !stop() {
		return fmt.Errorf("%w: a write outlived its context (%v): the agent does not read", ErrClosed, ctx.Err())
	}
	if err != nil {
		c.conn.Close()
		return fmt.Errorf("%w: write: %v", ErrClosed, err)
	}
	return nil
}

func (c *Client) closedErr() error {
	if err := c.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	return ErrClosed
}

// Ping asks the agent for a Pong and returns it with the round trip.
func (c *Client) Ping(ctx context.Context) (Pong, time.Duration, error) {
	ch := make(chan Pong, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return Pong{}, 0, c.closedErr()
	}
	c.seq++
	seq := c.seq
	c.pings[seq] = ch
	c.mu.Unlock()
	start := time.Now()
	if err := c.Send(ctx, Ping{Seq: seq}); err != nil {
		c.forgetPing(seq)
		return Pong{}, 0, err
	}
	select {
	case p, ok := <-ch:
		if !ok {
			return Pong{}, 0, c.closedErr()
		}
		return p, time.Since(start), nil
	case <-ctx.Done():
		c.forgetPing(seq)
		return Pong{}, 0, ctx.Err()
	}
}

func (c *Client) forgetPing(seq uint32) {
	c.mu.Lock()
	delete(c.pings, seq)
	c.mu.Unlock()
}

// Clipboard reads the device's clipboard.
func (c *Client) Clipboard(ctx context.Context) (string, error) {
	ch := make(chan clipAnswer, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return "", c.closedErr()
	}
	c.clips = append(c.clips, ch)
	c.mu.Unlock()
	if err := c.Send(ctx, GetClipboard{}); err != nil {
		return "", err
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return "", c.closedErr()
		}
		return a.text, a.err
	case <-ctx.Done():
		// The answer may still come: it goes to this abandoned channel,
		// which is buffered.
		return "", ctx.Err()
	}
}

// Close ends the connection and waits for the reader. It is idempotent.
func (c *Client) Close() error {
	c.conn.Close()
	<-c.done
	return nil
}
