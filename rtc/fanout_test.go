package rtc

import (
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/fanout"
)

// stuckWriter is a viewer that stops taking samples until released.
type stuckWriter struct {
	w       fanout.Writer
	release chan struct{}
}

func (s stuckWriter) WriteSample(smp fanout.Sample) error {
	<-s.release
	return s.w.WriteSample(smp)
}

func TestFanOutSlowViewerDoesNotStallOthers(t *testing.T) {
	const viewers, throttled, units = 20, 7, 150
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	cfg := testConfig()
	cfg.MaxSessionsPerUser = viewers
	cfg.wrapWriter = func(i int, w fanout.Writer) fanout.Writer {
		if i == throttled {
			return stuckWriter{w: w, release: release}
		}
		return w
	}
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	t.Cleanup(unblock) // runs before the rig closes

	clients := make([]*client, viewers)
	sessions := make([]*Session, viewers)
	for i := range viewers {
		clients[i], sessions[i], _ = connect(t, r.m, "dev1", "alice", clientOptions{plid: s264.plid})
	}
	for i, c := range clients {
		if i != throttled {
			eventually(t, "frames at every healthy client", func() bool { return c.frames.Load() >= 1 })
		}
	}
	b := r.p.hold(t, "dev1")

	// Count from here: the units the device writes, against what each
	// viewer sends and each client receives.
	in0 := b.Stats().UnitsIn
	sent0 := make([]uint64, viewers)
	frames0 := make([]int64, viewers)
	for i := range viewers {
		sent0[i] = sessions[i].Info().Stats.FramesSent
		frames0[i] = clients[i].frames.Load()
	}
	eventually(t, "the device to write the units", func() bool { return b.Stats().UnitsIn >= in0+units })
	written := b.Stats().UnitsIn - in0
	need := written * 9 / 10
	for i := range viewers {
		if i == throttled {
			continue
		}
		eventually(t, "each healthy viewer to send 90% of the units", func() bool {
			return sessions[i].Info().Stats.FramesSent-sent0[i] >= need
		})
		eventually(t, "each healthy client to receive 90% of the units", func() bool {
			return uint64(clients[i].frames.Load()-frames0[i]) >= need
		})
	}
	slow := sessions[throttled].Info().Stats
	if slow.FramesDropped == 0 || slow.Skips == 0 {
		t.Errorf("the stuck viewer dropped %d units in %d skips; want some", slow.FramesDropped, slow.Skips)
	}
	if total := b.Stats().Dropped; total < slow.FramesDropped {
		t.Errorf("broadcaster counts %d drops, the stuck viewer alone %d", total, slow.FramesDropped)
	}
	var healthyDrops uint64
	for i := range viewers {
		if i != throttled {
			healthyDrops += sessions[i].Info().Stats.FramesDropped
		}
	}
	t.Logf("%d units written; stuck viewer dropped %d in %d skips; healthy viewers dropped %d in all",
		written, slow.FramesDropped, slow.Skips, healthyDrops)

	// Released, the slow viewer resumes from a keyframe.
	sent := slow.FramesSent
	unblock()
	eventually(t, "the slow viewer to resume", func() bool {
		return sessions[throttled].Info().Stats.FramesSent > sent+10
	})
}
