// Package chromium drives a real headless Chromium (Debian's chromium
// package) over the Chrome DevTools Protocol, for end-to-end tests of the
// viewer page. It starts the browser the way this project's machines
// require: --headless --no-sandbox --disable-gpu
// --disable-background-networking --no-first-run and a fresh
// --user-data-dir.
package chromium

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
	"golang.org/x/net/websocket"
)

// Browser is a running Chromium with one page.
type Browser struct {
	cmd  *exec.Cmd
	ws   *websocket.Conn
	mu   sync.Mutex
	next int
	wait map[int]chan reply
	done chan struct{}
	log  *strings.Builder

	session string // the page's flattened CDP session

	closeOnce sync.Once
	stop      func() // Close's work
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

var devtoolsURL = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// Launch starts Chromium and opens a page target; it is stopped when the
// test ends. When Chromium is not installed it skips the test, or fails it
// under CI=true (testutil.SkipOrFail).
func Launch(tb testing.TB) *Browser {
	tb.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testutil.SkipOrFail(tb, "chromium is not installed (Debian package chromium)")
	}
	// A profile directory of our own: Chromium's helper processes may
	// still write to it for a moment after the browser is killed, which
	// testing.TB.TempDir's cleanup would report as a failure.
	profile, err := os.MkdirTemp("", "chromium-profile-")
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--no-first-run", "--disable-quic", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--remote-debugging-port=0", "--remote-allow-origins=*",
		"--autoplay-policy=no-user-gesture-required", "--window-size=900,1000", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers die with it
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	b := &Browser{cmd: cmd, wait: map[int]chan reply{}, done: make(chan struct{}), log: &strings.Builder{}}
	urlc := make(chan string, 1)
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			if b.log.Len() < 1<<16 {
				b.log.WriteString(line + "\n")
			}
			logMu.Unlock()
			if m := devtoolsURL.FindStringSubmatch(line); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
	}()
	b.stop = func() {
		if b.ws != nil {
			b.ws.Close()
		}
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGKILL) // the browser and its helper processes
		cmd.Wait()
		<-b.done
		// The helpers (the network service among them, which holds the
		// page's sockets) are not our children: wait until each has
		// exited, so that no socket of the browser's is left open.
		for deadline := time.Now().Add(10 * time.Second); groupAlive(pgid) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		for i := 0; i < 50; i++ {
			if os.RemoveAll(profile) == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tb.Cleanup(func() {
		b.Close()
		if tb.Failed() {
			logMu.Lock()
			tb.Logf("chromium log:\n%s", b.log.String())
			logMu.Unlock()
		}
	})
	var browserURL string
	select {
	case browserURL = <-urlc:
	case <-time.After(30 * time.Second):
		close(b.done)
		tb.Fatalf("chromium did not start: %s", b.log.String())
	}
	// The page target's socket is /devtools/page/ID on the same host.
	host := strings.TrimPrefix(browserURL, "ws://")
	host = host[:strings.IndexByte(host, '/')]
	bws, err := websocket.Dial(browserURL, "", "http://"+host)
	if err != nil {
		close(b.done)
		tb.Fatal(err)
	}
	b.ws = bws
	go b.read()
	var created struct{ TargetID string }
	if err := b.Call("Target.createTarget", map[string]any{"url": "about:blank"}, &created); err != nil {
		tb.Fatal(err)
	}
	var attached struct{ SessionID string }
	if err := b.Call("Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true}, &attached); err != nil {
		tb.Fatal(err)
	}
	b.session = attached.SessionID
	return b
}

// Close stops the browser and its helper processes, and returns once they
// have all exited, their sockets closed: a test calls it before stopping
// a server the page talks to, so that the stop never races a browser
// socket. Launch's cleanup calls it too; a second call does nothing.
func (b *Browser) Close() {
	b.closeOnce.Do(b.stop)
}

