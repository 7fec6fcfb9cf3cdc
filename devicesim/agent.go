package devicesim

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/cloudphone/media-service/agent"
)

// The on-device input agent (package agent), emulated: app_process runs
// it when the dex the service pushes is on the class path, and it speaks
// the agent's protocol on an abstract socket that the localabstract:
// service reaches, as the real one does on a phone.
//
// What the emulation prints where a phone's agent or app_process fails:
//
//   - a class path without our dex (no CLASSPATH, no file there, or a file
//     that is not agent.Dex): app_process cannot find the class and
//     aborts; the terminal shows only "Aborted" (the ClassNotFoundException
//     goes to logcat, here the device's log at warn level), exit status
//     134. As reported from phones: github.com/Genymobile/scrcpy/issues/268,
//     /issues/953, /issues/5178;
//   - Options.Agent AgentRefuse: "media-agent: java.lang.SecurityException:
//     Injecting input events requires the caller (or the source of the
//     instrumentation, if any) to have the INJECT_EVENTS permission.",
//     exit status 1;
//   - a socket name another agent listens on: "media-agent:
//     java.io.IOException: Address already in use", exit status 1;
//   - wrong arguments: "media-agent: usage: com.cloudphone.agent.Main
//     SOCKET SECRET", exit status 2.

// agentBacklog bounds the connections waiting for a busy agent, as a
// listening socket's backlog does.
const agentBacklog = 50

// agentQueue bounds the requests read but not yet handled; past it the
// reader waits.
const agentQueue = 4096

// agentListener is one running agent's abstract socket: connections wait
// in its queue and the agent serves them one at a time.
type agentListener struct {
	name   string
	secret []byte
	kill   context.CancelFunc // ends the agent (KillAgents)

	mu     sync.Mutex // guards closed, queue
	closed bool
	queue  []*stream
	wake   chan struct{} // a connection was queued
}

