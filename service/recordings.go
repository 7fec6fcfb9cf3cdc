package service

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/metrics"
	"github.com/cloudphone/media-service/recording"
	"github.com/cloudphone/media-service/webhook"
)

// Recordings (package recording): a recording joins its device through
// the registry as a viewer does, so it keeps the device running (in a
// fleet its Lease held: it counts as watched) and ends when the device
// stops running here. The recorder starts after the registry and closes
// before it: Run's shutdown finishes every recording's files (reason
// shutdown). In a fleet its IDs carry this member's tag, so that any
// instance forwards a recording's requests to the one that wrote it; a
// drain refuses new recordings (503) and ends the running ones with the
// instance. A failed recording is counted
// (media_service_recording_failures_total) and sent as the
// recording.failed webhook.

// startRecordings starts the recorder over the registry, unless
// MAX_RECORDINGS=0 turns recording off. RECORDINGS_DIR is created by the
// first recording; one that cannot be read is logged, and the service
// runs: a recording that cannot write there fails with the error.
func (s *service) startRecordings() {
	s.recMetrics = metrics.NewRecordings()
	if s.cfg.MaxRecordings == 0 {
		s.log.Info("recordings are off (MAX_RECORDINGS=0)")
		return
	}
	prefix := ""
	if s.fleet != nil {
		prefix = s.fleet.tag + "_"
	}
	cfg := s.cfg
	r, err := recording.New(recording.Options{
		Dir: cfg.RecordingsDir, Segment: cfg.RecordingSegment, MaxDuration: cfg.RecordingMaxDuration,
		MaxRecordings: cfg.MaxRecordings, MaxAge: cfg.RecordingsMaxAge,
		Instance: instanceName(cfg), IDPrefix: prefix,
		Source: recording.FromRegistry(s.registry), Metrics: s.recMetrics,
		OnFailed: s.hooks.recordingFailed, Log: s.log,
	})
	if err != nil {
		s.log.Error("recordings: RECORDINGS_DIR cannot be read; its recordings are not listed, and new ones may fail", "dir", cfg.RecordingsDir, "err", err)
	}
	s.recorder = r
}

// closeRecordings ends the running recordings, finishing their files.
func (s *service) closeRecordings() {
	if s.recorder != nil {
		s.recorder.Close()
	}
}

// recordingsDeps is the API's recorder; nil (the routes answer 503)
// with recording off.
func (s *service) recordingsDeps() api.Recordings {
	if s.recorder == nil {
		return nil
	}
	return recordingsAPI{r: s.recorder, adm: s.adm}
}

// recordingFailed sends recording.failed.
func (h *hooks) recordingFailed(i recording.Info) {
	h.d.Emit(webhook.TypeRecordingFailed, webhook.RecordingFailed{RecordingID: i.ID, DeviceID: i.DeviceID, Instance: i.Instance,
		Reason: i.Reason, Error: i.Error, StartedAt: i.StartedAt, FailedAt: i.EndedAt, Segments: len(i.Segments),
		Bytes: i.Bytes(), DurationMs: i.Duration().Milliseconds()})
}

// recordingsAPI is the recorder as the API sees it (api.Recordings).
type recordingsAPI struct {
	r   *recording.Recorder
	adm *admission
}

var _ api.Recordings = recordingsAPI{}

// recordingErr maps the recorder's errors to the API's.
func recordingErr(err error) error {
	switch {
	case errors.Is(err, recording.ErrRunning):
		return fmt.Errorf("%w: %w", api.ErrRecordingRunning, err)
	case errors.Is(err, recording.ErrNotFound):
		return fmt.Errorf("%w: %w", api.ErrNoRecording, err)
	}
	return err
}

func (a recordingsAPI) Start(ctx context.Context, caller api.Caller, deviceID string) (api.RecordingView, error) {
	if err := a.adm.Ready(); err != nil {
		return api.RecordingView{}, err
	}
	i, err := a.r.Start(ctx, deviceID, caller.Principal())
	if err != nil {
		return api.RecordingView{}, recordingErr(err)
	}
	return recordingView(i), nil
}

func (a recordingsAPI) Stop(deviceID string) (api.RecordingView, error) {
	i, err := a.r.Stop(deviceID)
	if err != nil {
		return api.RecordingView{}, recordingErr(err)
	}
	return recordingView(i), nil
}

func (a recordingsAPI) List() []api.RecordingView { return views(a.r.List(), recordingView) }

func (a recordingsAPI) Get(id string) (api.RecordingView, error) {
	i, err := a.r.Get(id)
	if err != nil {
		return api.RecordingView{}, recordingErr(err)
	}
	return recordingView(i), nil
}

func (a recordingsAPI) Open(id string, n int) (*os.File, api.RecordingSegmentView, error) {
	path, seg, err := a.r.SegmentFile(id, n)
	if err != nil {
		return nil, api.RecordingSegmentView{}, recordingErr(err)
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, api.RecordingSegmentView{}, fmt.Errorf("%w: segment %d of %s: its file is gone", api.ErrNoRecording, n, id)
	}
	if err != nil {
		return nil, api.RecordingSegmentView{}, err
	}
	return f, segmentView(seg), nil
}

func (a recordingsAPI) Delete(id string) error { return recordingErr(a.r.Delete(id)) }

func recordingView(i recording.Info) api.RecordingView {
	v := api.RecordingView{ID: i.ID, DeviceID: i.DeviceID, Instance: i.Instance, Codec: i.Codec, State: i.State, Reason: i.Reason,
		Error: i.Error, StartedAt: i.StartedAt, StartedBy: i.StartedBy, DurationMs: i.Duration().Milliseconds(), Bytes: i.Bytes(),
		Segments: make([]api.RecordingSegmentView, 0, len(i.Segments))}
	if !i.EndedAt.IsZero() {
		t := i.EndedAt
		v.EndedAt = &t
	}
	for _, s := range i.Segments {
		v.Segments = append(v.Segments, segmentView(s))
	}
	return v
}

func segmentView(s recording.Segment) api.RecordingSegmentView {
	return api.RecordingSegmentView{Index: s.Index, Name: s.Name, Bytes: s.Bytes, DurationMs: s.Duration.Milliseconds(),
		Width: s.Width, Height: s.Height, StartedAt: s.StartedAt, Open: s.Open}
}
