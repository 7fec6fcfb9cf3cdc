package device

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/agent"
	"github.com/cloudphone/media-service/internal/lograte"
	"github.com/cloudphone/media-service/media"
)

// Input agent settings (Config.InputAgent).
const (
	InputAgentAuto = "auto" // run the agent; the shell while it cannot
	InputAgentOff  = "off"  // the shell's input command only
)

// Timings of the input agent.
const (
	// agentStartTimeout bounds a start: push, app_process up to its
	// listening line, connection and handshake.
	agentStartTimeout = 20 * time.Second
	// agentPingEvery is how often a running agent is pinged;
	// agentPingTimeout how long it may take to answer.
	agentPingEvery   = 10 * time.Second
	agentPingTimeout = 5 * time.Second
	// agentRetryMin and agentRetryMax bound the back-off between starts;
	// an agent that ran agentStableAfter restarts at the minimum.
	agentRetryMin    = time.Second
	agentRetryMax    = 5 * time.Minute
	agentStableAfter = time.Minute
	// agentSendTimeout bounds one event's write to the agent.
	agentSendTimeout = 2 * time.Second
)

// inputs is how a device's input reaches it: through the on-device agent
// while it runs, else through the shell's input command. It starts,
// watches and restarts the agent, and tells the device's viewers which
// way their input goes.
type inputs struct {
	client *adb.Client
	serial string
	mode   string
	log    *slog.Logger
	shell  *shellInput
	wg     sync.WaitGroup

	mu      sync.Mutex
	agent   *agent.Client
	state   media.InputState
	said    string // the last reason logged, to say each once
	subs    map[uint64]func(media.InputNotice)
	nextSub uint64
	gesture sync.WaitGroup // swipes and long presses played to the agent

	restarts atomic.Int64
	rtt      atomic.Int64 // the last ping's round trip, ns
	errLog   lograte.Limiter
}

func newInputs(client *adb.Client, serial, mode string, in *adb.Input, log *slog.Logger) *inputs {
	if mode == "" {
		mode = InputAgentAuto
	}
	return &inputs{client: client, serial: serial, mode: mode, log: log, shell: newShellInput(in, log),
		subs: map[uint64]func(media.InputNotice){}, state: media.InputState{Method: "shell"}}
}

// start runs the shell's queue and the agent's supervisor until ctx
// ends; wait waits for them.
func (in *inputs) start(ctx context.Context) {
	in.wg.Go(func() { in.shell.run(ctx) })
	in.wg.Go(func() { in.supervise(ctx) })
}

func (in *inputs) wait() {
	in.wg.Wait()
	in.gesture.Wait()
}