// groupAlive reports whether a process of group pgid is still running (a
// zombie, its descriptors closed, does not count).
func groupAlive(pgid int) bool {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, d := range dirs {
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue // not a process, or gone
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and
		// parentheses, so the fields are read after its last ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) >= 3 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

func (b *Browser) read() {
	defer close(b.done)
	for {
		var msg struct {
			ID int `json:"id"`
			reply
		}
		if err := websocket.JSON.Receive(b.ws, &msg); err != nil {
			b.mu.Lock()
			for id, c := range b.wait {
				c <- reply{Error: &struct {
					Message string `json:"message"`
				}{"connection closed: " + err.Error()}}
				delete(b.wait, id)
			}
			b.mu.Unlock()
			return
		}
		if msg.ID == 0 {
			continue // an event
		}
		b.mu.Lock()
		c := b.wait[msg.ID]
		delete(b.wait, msg.ID)
		b.mu.Unlock()
		if c != nil {
			c <- msg.reply
		}
	}
}

// callTimeout bounds a call that gets no answer.
const callTimeout = 60 * time.Second

// call sends a CDP request and waits for its answer, until ctx ends or
// callTimeout passes. session is the attached page's CDP session; calls
// without one go to the browser.
func (b *Browser) call(ctx context.Context, session, method string, params any, result any) error {
	b.mu.Lock()
	b.next++
	id := b.next
	c := make(chan reply, 1)
	b.wait[id] = c
	b.mu.Unlock()
	forget := func() {
		b.mu.Lock()
		delete(b.wait, id)
		b.mu.Unlock()
	}
	if params == nil {
		params = map[string]any{}
	}
	req := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		req["sessionId"] = session
	}
	if err := websocket.JSON.Send(b.ws, req); err != nil {
		forget()
		return err
	}
	timer := time.NewTimer(callTimeout)
	defer timer.Stop()
	select {
	case r := <-c:
		if r.Error != nil {
			return fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(r.Result, result)
		}
		return nil
	case <-ctx.Done():
		forget()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	case <-timer.C:
		forget()
		return fmt.Errorf("%s: no answer", method)
	}
}

// Call calls a browser-level CDP method.
func (b *Browser) Call(method string, params, result any) error {
	return b.call(context.Background(), "", method, params, result)
}

// CallPage calls a CDP method of the page's session (Input.dispatchMouseEvent,
// Input.dispatchKeyEvent, Input.dispatchTouchEvent, Input.insertText,
// Runtime.evaluate, ...) with params (nil for none), and decodes its result
// into out unless out is nil. It waits for the answer until ctx ends, or at
// most a minute. The Input domain's methods answer once the page has
// handled the event, so calls made one after another reach the page in
// order. It is safe for concurrent use.
func (b *Browser) CallPage(ctx context.Context, method string, params, out any) error {
	return b.call(ctx, b.session, method, params, out)
}

// Navigate opens url in the page.
func (b *Browser) Navigate(url string) error {
	return b.call(context.Background(), b.session, "Page.navigate", map[string]any{"url": url}, nil)
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its JSON-serialisable value into out.
func (b *Browser) Eval(expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(context.Background(), b.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true,
	}, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		msg := r.ExceptionDetails.Text
		if r.ExceptionDetails.Exception != nil {
			msg = r.ExceptionDetails.Exception.Description
		}
		return errors.New("javascript: " + msg)
	}
	if out == nil || r.Result.Value == nil {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// Click presses and releases the left mouse button at page coordinates
// (CSS pixels), as a user's click.
func (b *Browser) Click(x, y float64) error {
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		p := map[string]any{"type": typ, "x": x, "y": y, "button": "left", "clickCount": 1}
		if typ == "mouseMoved" {
			p["button"] = "none"
		}
		if err := b.call(context.Background(), b.session, "Input.dispatchMouseEvent", p, nil); err != nil {
			return err
		}
	}
	return nil
}

// Screenshot returns a PNG of the page, for a person to look at what a
// failing test saw.
func (b *Browser) Screenshot() ([]byte, error) {
	var out struct {
		Data string `json:"data"`
	}
	if err := b.call(context.Background(), b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &out); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(out.Data)
}