// enqueue adds a connection; false when the agent is gone or its backlog
// is full.
func (l *agentListener) enqueue(s *stream) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.queue) >= agentBacklog {
		return false
	}
	l.queue = append(l.queue, s)
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// next returns the next connection, or nil once ctx ends.
func (l *agentListener) next(ctx context.Context) *stream {
	for {
		l.mu.Lock()
		if len(l.queue) > 0 {
			s := l.queue[0]
			l.queue = l.queue[1:]
			l.mu.Unlock()
			return s
		}
		l.mu.Unlock()
		select {
		case <-l.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// shutdown refuses new connections and closes those waiting.
func (l *agentListener) shutdown() {
	l.mu.Lock()
	l.closed = true
	q := l.queue
	l.queue = nil
	l.mu.Unlock()
	for _, s := range q {
		s.close()
	}
}

// Agents returns how many input agents are listening now.
func (d *Device) Agents() int {
	d.agentMu.Lock()
	defer d.agentMu.Unlock()
	return len(d.agents)
}

// KillAgents kills every running agent, as "kill -9" of its app_process
// would: it stops listening, its connection closes, and its shell stream
// ends. It returns how many it killed.
func (d *Device) KillAgents() int {
	d.agentMu.Lock()
	defer d.agentMu.Unlock()
	for _, l := range d.agents {
		l.kill()
	}
	return len(d.agents)
}

// AgentClients returns how many connections the agents serve now: those
// past a good Hello.
func (d *Device) AgentClients() int { return int(d.agentClients.Load()) }

// listen registers an agent's socket; false when the name is taken.
func (d *Device) listen(l *agentListener) bool {
	d.agentMu.Lock()
	defer d.agentMu.Unlock()
	if _, ok := d.agents[l.name]; ok {
		return false
	}
	if d.agents == nil {
		d.agents = make(map[string]*agentListener)
	}
	d.agents[l.name] = l
	return true
}

// unlisten removes an agent's socket and closes its waiting connections.
func (d *Device) unlisten(l *agentListener) {
	d.agentMu.Lock()
	if d.agents[l.name] == l {
		delete(d.agents, l.name)
	}
	d.agentMu.Unlock()
	l.shutdown()
}

// localAbstract is the localabstract:NAME service: a connection to the
// agent listening on NAME. It returns nil, which refuses the OPEN, when
// nothing listens there.
func (d *Device) localAbstract(name string) func(context.Context, *stream) {
	d.agentMu.Lock()
	l := d.agents[name]
	d.agentMu.Unlock()
	if l == nil {
		return nil
	}
	return func(ctx context.Context, s *stream) {
		if !l.enqueue(s) {
			s.log.Info("connection refused: the agent is gone or busy", "socket", name)
			return
		}
		<-ctx.Done() // the agent, or the host, closes the stream
	}
}

// app_process [JAVA-OPTIONS] DIR CLASS ARGS...: the one Java program this
// device has is the input agent, agent.MainClass, found when CLASSPATH
// names a file that is agent.Dex.
func cmdAppProcess(sh *shell, args []string) int {
	d := sh.d
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		i++
	}
	if len(args)-i < 2 {
		fmt.Fprintln(sh.out, "Usage: app_process [java-options] cmd-dir start-class-name [options]")
		return 1
	}
	class, rest := args[i+1], args[i+2:]
	if !pause(sh.ctx, d.appProcessCost()) {
		return 1
	}
	cp := sh.env["CLASSPATH"]
	if !d.hasClass(cp, class) {
		sh.log.Warn("app_process: ERROR: could not find class",
			"class", class, "classpath", cp,
			"exception", fmt.Sprintf("java.lang.ClassNotFoundException: Didn't find class %q on path: DexPathList[[dex file %q]]", class, cp))
		fmt.Fprint(sh.out, "Aborted \n")
		return 134 // SIGABRT
	}
	return runAgent(sh, rest)
}

// hasClass reports whether class can be loaded from the class path: it
// must be the agent's, in a file that is agent.Dex.
func (d *Device) hasClass(classpath, class string) bool {
	if class != agent.MainClass || classpath == "" {
		return false
	}
	want := agent.DexSHA256()
	for _, p := range strings.Split(classpath, ":") {
		data, _, ok := d.File(p)
		if !ok {
			continue
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) == want {
			return true
		}
	}
	return false
}

// runAgent is agent.MainClass's main: it listens on the abstract socket
// SOCKET until its shell stream ends (the host closed it, or the device
// closes) or it is killed ([Device.KillAgents]), serving one connection
// at a time.
func runAgent(sh *shell, args []string) int {
	d := sh.d
	if len(args) != 2 || args[0] == "" || len(args[1]) < 1 || len(args[1]) > agent.MaxSecret {
		fmt.Fprintln(sh.out, "media-agent: usage: "+agent.MainClass+" SOCKET SECRET")
		return 2
	}
	name, secret := args[0], args[1]
	log := sh.log.With("agent", name)
	if d.opts.Agent == AgentRefuse {
		log.Warn("agent refused: the device forbids injecting input")
		fmt.Fprintln(sh.out, "media-agent: java.lang.SecurityException: Injecting input events requires the caller "+
			"(or the source of the instrumentation, if any) to have the INJECT_EVENTS permission.")
		return 1
	}
	ctx, kill := context.WithCancel(sh.ctx)
	defer kill()
	l := &agentListener{name: name, secret: []byte(secret), kill: kill, wake: make(chan struct{}, 1)}
	if !d.listen(l) {
		log.Warn("agent cannot listen: the socket name is taken")
		fmt.Fprintln(sh.out, "media-agent: java.io.IOException: Address already in use")
		return 1
	}
	defer d.unlisten(l)
	log.Info("agent listening", "version", agent.Version, "sdk", d.opts.SDK)
	fmt.Fprintf(sh.out, "media-agent %s listening on @%s\n", agent.Version, name)
	for {
		s := l.next(ctx)
		if s == nil {
			break
		}
		d.serveAgent(ctx, s, l, log.With("stream", s.local))
	}
	if sh.ctx.Err() == nil {
		log.Info("agent killed")
		return 137 // SIGKILL
	}
	log.Info("agent stopped")
	return 0
}

// serveAgent serves one connection until it ends or the agent does. The
// reader (here) takes frames as they come and queues the requests; a
// handler goroutine handles them in order, spending the agent's cost on
// each event, and writes every answer.
func (d *Device) serveAgent(ctx context.Context, s *stream, l *agentListener, log *slog.Logger) {
	stop := context.AfterFunc(ctx, s.close)
	defer stop()
	defer s.close()

	typ, p, err := agent.ReadFrame(s)
	if err != nil {
		log.Info("agent connection closed before Hello", "err", err)
		return
	}
	m, err := agent.Parse(typ, p)
	hello, ok := m.(agent.Hello)
	if err != nil || !ok || subtle.ConstantTimeCompare(hello.Secret, l.secret) != 1 {
		log.Warn("agent connection without the right Hello; closing it", "type", fmt.Sprintf("0x%02x", typ))
		return
	}
	if err := agent.WriteFrame(s, agent.Ready{SDK: int32(d.opts.SDK), Version: agent.Version}); err != nil {
		return
	}
	d.agentClients.Add(1)
	defer d.agentClients.Add(-1)
	log.Info("agent client connected")

	events := make(chan agent.Message, agentQueue)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.handleAgent(ctx, s, events, log)
	}()
	for {
		typ, p, err := agent.ReadFrame(s)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Warn("agent connection: bad frame; closing it", "err", err)
			}
			break
		}
		m, err := agent.Parse(typ, p)
		if errors.Is(err, agent.ErrUnknownType) {
			log.Debug("agent: skipping a frame of unknown type", "type", fmt.Sprintf("0x%02x", typ))
			continue
		}
		if err != nil {
			log.Warn("agent connection: malformed frame; closing it", "err", err)
			break
		}
		switch m.(type) {
		case agent.Hello, agent.Ready, agent.Pong, agent.Clipboard, agent.Error:
			continue // no request: skipped like an unknown type
		}
		select {
		case events <- m:
		case <-s.ctx.Done():
		}
	}
	s.close()
	close(events)
	<-done
	log.Info("agent client disconnected")
}