// supervise reads the API level, then keeps the agent running, falling
// back to the shell while it does not.
func (in *inputs) supervise(ctx context.Context) {
	sdk := 0
	if v, err := in.client.GetProp(ctx, in.serial, "ro.build.version.sdk"); err == nil {
		sdk, _ = strconv.Atoi(strings.TrimSpace(v))
	}
	in.shell.sdk.Store(int32(sdk))
	if in.mode == InputAgentOff {
		in.fallBack(sdk, "the input agent is off (INPUT_AGENT=off)")
		return
	}
	in.setState(media.InputState{Method: "shell", Slow: slowShell(sdk), SDK: sdk, Reason: "the input agent is starting"}, false)
	backoff := agentRetryMin
	for ctx.Err() == nil {
		started := time.Now()
		err := in.runAgent(ctx, sdk)
		if ctx.Err() != nil {
			return
		}
		in.restarts.Add(1)
		in.fallBack(sdk, "the input agent "+err.Error())
		if time.Since(started) > agentStableAfter {
			backoff = agentRetryMin
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(backoff*2, agentRetryMax)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
}

// slowShell reports whether the device's input command is slow: a Java
// VM start per call, up to Android 11.
func slowShell(sdk int) bool { return sdk > 0 && sdk <= slowInputSDK }

// fallBack sends input through the shell, saying why once per reason.
func (in *inputs) fallBack(sdk int, reason string) {
	in.setState(media.InputState{Method: "shell", Slow: slowShell(sdk), SDK: sdk, Reason: reason}, true)
}

// setState records how input goes and tells the viewers; with say, it
// logs a reason not logged before.
func (in *inputs) setState(s media.InputState, say bool) {
	in.mu.Lock()
	changed := in.state != s
	in.state = s
	log := say && s.Reason != in.said
	if log {
		in.said = s.Reason
	}
	in.mu.Unlock()
	if log {
		in.log.Warn("input goes through the shell's input command", "reason", s.Reason, "sdk", s.SDK, "slow", s.Slow)
	}
	if changed {
		in.notify(media.InputNotice{State: &s})
	}
}

// runningAgent is a started agent: its process's output and the
// connection to it.
type runningAgent struct {
	proc *adb.Stream
	out  *agentOutput
	c    *agent.Client
	rtt  time.Duration
}

// close ends the connection and the process, and waits for both.
func (a *runningAgent) close() {
	a.c.Close()
	a.proc.Close()
	a.out.wait()
}

// startAgent pushes the agent to the device, starts it with app_process,
// connects to it and pings it, within ctx. The error says what failed,
// with the agent's last output.
func startAgent(ctx context.Context, client *adb.Client, serial string, opt agent.ClientOptions) (_ *runningAgent, err error) {
	if err := client.Push(ctx, serial, bytes.NewReader(agent.Dex), agent.DevicePath, 0o644, time.Now()); err != nil {
		return nil, fmt.Errorf("could not be pushed: %w", err)
	}
	socket, secret := "media-agent-"+randomHex(8), randomHex(16)
	proc, err := client.AppProcess(ctx, serial, agent.DevicePath, agent.MainClass, socket, secret)
	if err != nil {
		return nil, fmt.Errorf("could not start: %w", err)
	}
	out := newAgentOutput(proc)
	defer func() {
		if err != nil {
			proc.Close()
			out.wait()
		}
	}()
	select {
	case <-out.listening:
	case <-out.done:
		return nil, fmt.Errorf("exited at start: %s", out.last())
	case <-ctx.Done():
		return nil, fmt.Errorf("did not start in time (%v): %s", ctx.Err(), out.last())
	}
	conn, err := client.LocalAbstract(ctx, serial, socket)
	if err != nil {
		return nil, fmt.Errorf("could not be reached: %w", err)
	}
	c, err := agent.NewClient(ctx, conn, secret, opt)
	if err != nil {
		return nil, fmt.Errorf("refused the connection: %w", err)
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if v := c.Ready().Version; v != agent.Version {
		return nil, fmt.Errorf("is version %q, not %q", v, agent.Version)
	}
	_, rtt, err := c.Ping(ctx)
	if err != nil {
		return nil, fmt.Errorf("did not answer a ping: %w", err)
	}
	return &runningAgent{proc: proc, out: out, c: c, rtt: rtt}, nil
}

// runAgent starts the agent and serves it until it ends, and says why.
func (in *inputs) runAgent(ctx context.Context, sdk int) error {
	sctx, cancel := context.WithTimeout(ctx, agentStartTimeout)
	a, err := startAgent(sctx, in.client, in.serial, agent.ClientOptions{
		OnClipboard: func(text string) { in.notify(media.InputNotice{Clipboard: &text}) },
		OnError: func(e agent.Error) {
			in.errLog.Log(in.log, slog.LevelWarn, "the input agent could not inject", "request", fmt.Sprintf("0x%02x", e.Request), "err", e.Message)
		},
	})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	defer a.close()
	c := a.c
	in.rtt.Store(int64(a.rtt))
	if s := int(c.Ready().SDK); s > 0 {
		sdk = s
	}
	in.mu.Lock()
	in.agent = c
	in.said = ""
	in.mu.Unlock()
	in.setState(media.InputState{Method: "agent", SDK: sdk}, false)
	in.log.Info("input goes through the on-device agent", "sdk", sdk, "rtt", a.rtt.Round(time.Microsecond))
	defer func() {
		in.mu.Lock()
		in.agent = nil
		in.mu.Unlock()
	}()
	tick := time.NewTicker(agentPingEvery)
	defer tick.Stop()
	for {
		select {
		case <-c.Done():
			return fmt.Errorf("connection ended: %v; %s", c.Err(), a.out.last())
		case <-a.out.done:
			return fmt.Errorf("exited: %s", a.out.last())
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			pctx, cancel := context.WithTimeout(ctx, agentPingTimeout)
			_, rtt, err := c.Ping(pctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("stopped answering: %w", err)
			}
			in.rtt.Store(int64(rtt))
		}
	}
}

// InputCheck is what CheckInput found on a device.
type InputCheck struct {
	// SDK is the device's API level; Release its Android version.
	SDK     int
	Release string
	Model   string
	// Method is how the service would send input: "agent" or "shell";
	// Reason why the agent cannot run, if it cannot.
	Method, Reason string
	// Slow is set where the shell is the method and its input command
	// starts a Java VM per event.
	Slow bool
	// AgentVersion and the agent's ping round trips, when it runs.
	AgentVersion string
	RTTs         []time.Duration
}

// CheckInput starts the input agent on a device as the service would,
// pings it pings times and stops it, without injecting anything.
func CheckInput(ctx context.Context, client *adb.Client, serial string, pings int) (InputCheck, error) {
	var ch InputCheck
	if err := adb.ValidSerial(serial); err != nil {
		return ch, err
	}
	v, err := client.GetProp(ctx, serial, "ro.build.version.sdk")
	if err != nil {
		return ch, fmt.Errorf("read the API level of %s: %w", serial, err)
	}
	ch.SDK, _ = strconv.Atoi(strings.TrimSpace(v))
	if r, err := client.GetProp(ctx, serial, "ro.build.version.release"); err == nil {
		ch.Release = strings.TrimSpace(r)
	}
	if m, err := client.GetProp(ctx, serial, "ro.product.model"); err == nil {
		ch.Model = strings.TrimSpace(m)
	}
	sctx, cancel := context.WithTimeout(ctx, agentStartTimeout)
	a, err := startAgent(sctx, client, serial, agent.ClientOptions{})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ch, ctx.Err()
		}
		ch.Method, ch.Reason, ch.Slow = "shell", "the input agent "+err.Error(), slowShell(ch.SDK)
		return ch, nil
	}
	defer a.close()
	ch.Method, ch.AgentVersion, ch.RTTs = "agent", a.c.Ready().Version, []time.Duration{a.rtt}
	for len(ch.RTTs) < pings {
		pctx, cancel := context.WithTimeout(ctx, agentPingTimeout)
		_, rtt, err := a.c.Ping(pctx)
		cancel()
		if err != nil {
			return ch, fmt.Errorf("the input agent stopped answering: %w", err)
		}
		ch.RTTs = append(ch.RTTs, rtt)
	}
	return ch, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	crand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// agentOutput reads the agent's output: it tells when the agent listens,
// and keeps its last lines to say why it ended.
type agentOutput struct {
	listening chan struct{}
	done      chan struct{}
	mu        sync.Mutex
	lines     []string
}

func newAgentOutput(r io.Reader) *agentOutput {
	o := &agentOutput{listening: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 4096), 64*1024)
		heard := false
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			if !heard && strings.HasPrefix(line, "media-agent ") && strings.Contains(line, " listening on @") {
				heard = true
				close(o.listening)
				continue
			}
			o.mu.Lock()
			o.lines = append(o.lines, line)
			if len(o.lines) > 3 {
				o.lines = o.lines[1:]
			}
			o.mu.Unlock()
		}
	}()
	return o
}

