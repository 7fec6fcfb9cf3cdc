package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudphone/media-service/capture"
)

// InputEvent is a viewer's input in picture coordinates: X, Y (and X2, Y2
// for a swipe) are fractions (0..1) of the displayed video's width and
// height.
type InputEvent struct {
	Kind     string // tap, swipe, longpress, key, text
	X, Y     float64
	X2, Y2   float64
	Duration time.Duration
	Key      string
	Text     string
}

// inputTimeout bounds one injection.
const inputTimeout = 5 * time.Second

// Input maps a viewer's input to device coordinates (the display's size
// and rotation) and injects it.
func (d *Device) Input(ev InputEvent) error {
	ctx, cancel := context.WithTimeout(context.Background(), inputTimeout)
	defer cancel()
	g := d.geometry.Load()
	point := func(x, y float64) (int, int, error) { return capture.MapPoint(x, y, *g) }
	switch ev.Kind {
	case "tap":
		x, y, err := point(ev.X, ev.Y)
		if err != nil {
			return err
		}
		return d.input.Tap(ctx, x, y)
	case "longpress":
		x, y, err := point(ev.X, ev.Y)
		if err != nil {
			return err
		}
		return d.input.LongPress(ctx, x, y, ev.Duration)
	case "swipe":
		x1, y1, err := point(ev.X, ev.Y)
		if err != nil {
			return err
		}
		x2, y2, err := point(ev.X2, ev.Y2)
		if err != nil {
			return err
		}
		return d.input.Swipe(ctx, x1, y1, x2, y2, ev.Duration)
	case "key":
		return d.input.Key(ctx, ev.Key)
	case "text":
		return d.input.Text(ctx, ev.Text)
	}
	return fmt.Errorf("%w: input kind %q", capture.ErrInvalidArgument, ev.Kind)
}
