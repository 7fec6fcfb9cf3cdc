package device

import (
	"context"

	"github.com/cloudphone/media-service/media"
)

// inject maps a viewer's input to device coordinates (the display's size
// and rotation) and injects it: through the on-device agent while it
// runs, else queued for the shell's input command. msg has been
// validated.
func (d *Device) inject(ctx context.Context, msg media.Input) error {
	return d.in.inject(ctx, d.ctx, msg, *d.geom.Load())
}

// clipboard reads the device's clipboard (through the agent only).
func (d *Device) clipboard(ctx context.Context) (string, error) { return d.in.clipboard(ctx) }

// notices subscribes fn to the device's input notices.
func (d *Device) notices(fn func(media.InputNotice)) (stop func()) { return d.in.subscribe(fn) }

// InputStats returns how the device's input goes.
func (d *Device) InputStats() InputStats { return d.in.stats() }
