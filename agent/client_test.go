package agent

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeAgent answers a Client over a pipe as the agent does, with what
// serve decides per message.
func fakeAgent(t *testing.T, secret string, serve func(conn net.Conn, m Message)) (net.Conn, chan struct{}) {
	t.Helper()
	client, agentSide := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer agentSide.Close()
		m, err := ReadMessage(agentSide)
		if err != nil {
			return
		}
		if h, ok := m.(Hello); !ok || string(h.Secret) != secret {
			return // closes: a wrong secret
		}
		if WriteFrame(agentSide, Ready{SDK: 34, Version: Version}) != nil {
			return
		}
		for {
			m, err := ReadMessage(agentSide)
			if err != nil {
				return
			}
			serve(agentSide, m)
		}
	}()
	return client, done
}

func TestClient(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan Message, 16)
	reads := 0
	conn, done := fakeAgent(t, "s3cret", func(c net.Conn, m Message) {
		switch m := m.(type) {
		case Ping:
			WriteFrame(c, Pong{Seq: m.Seq, Uptime: 42, Version: Version})
		case GetClipboard:
			// the first read fails, the second answers, with a change
			// reported before
			reads++
			if reads == 1 {
				WriteFrame(c, Error{Request: TypeGetClipboard, Message: "SecurityException: no access"})
			} else {
				WriteFrame(c, Clipboard{Changed: true, Text: "changed"})
				WriteFrame(c, Clipboard{Text: "answer"})
			}
		}
		got <- m
	})
	changes := make(chan string, 1)
	c, err := NewClient(ctx, conn, "s3cret", ClientOptions{OnClipboard: func(s string) { changes <- s }})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Ready(); r.SDK != 34 || r.Version != Version {
		t.Fatalf("Ready %+v", r)
	}
	p, rtt, err := c.Ping(ctx)
	if err != nil || p.Uptime != 42 || rtt <= 0 {
		t.Fatalf("Ping: %+v %v %v", p, rtt, err)
	}
	<-got // the ping
	if _, err := c.Clipboard(ctx); err == nil || !strings.Contains(err.Error(), "no access") {
		t.Fatalf("a failed clipboard read: %v", err)
	}
	<-got
	if s, err := c.Clipboard(ctx); err != nil || s != "answer" {
		t.Fatalf("Clipboard() = %q, %v: a failed read put later answers out of step", s, err)
	}
	<-got
	if s := <-changes; s != "changed" {
		t.Fatalf("change %q", s)
	}
	if err := c.Send(ctx, Touch{Action: ActionDown, X: 1, Y: 2}); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != (Touch{Action: ActionDown, X: 1, Y: 2}) {
		t.Fatalf("the agent got %+v", m)
	}
	c.Close()
	<-done
	if err := c.Send(ctx, Screen{On: true}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if _, _, err := c.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after Close: %v", err)
	}
}

// TestClientWrongSecret: an agent that closes at the Hello fails the
// handshake with a clear error.
func TestClientWrongSecret(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn, done := fakeAgent(t, "right", func(net.Conn, Message) {})
	_, err := NewClient(context.Background(), conn, "wrong", ClientOptions{})
	if err == nil || !strings.Contains(err.Error(), "wrong secret") {
		t.Fatalf("NewClient with a wrong secret: %v", err)
	}
	<-done
}

// TestClientStuckAgent: an agent that stops reading is a dead agent: a
// write that outlives its context closes the connection.
func TestClientStuckAgent(t *testing.T) {
	defer goleak.VerifyNone(t)
	block := make(chan struct{})
	conn, done := fakeAgent(t, "s", func(net.Conn, Message) { <-block })
	c, err := NewClient(context.Background(), conn, "s", ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Send(context.Background(), Ping{Seq: 1}) // the agent takes it and hangs
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Send(ctx, Text{Text: "x"}); err == nil {
		t.Fatal("a write to a stuck agent succeeded")
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the connection is still open")
	}
	close(block)
	c.Close()
	<-done
}