// last returns the last lines the agent printed.
func (o *agentOutput) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.lines) == 0 {
		return "no output"
	}
	return strings.Join(o.lines, " | ")
}

func (o *agentOutput) wait() { <-o.done }

// current returns the running agent, if any.
func (in *inputs) current() *agent.Client {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.agent
}

// State returns how input goes now.
func (in *inputs) State() media.InputState {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.state
}

// subscribe calls fn with the state now and every notice after, until
// the returned stop.
func (in *inputs) subscribe(fn func(media.InputNotice)) (stop func()) {
	in.mu.Lock()
	id := in.nextSub
	in.nextSub++
	in.subs[id] = fn
	s := in.state
	in.mu.Unlock()
	fn(media.InputNotice{State: &s})
	return func() {
		in.mu.Lock()
		delete(in.subs, id)
		in.mu.Unlock()
	}
}

// notify calls every subscriber.
func (in *inputs) notify(n media.InputNotice) {
	in.mu.Lock()
	fns := make([]func(media.InputNotice), 0, len(in.subs))
	for _, fn := range in.subs {
		fns = append(fns, fn)
	}
	in.mu.Unlock()
	for _, fn := range fns {
		fn(n)
	}
}

// clipboard reads the device's clipboard through the agent.
func (in *inputs) clipboard(ctx context.Context) (string, error) {
	c := in.current()
	if c == nil {
		return "", fmt.Errorf("%w: the device's clipboard needs the input agent, and it is not running (%s)", media.ErrUnsupported, in.State().Reason)
	}
	return c.Clipboard(ctx)
}

