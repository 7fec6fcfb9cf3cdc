package recording

import (
	"context"

	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/media"
)

// FromRegistry is the Source of a service's device registry: a recording
// joins its device as a viewer (device.Registry.Join), which starts the
// device if needed and keeps it running while the recording lasts, and
// its device runs while the registry has it (device.Registry.Has).
func FromRegistry(reg *device.Registry) Source { return registrySource{reg} }

type registrySource struct{ reg *device.Registry }

var _ Feed = (*device.Viewer)(nil)

func (s registrySource) Join(ctx context.Context, deviceID, viewerID string, codecs []media.Codec) (Feed, error) {
	v, err := s.reg.Join(ctx, device.JoinRequest{DeviceID: deviceID, ViewerID: viewerID, Codecs: codecs})
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (s registrySource) Running(deviceID string) bool { return s.reg.Has(deviceID) }
