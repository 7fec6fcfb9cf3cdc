package devicesim

import (
	"errors"
	"fmt"
	"strings"
)

// The device's shell parses command lines the way a POSIX shell parses
// simple commands, and executes none of the rest of the language: words are
// split on blanks; single quotes are literal; double quotes take backslash
// escapes of $ ` " \ and newline; a backslash outside quotes escapes the
// next character; an unquoted # starts a comment; ';', '&&', '||' and
// newlines separate commands. Everything else — $(...), backquotes, $VAR,
// globs, redirections, pipes, '&' — stays literal text inside its word and
// is never expanded or executed.

// Parse errors. errIncomplete means the line ends inside a quote, after a
// trailing backslash or after '&&'/'||': an interactive shell reads another
// line and tries again.
var (
	errIncomplete = errors.New("unexpected end of input")
	errSyntax     = errors.New("syntax error")
)

// Operators that join a command to the next one.
const (
	opSeq = ";"  // ';' or newline: run the next one regardless
	opAnd = "&&" // run the next one if this one succeeded
	opOr  = "||" // run the next one if this one failed
)

// simpleCommand is one parsed command: its argv and the operator that joins
// it to the next command ("" for the last one).
type simpleCommand struct {
	Args []string
	Next string
}

// parseCommandLine splits line into simple commands.
func parseCommandLine(line string) ([]simpleCommand, error) {
	var (
		cmds    []simpleCommand
		args    []string
		word    strings.Builder
		inWord  bool // a word has started (possibly empty, as with '')
		pending string
	)
	endWord := func() {
		if inWord {
			args = append(args, word.String())
			word.Reset()
			inWord = false
		}
	}
	// endCommand closes the current command with operator op.
	endCommand := func(op string) error {
		endWord()
		if len(args) == 0 {
			if op == "\n" {
				return nil // blank line, or a continuation after ';', '&&' or '||'
			}
			return fmt.Errorf("%w: unexpected %q", errSyntax, op)
		}
		if op == "\n" {
			op = opSeq
		}
		cmds = append(cmds, simpleCommand{Args: args, Next: op})
		args = nil
		pending = op
		return nil
	}

	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			endWord()
		case c == '\n':
			if err := endCommand("\n"); err != nil {
				return nil, err
			}
		case c == ';':
			if err := endCommand(opSeq); err != nil {
				return nil, err
			}
		case c == '&' && i+1 < len(line) && line[i+1] == '&':
			i++
			if err := endCommand(opAnd); err != nil {
				return nil, err
			}
		case c == '|' && i+1 < len(line) && line[i+1] == '|':
			i++
			if err := endCommand(opOr); err != nil {
				return nil, err
			}
		case c == '#' && !inWord:
			// A comment runs to the end of the line.
			for i+1 < len(line) && line[i+1] != '\n' {
				i++
			}
		case c == '\\':
			if i+1 >= len(line) {
				return nil, fmt.Errorf("%w: trailing backslash", errIncomplete)
			}
			i++
			if line[i] == '\n' {
				continue // line continuation
			}
			word.WriteByte(line[i])
			inWord = true
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated single quote", errIncomplete)
			}
			word.WriteString(line[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(line); i++ {
				c := line[i]
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i+1 < len(line) {
					switch line[i+1] {
					case '$', '`', '"', '\\':
						i++
						word.WriteByte(line[i])
						continue
					case '\n':
						i++
						continue
					}
				}
				word.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated double quote", errIncomplete)
			}
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	endWord()
	if len(args) > 0 {
		cmds = append(cmds, simpleCommand{Args: args})
	} else if pending == opAnd || pending == opOr {
		return nil, fmt.Errorf("%w: %q needs a command after it", errIncomplete, pending)
	}
	if n := len(cmds); n > 0 {
		cmds[n-1].Next = ""
	}
	return cmds, nil
}

// splitAssignments takes the leading NAME=value words off argv, as a
// shell takes the environment of one command ("CLASSPATH=x app_process
// ..."). The words are already unquoted, so a quoted one counts too,
// where a real shell would take it for the command's name.
func splitAssignments(argv []string) (env map[string]string, rest []string) {
	for len(argv) > 0 {
		name, value, ok := strings.Cut(argv[0], "=")
		if !ok || !isName(name) {
			break
		}
		if env == nil {
			env = make(map[string]string)
		}
		env[name] = value
		argv = argv[1:]
	}
	return env, argv
}

// isName reports whether s is a shell variable name.
func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// shellQuote quotes s as one word for a POSIX shell: single quotes, with
// each embedded single quote written as '\”.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("@%+=:,./_-", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellJoin quotes each word and joins them with spaces.
func shellJoin(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// unquotedMeta reports the first shell metacharacter that a real shell
// would interpret but this one keeps literal, if line has one outside
// quotes. The device logs it: a caller that meant it literally forgot to
// quote it.
func unquotedMeta(line string) (byte, bool) {
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case '\\':
			i++
		case '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return 0, false
			}
			i += end + 1
		case '"':
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' {
					i++
				} else if line[i] == '$' || line[i] == '`' {
					return line[i], true
				}
			}
		case '|', '&', '<', '>', '(', ')', '$', '`', '*', '?', '[', '~', '{':
			if (c == '&' || c == '|') && i+1 < len(line) && line[i+1] == c {
				i++
				continue
			}
			return c, true
		}
	}
	return 0, false
}
