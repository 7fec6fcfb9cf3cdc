package devicesim

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseCommandLine(t *testing.T) {
	type cmds = []simpleCommand
	one := func(args ...string) cmds { return cmds{{Args: args}} }
	for _, tc := range []struct {
		line string
		want cmds
		err  error
	}{
		{"", nil, nil},
		{"   \t ", nil, nil},
		{"wm size", one("wm", "size"), nil},
		{"  input   tap\t100  200 ", one("input", "tap", "100", "200"), nil},
		{`input text 'a b'`, one("input", "text", "a b"), nil},
		{`input text "a b"`, one("input", "text", "a b"), nil},
		{`echo '' x`, one("echo", "", "x"), nil},
		{`echo ""`, one("echo", ""), nil},
		{`echo a''b`, one("echo", "ab"), nil},
		{`echo 'it'\''s'`, one("echo", "it's"), nil},
		{`echo "say \"hi\" \$HOME \\ \x"`, one("echo", `say "hi" $HOME \ \x`), nil},
		{`echo a\ b \' \"`, one("echo", "a b", "'", `"`), nil},
		{"echo 'multi\nline'", one("echo", "multi\nline"), nil},
		{"echo a\\\nb", one("echo", "ab"), nil},
		{`echo $(rm -rf /)`, one("echo", "$(rm", "-rf", "/)"), nil},
		{"echo `reboot`", one("echo", "`reboot`"), nil},
		{`echo a|b >c <d & *`, one("echo", "a|b", ">c", "<d", "&", "*"), nil},
		{`echo $HOME ~`, one("echo", "$HOME", "~"), nil},
		{"echo a # comment; reboot", one("echo", "a"), nil},
		{"echo a#b", one("echo", "a#b"), nil},
		{"echo '#'", one("echo", "#"), nil},
		{"# only a comment", nil, nil},
		{"echo a; reboot", cmds{{Args: []string{"echo", "a"}, Next: opSeq}, {Args: []string{"reboot"}}}, nil},
		{"echo a;reboot;", cmds{{Args: []string{"echo", "a"}, Next: opSeq}, {Args: []string{"reboot"}}}, nil},
		{"a && b || c", cmds{{Args: []string{"a"}, Next: opAnd}, {Args: []string{"b"}, Next: opOr}, {Args: []string{"c"}}}, nil},
		{"a&&b", cmds{{Args: []string{"a"}, Next: opAnd}, {Args: []string{"b"}}}, nil},
		{"a\nb\n\nc\n", cmds{{Args: []string{"a"}, Next: opSeq}, {Args: []string{"b"}, Next: opSeq}, {Args: []string{"c"}}}, nil},
		{"a &&\nb", cmds{{Args: []string{"a"}, Next: opAnd}, {Args: []string{"b"}}}, nil},
		{"'a;b' \"c&&d\" e\\;f", one("a;b", "c&&d", "e;f"), nil},
		{"input text '; rm -rf / #'", one("input", "text", "; rm -rf / #"), nil},
		{"héllo ☃", one("héllo", "☃"), nil},

		{"echo 'open", nil, errIncomplete},
		{`echo "open`, nil, errIncomplete},
		{`echo "open\"`, nil, errIncomplete},
		{`echo a\`, nil, errIncomplete},
		{"a &&", nil, errIncomplete},
		{"a ||  ", nil, errIncomplete},
		{"; a", nil, errSyntax},
		{"a;; b", nil, errSyntax},
		{"a && ; b", nil, errSyntax},
		{"&& a", nil, errSyntax},
	} {
		got, err := parseCommandLine(tc.line)
		if !errors.Is(err, tc.err) {
			t.Errorf("parseCommandLine(%q) error = %v, want %v", tc.line, err, tc.err)
			continue
		}
		if tc.err == nil && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseCommandLine(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":          "''",
		"abc-1.2_x": "abc-1.2_x",
		"a b":       "'a b'",
		"it's":      `'it'\''s'`,
		"$(x)":      "'$(x)'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestUnquotedMeta(t *testing.T) {
	for line, want := range map[string]bool{
		"input tap 1 2":          false,
		"input text 'a|b$(c)'":   false,
		`input text "a|b"`:       false,
		`input text "$(x)"`:      true,
		"a && b || c; d":         false,
		"input text a|b":         true,
		"echo $(rm -rf /)":       true,
		"echo \\$x":              false,
		"echo a>b":               true,
		"echo *":                 true,
		"input text 'unclosed |": false,
	} {
		if _, got := unquotedMeta(line); got != want {
			t.Errorf("unquotedMeta(%q) = %v, want %v", line, got, want)
		}
	}
}

// FuzzShellWords checks the parser against the quoting that a correct
// caller uses: any list of words, each quoted with shellQuote and joined
// with blanks, parses back to exactly that list, as one command. The input
// is also parsed as a command line of its own, which must not panic and
// whose words must survive the same round trip.
func FuzzShellWords(f *testing.F) {
	for _, s := range []string{
		"input text hello",
		"input\x00text\x00'; rm -rf / #",
		"echo\x00$(reboot)\x00`id`",
		"a b\tc\nd",
		"\x00\x00",
		`"quoted \"inner\"" 'single'`,
		"a && b || c; d # comment",
		"it's\x00\\\x00%s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// s as a list of words separated by NUL, which no command line
		// can carry.
		words := strings.Split(s, "\x00")
		line := shellJoin(words)
		cmds, err := parseCommandLine(line)
		if err != nil {
			t.Fatalf("parseCommandLine(%q): %v", line, err)
		}
		if len(cmds) != 1 || !reflect.DeepEqual(cmds[0].Args, words) {
			t.Fatalf("words %q quoted as %q parse to %q", words, line, cmds)
		}

		// s as a command line.
		if strings.ContainsRune(s, 0) {
			return
		}
		cmds, err = parseCommandLine(s)
		if err != nil {
			if !errors.Is(err, errIncomplete) && !errors.Is(err, errSyntax) {
				t.Fatalf("parseCommandLine(%q): unexpected error %v", s, err)
			}
			return
		}
		for _, c := range cmds {
			if len(c.Args) == 0 {
				t.Fatalf("parseCommandLine(%q) made an empty command", s)
			}
			again, err := parseCommandLine(shellJoin(c.Args))
			if err != nil || len(again) != 1 || !reflect.DeepEqual(again[0].Args, c.Args) {
				t.Fatalf("words %q do not survive quoting: %q, %v", c.Args, again, err)
			}
		}
		if !strings.ContainsAny(s, "'\"\\") {
			// Without quotes or escapes, every word is a run of characters
			// between blanks (space and tab only, as in POSIX), newlines and
			// operators: never more words than such runs.
			ops := strings.NewReplacer("&&", " ", "||", " ").Replace(s)
			runs := len(strings.FieldsFunc(ops, func(r rune) bool { return strings.ContainsRune(" \t\n;", r) }))
			words := 0
			for _, c := range cmds {
				words += len(c.Args)
			}
			if words > runs {
				t.Fatalf("parseCommandLine(%q) made %d words from %d runs", s, words, runs)
			}
		}
	})
}