// handleAgent handles the requests in order, and tells the client of the
// device's clipboard changes. It ends when the reader has closed events
// and every request read is handled, or at once when ctx ends.
func (d *Device) handleAgent(ctx context.Context, s *stream, events <-chan agent.Message, log *slog.Logger) {
	sub := d.subscribeClipboard()
	defer d.unsubscribeClipboard(sub)
	var st touchState
	write := func(m agent.Message) {
		if err := agent.WriteFrame(s, m); err != nil {
			log.Debug("agent: write failed", "err", err)
		}
	}
	defer func() {
		if st.n > 0 { // the connection ended mid-gesture: cancel it
			p := st.first()
			d.agentTouch(&st, agent.Touch{Action: agent.ActionCancel, Pointer: uint8(p), X: int32(st.pos[p][0]), Y: int32(st.pos[p][1])}, p)
		}
	}()
	for {
		select {
		case m, ok := <-events:
			if !ok || ctx.Err() != nil {
				return
			}
			if msg := d.handleAgentRequest(ctx, m, &st, sub, write); msg != "" {
				log.Info("agent: request failed", "type", fmt.Sprintf("0x%02x", m.Type()), "err", msg)
				write(agent.Error{Request: m.Type(), Message: msg})
			}
		case <-sub.ch:
			write(agent.Clipboard{Changed: true, Text: d.Clipboard()})
		case <-ctx.Done():
			return
		}
	}
}

// handleAgentRequest handles one request; it returns an error message for
// the client, or "".
func (d *Device) handleAgentRequest(ctx context.Context, m agent.Message, st *touchState, sub *clipSub, write func(agent.Message)) string {
	switch m := m.(type) {
	case agent.Ping:
		write(agent.Pong{Seq: m.Seq, Uptime: time.Since(d.boot).Milliseconds(), Version: agent.Version})
		return ""
	case agent.GetClipboard:
		write(agent.Clipboard{Changed: false, Text: d.Clipboard()})
		return ""
	}
	if !pause(ctx, d.agentEventCost()) {
		return ""
	}
	now := time.Now()
	disp := d.Display()
	ev := InputEvent{Time: now, Source: SourceAgent, Display: disp}
	switch m := m.(type) {
	case agent.Touch:
		p := int(m.Pointer)
		switch m.Action {
		case agent.ActionDown:
			if st.down[p] {
				return fmt.Sprintf("pointer %d is already down", p)
			}
		case agent.ActionMove, agent.ActionUp:
			if !st.down[p] {
				return fmt.Sprintf("pointer %d is not down", p)
			}
		case agent.ActionCancel:
			if st.n == 0 {
				return "no gesture to cancel"
			}
		}
		d.agentTouch(st, m, p)
	case agent.Scroll:
		ev.Kind, ev.X, ev.Y = InputScroll, int(m.X), int(m.Y)
		ev.ScrollH, ev.ScrollV = float64(m.H), float64(m.V)
		d.recordEvent(ev)
		d.screen.scroll(ev.X, ev.Y, ev.ScrollH, ev.ScrollV)
	case agent.Key:
		ev.Kind, ev.KeyCode, ev.Repeat, ev.Meta = InputKey, int(m.Code), int(m.Repeat), int(m.Meta)
		ev.Action = ActionDown
		if m.Action == agent.ActionUp {
			ev.Action = ActionUp
		}
		d.recordEvent(ev)
		if m.Action == agent.ActionDown {
			d.screen.key(int(m.Code))
		}
	case agent.Text:
		ev.Kind, ev.Text = InputText, m.Text
		d.recordEvent(ev)
		d.screen.text(m.Text)
	case agent.SetClipboard:
		ev.Kind, ev.Text, ev.Paste = InputClipboard, m.Text, m.Paste
		d.setClipboard(m.Text, sub)
		d.recordEvent(ev)
		if m.Paste {
			d.screen.text(m.Text)
		}
	case agent.Rotate:
		ev.Kind, ev.Rotation = InputRotate, int(m.Rotation)
		d.recordEvent(ev)
		rot := int(m.Rotation)
		if rot < 0 {
			rot = d.opts.Rotation // the sensor: the rotation the device started in
		}
		if err := d.SetRotation(rot); err != nil {
			return err.Error()
		}
	case agent.Screen:
		ev.Kind, ev.On = InputScreen, m.On
		d.recordEvent(ev)
		d.screen.setPower(m.On)
	}
	return ""
}

