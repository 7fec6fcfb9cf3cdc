package devicesim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// maxLine bounds one command line of the interactive shell, continuation
// lines included.
const maxLine = 64 * 1024

// shell runs command lines for one stream.
type shell struct {
	d   *Device
	ctx context.Context
	out io.Writer
	s   *stream
	log *slog.Logger
	env map[string]string // the running command's VAR=value prefix
}

// command is a built-in: it writes to sh.out and returns an exit status.
type command func(sh *shell, args []string) int

// commands are the programs the device has.
var commands map[string]command

func init() {
	commands = map[string]command{
		"screenrecord": cmdScreenrecord,
		"screencap":    cmdScreencap,
		"wm":           cmdWm,
		"settings":     cmdSettings,
		"dumpsys":      cmdDumpsys,
		"getprop":      cmdGetprop,
		"input":        cmdInput,
		"echo":         cmdEcho,
		"devicesim":    cmdDevicesim,
		"app_process":  cmdAppProcess,
		"pm":           cmdPm, // pm.go
		"rm":           cmdRm,
		"true":         func(*shell, []string) int { return 0 },
		"false":        func(*shell, []string) int { return 1 },
	}
}

// errExit stops the shell: the "exit" built-in.
var errExit = errors.New("exit")

// service returns the handler for an OPEN's service string, or nil to
// refuse it.
func (d *Device) service(name string) func(context.Context, *stream) {
	kind, cmdline, ok := strings.Cut(name, ":")
	if !ok {
		return nil
	}
	switch {
	case kind == "shell", kind == "exec":
	case name == "sync:":
		return d.syncService
	case kind == "localabstract":
		return d.localAbstract(cmdline)
	case strings.HasPrefix(kind, "shell,"):
		// shell,v2,raw,TERM=...: only sent to devices that advertise
		// shell_v2, which this one does not.
		return nil
	default:
		return nil
	}
	return func(ctx context.Context, s *stream) {
		sh := &shell{d: d, ctx: ctx, out: s, s: s, log: s.log}
		if cmdline == "" {
			sh.interactive()
			return
		}
		_ = sh.runLine(cmdline)
	}
}

// runLine parses and runs one command line. It returns errExit when the
// line ran "exit".
func (sh *shell) runLine(line string) error {
	sh.d.recordLine(line)
	if c, ok := unquotedMeta(line); ok {
		sh.log.Warn("unquoted shell metacharacter kept literal; a real shell would interpret it",
			"char", string(c), "line", line)
	}
	cmds, err := parseCommandLine(line)
	if err != nil {
		fmt.Fprintf(sh.out, "/system/bin/sh: %v\n", err)
		return nil
	}
	status := 0
	skip := false
	for _, c := range cmds {
		if !skip {
			if c.Args[0] == "exit" {
				sh.d.recordCommand(c.Args)
				return errExit
			}
			status = sh.run(c.Args)
		}
		switch c.Next {
		case opAnd:
			skip = skip || status != 0
		case opOr:
			skip = !skip && status == 0
		default:
			skip = false
		}
		if sh.ctx.Err() != nil {
			return errExit
		}
	}
	return nil
}

// run runs one command and returns its exit status.
func (sh *shell) run(argv []string) int {
	sh.d.recordCommand(argv)
	sh.log.Info("command", "argv", argv)
	env, argv := splitAssignments(argv)
	if len(argv) == 0 {
		return 0 // only assignments: shell variables, which nothing reads
	}
	sh.env = env
	defer func() { sh.env = nil }()
	cmd, ok := commands[argv[0]]
	if !ok {
		fmt.Fprintf(sh.out, "/system/bin/sh: %s: inaccessible or not found\n", argv[0])
		return 127
	}
	return cmd(sh, argv[1:])
}

// interactive reads command lines from the stream and runs them until
// "exit" or the end of the stream. It prints no prompt and echoes nothing:
// the raw stream has no terminal.
func (sh *shell) interactive() {
	r := bufio.NewReaderSize(sh.s, 4096)
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine {
			fmt.Fprintf(sh.out, "/system/bin/sh: line longer than %d bytes discarded\n", maxLine)
			line = line[:0]
			for errors.Is(err, bufio.ErrBufferFull) { // skip the rest of it
				_, err = r.ReadSlice('\n')
			}
			if err != nil {
				return
			}
			continue
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil { // the host closed the stream
			return
		}
		text := string(bytes.TrimRight(line, "\r\n"))
		if _, perr := parseCommandLine(text); errors.Is(perr, errIncomplete) {
			continue // an open quote or a trailing operator: read on
		}
		line = line[:0]
		if sh.runLine(text) == errExit {
			return
		}
	}
}

// echo [-n] ARGS...
func cmdEcho(sh *shell, args []string) int {
	nl := true
	if len(args) > 0 && args[0] == "-n" {
		nl, args = false, args[1:]
	}
	s := strings.Join(args, " ")
	if nl {
		s += "\n"
	}
	_, _ = io.WriteString(sh.out, s)
	return 0
}

// devicesim streams | agents | clipboard [TEXT]: the simulator's own debug
// command (no real device has it). streams prints how many screenrecord
// commands are streaming now ([Device.ScreenrecordStreams]), agents how
// many input agents listen ([Device.Agents]); clipboard prints the
// clipboard, or sets it as an app on the phone would
// ([Device.SetClipboard]).
func cmdDevicesim(sh *shell, args []string) int {
	switch {
	case len(args) == 1 && args[0] == "streams":
		fmt.Fprintf(sh.out, "%d\n", sh.d.ScreenrecordStreams())
	case len(args) == 1 && args[0] == "agents":
		fmt.Fprintf(sh.out, "%d\n", sh.d.Agents())
	case len(args) == 1 && args[0] == "clipboard":
		fmt.Fprintln(sh.out, sh.d.Clipboard())
	case len(args) == 2 && args[0] == "clipboard":
		sh.d.SetClipboard(args[1])
	default:
		fmt.Fprintln(sh.out, "usage: devicesim streams | agents | clipboard [TEXT]")
		return 2
	}
	return 0
}
