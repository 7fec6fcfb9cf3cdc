package device

import (
	"context"
	"fmt"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/media"
)

// inject maps a viewer's input to device coordinates (the display's size
// and rotation) and injects it. msg has been validated.
func (d *Device) inject(ctx context.Context, msg media.Input) error {
	g := *d.geom.Load()
	point := func(x, y float64) (int, int, error) { return adb.MapPoint(x, y, g) }
	switch msg.Type {
	case media.InputTap:
		x, y, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		return d.input.Tap(ctx, x, y)
	case media.InputLongPress:
		x, y, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		return d.input.LongPress(ctx, x, y, msg.Duration)
	case media.InputSwipe:
		x1, y1, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		x2, y2, err := point(msg.X2, msg.Y2)
		if err != nil {
			return err
		}
		return d.input.Swipe(ctx, x1, y1, x2, y2, msg.Duration)
	case media.InputKey:
		return d.input.Key(ctx, msg.Key)
	case media.InputText:
		return d.input.Text(ctx, msg.Text)
	}
	return fmt.Errorf("%w: input kind %q", adb.ErrInvalidArgument, msg.Type)
}