// inject sends one validated input through the agent, or the shell.
// Through the shell it returns once the command is queued.
func (in *inputs) inject(ctx context.Context, devCtx context.Context, msg media.Input, g adb.Geometry) error {
	if c := in.current(); c != nil {
		err := in.injectAgent(ctx, devCtx, c, msg, g)
		if !errors.Is(err, agent.ErrClosed) {
			return err
		}
		// The agent died just now: its supervisor restarts it, and this
		// event goes through the shell.
	}
	return in.shell.inject(msg, g)
}

// touchActions map the viewer's actions to the agent's.
var touchActions = map[string]byte{
	media.ActionDown: agent.ActionDown, media.ActionMove: agent.ActionMove,
	media.ActionUp: agent.ActionUp, media.ActionCancel: agent.ActionCancel,
}

// injectAgent sends one input to the agent. Swipes and long presses, kept
// from the first input messages, are played as touch events over their
// duration, without holding up the caller.
func (in *inputs) injectAgent(ctx, devCtx context.Context, c *agent.Client, msg media.Input, g adb.Geometry) error {
	point := func(x, y float64) (int32, int32, error) {
		px, py, err := adb.MapPoint(x, y, g)
		return int32(px), int32(py), err
	}
	sctx, cancel := context.WithTimeout(ctx, agentSendTimeout)
	defer cancel()
	send := func(m agent.Message) error { return c.Send(sctx, m) }
	switch msg.Type {
	case media.InputTouch:
		x, y, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		action, ok := touchActions[msg.Action]
		if !ok || msg.Pointer < 0 || msg.Pointer >= agent.MaxPointers {
			return fmt.Errorf("%w: touch %q of pointer %d", adb.ErrInvalidArgument, msg.Action, msg.Pointer)
		}
		p := uint16(math.Round(min(max(msg.Pressure, 0), 1) * 65535))
		return send(agent.Touch{Action: action, Pointer: uint8(msg.Pointer), X: x, Y: y, Pressure: p})
	case media.InputTap:
		x, y, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		if err := send(agent.Touch{Action: agent.ActionDown, X: x, Y: y, Pressure: 65535}); err != nil {
			return err
		}
		return send(agent.Touch{Action: agent.ActionUp, X: x, Y: y})
	case media.InputSwipe, media.InputLongPress:
		x1, y1, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		x2, y2 := x1, y1
		if msg.Type == media.InputSwipe {
			if x2, y2, err = point(msg.X2, msg.Y2); err != nil {
				return err
			}
		}
		d := msg.Duration
		if d <= 0 {
			d = 600 * time.Millisecond
		}
		if err := send(agent.Touch{Action: agent.ActionDown, X: x1, Y: y1, Pressure: 65535}); err != nil {
			return err
		}
		in.gesture.Go(func() { in.play(devCtx, c, x1, y1, x2, y2, d) })
		return nil
	case media.InputScroll:
		x, y, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		return send(agent.Scroll{X: x, Y: y, H: float32(msg.DX), V: float32(-msg.DY)})
	case media.InputKey:
		code, ok := agent.KeyCode(msg.Key)
		if !ok {
			return fmt.Errorf("%w: key %q has no code here; send its number", adb.ErrInvalidArgument, msg.Key)
		}
		k := agent.Key{Code: int32(code), Repeat: int32(msg.Repeat), Meta: int32(msg.Meta)}
		switch msg.Action {
		case media.ActionDown:
			return send(k)
		case media.ActionUp:
			k.Action = agent.ActionUp
			return send(k)
		}
		if err := send(k); err != nil {
			return err
		}
		k.Action = agent.ActionUp
		return send(k)
	case media.InputText:
		return send(agent.Text{Text: msg.Text})
	case media.InputClipboard:
		return send(agent.SetClipboard{Paste: msg.Paste, Text: msg.Text})
	case media.InputRotate:
		return send(agent.Rotate{Rotation: int8(msg.Rotation)})
	case media.InputScreen:
		return send(agent.Screen{On: msg.On})
	}
	return fmt.Errorf("%w: input kind %q", adb.ErrInvalidArgument, msg.Type)
}