// touchState is the pointers of one source of touches: an agent
// connection, or the input command's motionevent.
type touchState struct {
	down    [agent.MaxPointers]bool
	pos     [agent.MaxPointers][2]int
	prev    [agent.MaxPointers][2]int // the position before pos
	hadPrev [agent.MaxPointers]bool
	n       int    // pointers down
	gesture uint64 // the gesture under way (or the last one)
}

func (st *touchState) press(p, x, y int) {
	if !st.down[p] {
		st.down[p] = true
		st.n++
	}
	st.pos[p] = [2]int{x, y}
	st.hadPrev[p] = false
}

func (st *touchState) moveTo(p, x, y int) {
	st.prev[p], st.hadPrev[p] = st.pos[p], true
	st.pos[p] = [2]int{x, y}
}

func (st *touchState) release(p int) {
	if st.down[p] {
		st.down[p] = false
		st.n--
	}
}

// reset lifts every pointer.
func (st *touchState) reset() {
	st.down = [agent.MaxPointers]bool{}
	st.hadPrev = [agent.MaxPointers]bool{}
	st.n = 0
}

// first returns the lowest pointer down, or 0.
func (st *touchState) first() int {
	for p, down := range st.down {
		if down {
			return p
		}
	}
	return 0
}

// agentTouch applies a valid touch of pointer p to st, records it and
// marks the screen.
func (d *Device) agentTouch(st *touchState, m agent.Touch, p int) {
	x, y := int(m.X), int(m.Y)
	var action string
	switch m.Action {
	case agent.ActionDown:
		if st.n == 0 {
			st.gesture = d.gestures.Add(1)
			action = ActionDown
		} else {
			action = ActionPointerDown
		}
		st.press(p, x, y)
	case agent.ActionMove:
		action = ActionMove
		st.moveTo(p, x, y)
	case agent.ActionUp:
		st.moveTo(p, x, y)
		st.release(p)
		action = ActionPointerUp
		if st.n == 0 {
			action = ActionUp
		}
	case agent.ActionCancel:
		action = ActionCancel
		st.reset()
	}
	prev, had := st.prev[p], st.hadPrev[p]
	d.recordEvent(InputEvent{Time: time.Now(), Kind: InputTouch, Source: SourceAgent, Action: action,
		Pointer: p, Pointers: st.n, Gesture: st.gesture, X: x, Y: y,
		Pressure: float64(m.Pressure) / 65535, Display: d.Display()})
	if action != ActionCancel {
		d.screen.touch(p, x, y, prev, had)
	}
}

// clipSub is one agent connection's subscription to clipboard changes.
type clipSub struct{ ch chan struct{} }

func (d *Device) subscribeClipboard() *clipSub {
	sub := &clipSub{ch: make(chan struct{}, 1)}
	d.clipMu.Lock()
	defer d.clipMu.Unlock()
	if d.clipSubs == nil {
		d.clipSubs = make(map[*clipSub]struct{})
	}
	d.clipSubs[sub] = struct{}{}
	return sub
}

func (d *Device) unsubscribeClipboard(sub *clipSub) {
	d.clipMu.Lock()
	defer d.clipMu.Unlock()
	delete(d.clipSubs, sub)
}

// Clipboard returns the device's clipboard text.
func (d *Device) Clipboard() string {
	d.clipMu.Lock()
	defer d.clipMu.Unlock()
	return d.clipboard
}

// SetClipboard sets the device's clipboard, as an app on the phone that
// copies text does: every connected agent client is told
// (agent.Clipboard with Changed), and the screen shows it. The shell
// command "devicesim clipboard TEXT" does the same.
func (d *Device) SetClipboard(text string) {
	d.log.Info("clipboard changed on the device", "text", text)
	d.setClipboard(text, nil)
}

// setClipboard sets the clipboard and tells every subscriber but from.
func (d *Device) setClipboard(text string, from *clipSub) {
	d.clipMu.Lock()
	d.clipboard = text
	for sub := range d.clipSubs {
		if sub == from {
			continue
		}
		select {
		case sub.ch <- struct{}{}:
		default: // a change is pending already: it reads the latest text
		}
	}
	d.clipMu.Unlock()
	d.screen.setClipboard(text)
}
