//go:build cgo

package native

import (
	"context"
	"log/slog"
	"strings"

	"github.com/asticode/go-astiav"
)

// SetLogger sends FFmpeg's log lines at warning level and above to l, with
// the FFmpeg component in the "component" attribute. Call it once, at start.
// A nil l restores FFmpeg's own stderr output.
func SetLogger(l *slog.Logger) {
	if l == nil {
		astiav.ResetLogCallback()
		astiav.SetLogLevel(astiav.LogLevelInfo)
		return
	}
	astiav.SetLogLevel(astiav.LogLevelWarning)
	astiav.SetLogCallback(func(c astiav.Classer, level astiav.LogLevel, _, msg string) {
		lvl := slog.LevelWarn
		if level <= astiav.LogLevelError {
			lvl = slog.LevelError
		}
		var component string
		if c != nil {
			if cl := c.Class(); cl != nil {
				component = cl.ItemName()
			}
		}
		l.Log(context.Background(), lvl, strings.TrimSpace(msg), "component", "ffmpeg", "ffmpeg_class", component)
	})
}
