package device

import (
	"context"
	"fmt"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/rtc"
)

// inject maps a viewer's input to device coordinates (the display's size
// and rotation) and injects it. msg has been validated.
func (d *Device) inject(ctx context.Context, msg rtc.InputMessage) error {
	g := *d.geom.Load()
	point := func(x, y float64) (int, int, error) { return adb.MapPoint(x, y, g) }
	switch msg.Type {
	case rtc.InputTap:
		x, y, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		return d.input.Tap(ctx, x, y)
	case rtc.InputLongPress:
		x, y, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		return d.input.LongPress(ctx, x, y, msg.Duration)
	case rtc.InputSwipe:
		x1, y1, err := point(msg.X, msg.Y)
		if err != nil {
			return err
		}
		x2, y2, err := point(msg.X2, msg.Y2)
		if err != nil {
			return err
		}
		return d.input.Swipe(ctx, x1, y1, x2, y2, msg.Duration)
	case rtc.InputKey:
		return d.input.Key(ctx, msg.Key)
	case rtc.InputText:
		return d.input.Text(ctx, msg.Text)
	}
	return fmt.Errorf("%w: input kind %q", adb.ErrInvalidArgument, msg.Type)
}
