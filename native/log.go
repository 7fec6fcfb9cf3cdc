//go:build cgo

package native

//#include "shim.h"
import "C"

import (
	"context"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asticode/go-astiav"
)

// logRouter routes FFmpeg's log lines. FFmpeg has a single log callback per
// process (av_log_set_callback), so the router is the package's one piece
// of global state: it installs its C callback (ms_log_callback) once, and
// never swaps it, so that no thread ever sees a half-changed callback.
// Lines go to the slog logger that SetLogger set or, without one, to
// FFmpeg's own stderr output; in addition, the lines of threads running a
// probe are captured into that probe's lineSink.
type logRouter struct {
	install sync.Once
	logger  atomic.Pointer[slog.Logger]

	mu    sync.Mutex        // guards sinks and the C flags
	sinks map[int]*lineSink // by OS thread id
}

var ffmpegLog logRouter

// setFlagsLocked tells the C callback what to hand to Go. Callers hold mu.
func (r *logRouter) setFlagsLocked() {
	r.install.Do(func() { C.ms_log_install() })
	var flags C.int
	if r.logger.Load() != nil {
		flags |= C.MS_LOG_GO
	}
	if len(r.sinks) > 0 {
		flags |= C.MS_LOG_CAPTURE
	}
	C.ms_log_set_flags(flags)
}

func (r *logRouter) attach(tid int, s *lineSink) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sinks == nil {
		r.sinks = make(map[int]*lineSink)
	}
	r.sinks[tid] = s
	r.setFlagsLocked()
}

func (r *logRouter) detach(tid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.sinks, tid)
	r.setFlagsLocked()
}

// capture adds line to the sink of thread tid, if it has one, and reports
// whether it has.
func (r *logRouter) capture(tid int, line string) bool {
	r.mu.Lock()
	s := r.sinks[tid]
	r.mu.Unlock()
	if s != nil {
		s.add(line)
	}
	return s != nil
}

// maxProbeLines bounds what a probe keeps of FFmpeg's log.
const maxProbeLines = 8

// add keeps line unless the sink is full or already holds it.
func (s *lineSink) add(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lines) < maxProbeLines && !slices.Contains(s.lines, line) {
		s.lines = append(s.lines, line)
	}
}

// SetLogger sends FFmpeg's log lines at warning level and above to l, with
// the FFmpeg component in the "component" attribute, and the results of
// encoder and decoder probes ([Prober]) at info level, one line each. The
// lines FFmpeg logs while a [Prober] probes (a missing GPU's "Cannot load
// libcuda.so.1") are part of the probe's result, its Reason: they reach l
// at debug level only, with "probe" set, never as warnings or errors.
// Call it once, at start. A nil l restores FFmpeg's own stderr output.
func SetLogger(l *slog.Logger) {
	ffmpegLog.mu.Lock()
	ffmpegLog.logger.Store(l)
	ffmpegLog.setFlagsLocked()
	ffmpegLog.mu.Unlock()
	if l == nil {
		astiav.SetLogLevel(astiav.LogLevelInfo)
		return
	}
	astiav.SetLogLevel(astiav.LogLevelWarning)
}

// logger returns the logger SetLogger set, or nil.
func logger() *slog.Logger { return ffmpegLog.logger.Load() }

//export goNativeLog
func goNativeLog(level C.int, item, msg *C.char, toGo, toCapture C.int) {
	text := strings.TrimSpace(C.GoString(msg))
	if text == "" {
		return
	}
	probing := toCapture != 0 && ffmpegLog.capture(threadID(), text)
	if toGo == 0 {
		return
	}
	l := ffmpegLog.logger.Load()
	if l == nil {
		return
	}
	if probing {
		// What a probe finds missing is no error of the service: the line
		// is in the probe's result, which the Prober logs at info level.
		l.Log(context.Background(), slog.LevelDebug, text, "component", "ffmpeg", "ffmpeg_class", C.GoString(item), "probe", true)
		return
	}
	lvl := slog.LevelWarn
	if level <= C.AV_LOG_ERROR {
		lvl = slog.LevelError
	}
	l.Log(context.Background(), lvl, text, "component", "ffmpeg", "ffmpeg_class", C.GoString(item))
}

// withLogCapture runs fn on a locked OS thread and adds to sink the FFmpeg
// warnings and errors that this thread logs meanwhile; they go to the
// logger at debug level only (goNativeLog). Lines that FFmpeg logs from
// threads of its own (an encoder's worker threads) are not captured.
func withLogCapture(sink *lineSink, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := threadID()
	ffmpegLog.attach(tid, sink)
	defer ffmpegLog.detach(tid)
	return fn()
}
