package encoder

import "github.com/cloudphone/media-service/capture"

// Passthrough forwards H.264 that arrives already encoded (the device's
// own screenrecord output): it does no work and copies nothing. Keyframe
// requests go to the source, which restarts its stream (capture's
// ScreenrecordSource.RequestKeyFrame).
type Passthrough struct {
	requestKeyFrame func()
}

// Name of the pass-through "encoder".
const PassthroughName = "passthrough"

// NewPassthrough returns a pass-through that asks requestKeyFrame for IDRs.
func NewPassthrough(requestKeyFrame func()) *Passthrough {
	if requestKeyFrame == nil {
		requestKeyFrame = func() {}
	}
	return &Passthrough{requestKeyFrame: requestKeyFrame}
}

// Pass turns a captured access unit into a Unit, sharing its data.
func (p *Passthrough) Pass(s capture.Sample) Unit {
	return Unit{Data: s.Data, KeyFrame: s.KeyFrame, PTS: s.PTS, Codec: H264, Encoder: PassthroughName}
}

// ForceKeyFrame asks the source for a fresh IDR.
func (p *Passthrough) ForceKeyFrame() error {
	p.requestKeyFrame()
	return nil
}

// SetBitRate returns ErrUnsupported: screenrecord's rate is fixed for the
// life of its stream.
func (p *Passthrough) SetBitRate(int) error { return ErrUnsupported }

// Name returns "passthrough".
func (p *Passthrough) Name() string { return PassthroughName }
