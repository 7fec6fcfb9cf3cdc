package rtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/pion/logging"
)

// pionLogs routes Pion's logs to slog: its debug and info lines at debug
// level (Pion's info is chatty), trace lines nowhere, warnings and errors
// as such (but the expected ones at debug level), each with the Pion
// scope under the key "pion".
type pionLogs struct{ log *slog.Logger }

var _ logging.LoggerFactory = pionLogs{}

// NewLogger returns the logger of a Pion scope.
func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

// pionLogger is one scope's logger.
type pionLogger struct{ log *slog.Logger }

func (l pionLogger) logf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l pionLogger) Trace(string)                      {}
func (l pionLogger) Tracef(string, ...any)             {}
func (l pionLogger) Debug(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.logf(slog.LevelWarn, "%s", msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf(warnLevel(format), format, args...) }
func (l pionLogger) Error(msg string)                  { l.logf(errorLevel(msg, nil), "%s", msg) }
func (l pionLogger) Errorf(format string, args ...any) {
	l.logf(errorLevel(format, args), format, args...)
}

// expectedWarnings are the formats of Pion warnings that are the
// service's choice, not a problem: with multicast DNS off, a browser's
// ".local" host candidates are dropped (its checks still reach the
// server's candidates).
var expectedWarnings = []string{
	"Remote mDNS candidate added, but mDNS is disabled",
}

// errorLevel is the level of a Pion error: debug for a write to a socket
// that a closing session has just closed (the UDP mux races a session's
// close and logs "Failed to write packet: io: read/write on closed
// pipe"), error for the rest.
func errorLevel(format string, args []any) slog.Level {
	for _, a := range args {
		if err, ok := a.(error); ok && errors.Is(err, io.ErrClosedPipe) {
			return slog.LevelDebug
		}
	}
	if strings.Contains(format, io.ErrClosedPipe.Error()) {
		return slog.LevelDebug
	}
	return slog.LevelError
}

// warnLevel is the level of a Pion warning: debug for an expected one.
func warnLevel(format string) slog.Level {
	for _, w := range expectedWarnings {
		if strings.HasPrefix(format, w) {
			return slog.LevelDebug
		}
	}
	return slog.LevelWarn
}
