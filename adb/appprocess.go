package adb

import (
	"context"
	"fmt"
	"strings"
)

// AppProcess starts a Java program on the device the way the shell user
// runs dex tools: CLASSPATH=classpath app_process / class args... Without
// the shell protocol (which this client does not use) adbd joins the
// program's standard error to its output. The returned stream carries
// the program's output and ends when the program does; closing it closes
// the program's standard input (a program that watches it, as the input
// agent does, exits). Every word is quoted (ShellCommand).
func (c *Client) AppProcess(ctx context.Context, serial, classpath, class string, args ...string) (*Stream, error) {
	if !strings.HasPrefix(classpath, "/") {
		return nil, fmt.Errorf("%w: class path %q is not absolute", ErrInvalidArgument, classpath)
	}
	cmd, err := ShellCommand("app_process", append([]string{"/", class}, args...)...)
	if err != nil {
		return nil, err
	}
	cp, err := ShellCommand(classpath)
	if err != nil {
		return nil, err
	}
	return c.open(ctx, serial, "shell:CLASSPATH="+cp+" "+cmd)
}
