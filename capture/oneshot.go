package capture

import (
	"context"

	"github.com/cloudphone/media-service/adb"
)

// Screencap takes one screenshot of the device with `screencap -p`, as
// ScreencapSource does in its loop, and returns the PNG as the device
// wrote it (at most 64 MiB): a screenshot of a device that does not run
// here, or a picture of one whose stream cannot give its newest one.
func Screencap(ctx context.Context, c *adb.Client, serial string) ([]byte, error) {
	if err := adb.ValidSerial(serial); err != nil {
		return nil, err
	}
	s := &ScreencapSource{client: c, serial: serial}
	return s.capture(ctx)
}
