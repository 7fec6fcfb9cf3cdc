package capture

import (
	"errors"
	"testing"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/internal/adbtest"
	"github.com/cloudphone/media-service/media"
)

// TestHostileArgumentsNeverReachADB: sources refuse a hostile serial or
// out-of-range options before they open any connection.
func TestHostileArgumentsNeverReachADB(t *testing.T) {
	addr, conns := adbtest.Sentinel(t)
	c, err := adb.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, serial := range []string{"a;reboot", "$(id)", "x y", "", "a/../b", "a\nb"} {
		if _, err := NewScreenrecordSource(c, serial, ScreenrecordOptions{}); !errors.Is(err, media.ErrInvalidDeviceID) {
			t.Errorf("screenrecord on %q: %v", serial, err)
		}
		if _, err := NewScreencapSource(c, serial, ScreencapOptions{}); !errors.Is(err, media.ErrInvalidDeviceID) {
			t.Errorf("screencap on %q: %v", serial, err)
		}
		if _, err := NewRawFramesSource(c, serial, RawFramesOptions{}); !errors.Is(err, media.ErrInvalidDeviceID) {
			t.Errorf("raw-frames on %q: %v", serial, err)
		}
	}
	for _, o := range []ScreenrecordOptions{
		{BitRate: 5}, {TimeLimit: 500 * time.Second}, {TimeLimit: 1500 * time.Millisecond}, {Size: media.Size{Width: 0, Height: 100}},
	} {
		if _, err := NewScreenrecordSource(c, "emulator-5554", o); !errors.Is(err, media.ErrInvalidArgument) {
			t.Errorf("options %+v: %v, want media.ErrInvalidArgument", o, err)
		}
	}
	if _, err := NewScreencapSource(c, "emulator-5554", ScreencapOptions{Decoder: "gif"}); !errors.Is(err, media.ErrInvalidArgument) {
		t.Errorf("decoder gif: %v", err)
	}
	for _, rate := range []int{-1, 1001} {
		if _, err := NewScreencapSource(c, "emulator-5554", ScreencapOptions{FrameRate: rate}); !errors.Is(err, media.ErrInvalidArgument) {
			t.Errorf("screencap frame rate %d: %v", rate, err)
		}
		if _, err := NewRawFramesSource(c, "emulator-5554", RawFramesOptions{FrameRate: rate}); !errors.Is(err, media.ErrInvalidArgument) {
			t.Errorf("raw-frames frame rate %d: %v", rate, err)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the adb server's port", n)
	}
}
