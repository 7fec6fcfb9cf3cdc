package devicesim

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"
)

// The time input takes on a phone, which the device spends unless
// Options.NoCosts is set. Each cost is drawn uniformly from its range by
// the device's own random source, seeded from its serial, so that a run
// repeats.
//
//   - The input command: on Android 12 (API 31) and later it is a small
//     binary that asks the input service over binder (cmd input), tens of
//     milliseconds; on API 30 and before it starts a Java VM
//     (app_process com.android.commands.input.Input) each time, 0.3 to
//     1.2 s. It blocks until its events are handled (INJECT_INPUT_EVENT_
//     MODE_WAIT_FOR_FINISH), and a swipe blocks for its duration too
//     (300 ms when the command gives none, as Android's does). A shell runs
//     its commands one after another; commands in different shells run at
//     the same time.
//   - app_process: the Java VM's start, before the agent listens.
//   - The agent: a few milliseconds per injected event (building the
//     MotionEvent or KeyEvent and the binder call), handled in arrival
//     order on the agent's handler thread while its reader goes on reading
//     the socket.
const (
	cmdInputMin    = 25 * time.Millisecond
	cmdInputMax    = 60 * time.Millisecond
	jvmInputMin    = 300 * time.Millisecond
	jvmInputMax    = 1200 * time.Millisecond
	swipeDefault   = 300 * time.Millisecond
	appProcessMin  = 150 * time.Millisecond
	appProcessMax  = 400 * time.Millisecond
	agentEventMin  = 2 * time.Millisecond
	agentEventMax  = 5 * time.Millisecond
	firstCmdInput  = 31 // the first API level whose input command is cmd input
	firstMotionCmd = 30 // the first API level with input motionevent
)

// costModel draws costs. It is safe for concurrent use.
type costModel struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func newCostModel(seed string) *costModel {
	h := fnv.New64a()
	h.Write([]byte(seed))
	s := h.Sum64()
	return &costModel{rng: rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))}
}

// uniform returns a duration in [lo, hi].
func (m *costModel) uniform(lo, hi time.Duration) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return lo + time.Duration(m.rng.Int64N(int64(hi-lo)+1))
}

// inputCost is the input command's start-up and handling time.
func (d *Device) inputCost() time.Duration {
	if d.costs == nil {
		return 0
	}
	if d.opts.SDK >= firstCmdInput {
		return d.costs.uniform(cmdInputMin, cmdInputMax)
	}
	return d.costs.uniform(jvmInputMin, jvmInputMax)
}

// swipeCost is how long a swipe of the given duration (0: none given)
// blocks the input command.
func (d *Device) swipeCost(dur time.Duration) time.Duration {
	if d.costs == nil {
		return 0
	}
	if dur == 0 {
		return swipeDefault
	}
	return dur
}

// appProcessCost is app_process's start.
func (d *Device) appProcessCost() time.Duration {
	if d.costs == nil {
		return 0
	}
	if d.opts.SDK >= firstCmdInput {
		return d.costs.uniform(appProcessMin, appProcessMax)
	}
	return d.costs.uniform(jvmInputMin, jvmInputMax)
}

// agentEventCost is the agent's time to inject one event.
func (d *Device) agentEventCost() time.Duration {
	if d.costs == nil {
		return 0
	}
	return d.costs.uniform(agentEventMin, agentEventMax)
}

// pause waits for dur; it reports false when ctx ended first.
func pause(ctx context.Context, dur time.Duration) bool {
	if dur <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