// play moves a finger, already down at (x1, y1), to (x2, y2) over d at
// 60 events a second, and lifts it.
func (in *inputs) play(ctx context.Context, c *agent.Client, x1, y1, x2, y2 int32, d time.Duration) {
	const step = time.Second / 60
	start := time.Now()
	t := time.NewTicker(step)
	defer t.Stop()
	x, y := x1, y1
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f := min(float64(time.Since(start))/float64(d), 1)
		x = x1 + int32(math.Round(f*float64(x2-x1)))
		y = y1 + int32(math.Round(f*float64(y2-y1)))
		sctx, cancel := context.WithTimeout(ctx, agentSendTimeout)
		var err error
		if f < 1 {
			if x1 != x2 || y1 != y2 {
				err = c.Send(sctx, agent.Touch{Action: agent.ActionMove, X: x, Y: y, Pressure: 65535})
			}
		} else {
			err = c.Send(sctx, agent.Touch{Action: agent.ActionUp, X: x, Y: y})
		}
		cancel()
		if err != nil || f >= 1 {
			return
		}
	}
}

// InputStats are how a device's input goes: the method and why, the
// agent's restarts and round trip, and the shell's queue.
type InputStats struct {
	media.InputState
	AgentRestarts int64   `json:"agentRestarts"`
	AgentRTTMs    float64 `json:"agentRttMs,omitempty"`
	// Queued are the shell's commands waiting; InFlight whether one runs.
	Queued   int  `json:"queued"`
	InFlight bool `json:"inFlight"`
	// Superseded counts moves replaced by a later one before they ran;
	// Refused input refused while the queue was full; Failed commands
	// that failed on the device.
	Superseded int64 `json:"superseded"`
	Refused    int64 `json:"refused"`
	Failed     int64 `json:"failed"`
}

func (in *inputs) stats() InputStats {
	q, busy := in.shell.queued()
	s := InputStats{InputState: in.State(), AgentRestarts: in.restarts.Load(), Queued: q, InFlight: busy,
		Superseded: in.shell.superseded.Load(), Refused: in.shell.refused.Load(), Failed: in.shell.failed.Load()}
	if s.Method == "agent" {
		s.AgentRTTMs = float64(in.rtt.Load()) / float64(time.Millisecond)
	}
	return s
}
