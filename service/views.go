package service

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/metrics"
	"github.com/cloudphone/media-service/native"
	"github.com/cloudphone/media-service/rtc"
)

// The API's views of the components' types: one conversion per type. The
// API owns its JSON; these copy every field it documents.

// devices lists the adb server's devices, with the size, encoder, viewers
// and outputs of those that run.
func devices(ctx context.Context, client *adb.Client, reg *device.Registry, mode string) ([]api.DeviceView, error) {
	list, err := client.Devices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.DeviceView, 0, len(list))
	for _, d := range list {
		v := api.DeviceView{Serial: d.Serial, State: d.State, Model: d.Model, Product: d.Product, Device: d.Device, CaptureMode: mode}
		if dev, ok := reg.Device(d.Serial); ok {
			size := dev.Size()
			v.Width, v.Height, v.Encoder, v.Viewers = size.Width, size.Height, dev.EncoderName(), dev.Viewers()
			st := dev.Stats()
			v.Outputs = views(st.Outputs, outputView)
			in := inputView(st.Input)
			v.Input = &in
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b api.DeviceView) int { return strings.Compare(a.Serial, b.Serial) })
	return out, nil
}

// statsResponse is the body of GET /api/media/stats.
func statsResponse(reg *device.Registry, m *rtc.Manager, e2e *metrics.E2ELatency) api.StatsResponse {
	return api.StatsResponse{
		Devices:      views(reg.Stats(), deviceStatsView),
		Broadcasters: views(reg.StreamStats(), streamView),
		WorkerPool:   pipelineView(reg.WorkerPoolStats()),
		Sessions:     views(m.List(), sessionView),
		E2ELatency:   latencyViews(e2e.Summary()),
	}
}

// views converts a list; nil stays nil.
func views[T, V any](in []T, view func(T) V) []V {
	if in == nil {
		return nil
	}
	out := make([]V, 0, len(in))
	for _, t := range in {
		out = append(out, view(t))
	}
	return out
}

func encoderViews(res []native.ProbeResult) []api.EncoderView {
	return views(res, encoderView)
}

func encoderView(r native.ProbeResult) api.EncoderView {
	return api.EncoderView{Encoder: r.Encoder, Available: r.Available, Reason: r.Reason,
		ElapsedMs: float64(r.Elapsed) / float64(time.Millisecond)}
}

func inputView(s device.InputStats) api.InputView {
	return api.InputView{Method: s.Method, Slow: s.Slow, Reason: s.Reason, SDK: s.SDK, AgentRestarts: s.AgentRestarts,
		AgentRTTMs: s.AgentRTTMs, Queued: s.Queued, InFlight: s.InFlight, Superseded: s.Superseded, Refused: s.Refused, Failed: s.Failed}
}

func deviceStatsView(s device.Stats) api.DeviceStatsView {
	return api.DeviceStatsView{
		Serial: s.Serial, Address: s.Address, CaptureMode: s.CaptureMode, Encoder: s.Encoder, Codec: s.Codec,
		ProfileLevelID: s.ProfileLevelID, Width: s.Width, Height: s.Height, FPS: s.FPS, BitRateBytes: s.BitRateBytes,
		TargetBitRate: s.TargetBitRate, Units: s.Units, Bytes: s.Bytes, KeyFrames: s.KeyFrames,
		CaptureRestarts: s.CaptureRestarts, CaptureErrors: s.CaptureErrors,
		KeyFrameRequests: s.KeyFrameRequests, KeyFramesForced: s.KeyFramesForced,
		Pipeline: pipelineView(s.Pipeline), LastError: s.LastError,
		Outputs: views(s.Outputs, outputView), Input: inputView(s.Input),
	}
}

func outputView(o device.OutputStats) api.OutputView {
	return api.OutputView{
		Codec: o.Codec, Rung: o.Rung, Scale: o.Scale, Encoder: o.Encoder, Width: o.Width, Height: o.Height, FPS: o.FPS,
		MinBitRate: o.MinBitRate, MaxBitRate: o.MaxBitRate, TargetBitRate: o.TargetBitRate,
		Units: o.Units, Viewers: o.Viewers, Pipeline: pipelineView(o.Pipeline),
	}
}

// pipelineView converts encoder counters; nil (no encoder) stays nil.
// The maps and buckets are the snapshot's own, not copied: a snapshot is
// a fresh value.
func pipelineView(s *encoder.Snapshot) *api.PipelineView {
	if s == nil {
		return nil
	}
	return &api.PipelineView{
		FramesIn: s.FramesIn, FramesOut: s.FramesOut, Dropped: s.Dropped,
		EncodingTimeouts: s.EncodingTimeouts, EncodingErrors: s.EncodingErrors,
		Replacements: s.Replacements, EncoderSwitches: s.EncoderSwitches,
		Reopened: s.Reopened, Restarts: s.Restarts, ProcessStalls: s.ProcessStalls, Abandoned: s.Abandoned,
		LatencyP50: s.LatencyP50, LatencyP99: s.LatencyP99, LatencyBuckets: s.LatencyBuckets, LatencySum: s.LatencySum,
	}
}

func streamView(s fanout.Stats) api.StreamView {
	return api.StreamView{
		DeviceID: s.DeviceID, Viewers: s.Viewers, UnitsIn: s.UnitsIn, BytesIn: s.BytesIn, KeyFramesIn: s.KeyFramesIn,
		Dropped: s.Dropped, KeyFrameRequests: s.KeyFrameRequests, GOPCached: s.GOPCached,
	}
}

func sessionView(i rtc.SessionInfo) api.SessionView {
	return api.SessionView{
		ID: i.ID, DeviceID: i.DeviceID, UserID: i.UserID, Token: i.Token, TokenKind: i.TokenKind, ViewOnly: i.ViewOnly, CreatedAt: i.CreatedAt,
		State: i.State, ICEState: i.ICEState, Codec: string(i.Codec), ProfileLevelID: i.ProfileLevelID,
		Controller: i.Controller, Rung: i.Rung, Stats: sessionStatsView(i.Stats),
		EndReason: i.EndReason,
	}
}

func sessionStatsView(s rtc.SessionStats) api.SessionStatsView {
	return api.SessionStatsView{
		PacketsSent: s.PacketsSent, BytesSent: s.BytesSent, NACKs: s.NACKs, NACKedPackets: s.NACKedPackets,
		PLIs: s.PLIs, FIRs: s.FIRs, FramesSent: s.FramesSent, FramesDropped: s.FramesDropped, Skips: s.Skips,
		TargetBitRate: s.TargetBitRate, Inputs: s.Inputs, InputErrors: s.InputErrors, Reports: s.Reports,
		ControlTakeovers: s.ControlTakeovers, RungSwitches: s.RungSwitches,
	}
}

func latencyView(l metrics.LatencySummary) api.LatencyView {
	return api.LatencyView{Samples: l.Samples, P50ms: l.P50ms, P95ms: l.P95ms, P99ms: l.P99ms}
}

// latencyViews converts the latency by device; nil stays nil.
func latencyViews(in map[string]metrics.LatencySummary) map[string]api.LatencyView {
	if in == nil {
		return nil
	}
	out := make(map[string]api.LatencyView, len(in))
	for dev, l := range in {
		out[dev] = latencyView(l)
	}
	return out
}
