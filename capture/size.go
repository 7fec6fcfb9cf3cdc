package capture

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudphone/media-service/media"
)

// DefaultSizeCheckInterval is how often a screenrecord-based source checks
// the device's picture size while screenrecord runs.
const DefaultSizeCheckInterval = 2 * time.Second

// sizeCheckInterval fills in the default of a SizeCheckInterval option
// (0); a negative value turns the check off.
func sizeCheckInterval(d time.Duration) time.Duration {
	if d == 0 {
		return DefaultSizeCheckInterval
	}
	return d
}

// watchSize checks the device's picture size every interval until ctx
// ends, and calls changed whenever it differs from have, the size the
// running screenrecord started at: screenrecord keeps its size when the
// display turns, so the source restarts it at the new one. It keeps
// checking after a change, so that a restart that failed is asked for
// again.
func watchSize(ctx context.Context, clk clock, interval time.Duration, have media.Size,
	sizeOf func(context.Context) (media.Size, error), log *slog.Logger, changed func(media.Size)) {
	t := clk.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		now, err := sizeOf(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				log.Debug("size check failed", "err", err)
			}
		case now != have:
			log.Info("display size changed; restarting screenrecord", "from", have.String(), "to", now.String())
			changed(now)
		}
		t.Reset(interval)
	}
}

// pictureSize returns a function that reads the picture size the device's
// display shows now (adb.Client.PictureSize), checked.
func pictureSize(read func(ctx context.Context, serial string) (media.Size, error), serial string) func(context.Context) (media.Size, error) {
	return func(ctx context.Context) (media.Size, error) {
		s, err := read(ctx, serial)
		if err != nil {
			return media.Size{}, err
		}
		if err := s.Validate(); err != nil {
			return media.Size{}, fmt.Errorf("display size: %w", err)
		}
		return s, nil
	}
}
