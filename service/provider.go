package service

import (
	"context"

	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/rtc"
)

// provider gives the session manager its devices: a session joins the
// device's owner in the registry, whose Viewer is the session's feed.
type provider struct{ reg *device.Registry }

var _ rtc.Feed = (*device.Viewer)(nil)

// Join joins the device for one session (rtc.Provider).
func (p provider) Join(ctx context.Context, req rtc.JoinRequest) (rtc.Feed, error) {
	v, err := p.reg.Join(ctx, device.JoinRequest{DeviceID: req.DeviceID, ViewerID: req.ViewerID, Codecs: req.Codecs})
	if err != nil {
		return nil, err
	}
	return v, nil
}
