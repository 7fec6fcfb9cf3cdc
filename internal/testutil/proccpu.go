package testutil

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// ProcessCPU returns the user and system CPU seconds a process has used,
// from /proc (clock ticks of 1/100 s, Linux's USER_HZ). It fails the test
// when the process is not there.
func ProcessCPU(tb testing.TB, pid int) float64 {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}
