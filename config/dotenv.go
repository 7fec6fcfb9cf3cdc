package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// KeyValue is one assignment of a .env file.
type KeyValue struct {
	Key, Value string
	Line       int
}

// ErrSyntax is returned for a .env line that is not an assignment.
var ErrSyntax = errors.New("syntax error")

var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxEnvFile bounds what ParseEnv reads; a configuration file is small.
const maxEnvFile = 1 << 20

// ParseEnv parses a .env file: KEY=VALUE lines, an optional "export "
// prefix, blank lines and # comments. A value may be wrapped in single
// quotes (taken literally) or double quotes (with \n, \t, \" and \\
// escapes); an unquoted value ends at " #".
func ParseEnv(data []byte) ([]KeyValue, error) {
	if len(data) > maxEnvFile {
		return nil, fmt.Errorf("%w: file of %d bytes exceeds %d", ErrSyntax, len(data), maxEnvFile)
	}
	var out []KeyValue
	for i, raw := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		line := strings.TrimSpace(strings.TrimSuffix(string(raw), "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !envKey.MatchString(key) {
			return nil, fmt.Errorf("line %d: %w: want KEY=VALUE", n, ErrSyntax)
		}
		v, err := parseValue(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", n, key, err)
		}
		out = append(out, KeyValue{Key: key, Value: v, Line: n})
	}
	return out, nil
}

func parseValue(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch v[0] {
	case '\'':
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", fmt.Errorf("%w: unterminated single quote", ErrSyntax)
		}
		if rest := strings.TrimSpace(v[end+2:]); rest != "" && rest[0] != '#' {
			return "", fmt.Errorf("%w: text after closing quote", ErrSyntax)
		}
		return v[1 : end+1], nil
	case '"':
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch c := v[i]; c {
			case '"':
				if rest := strings.TrimSpace(v[i+1:]); rest != "" && rest[0] != '#' {
					return "", fmt.Errorf("%w: text after closing quote", ErrSyntax)
				}
				return b.String(), nil
			case '\\':
				if i+1 == len(v) {
					return "", fmt.Errorf("%w: unterminated double quote", ErrSyntax)
				}
				i++
				switch v[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case '"', '\\':
					b.WriteByte(v[i])
				default:
					b.WriteByte('\\')
					b.WriteByte(v[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		return "", fmt.Errorf("%w: unterminated double quote", ErrSyntax)
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v), nil
}
