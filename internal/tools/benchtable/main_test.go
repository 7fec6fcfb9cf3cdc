package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkX264/720p/inprocess-2         	      60	   8551460 ns/op	      7160 bytes/frame	       116.9 fps	         7.581 p50-ms	        38.32 p99-ms	       2 B/op	       0 allocs/op
BenchmarkX264/720p/subprocess-lockstep-2         	      60	   9096622 ns/op	      7467 bytes/frame	       109.9 fps	         8.596 p50-ms	        18.29 p99-ms	   21225 B/op	       5 allocs/op
PASS
`

func TestTable(t *testing.T) {
	groups, order, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != 1 || order[0] != "BenchmarkX264/720p" || len(groups[order[0]]) != 2 {
		t.Fatalf("groups %v %v", order, groups)
	}
	var b bytes.Buffer
	write(&b, groups, order)
	out := b.String()
	for _, want := range []string{
		"X264/720p (ratio rows: above 1× means inprocess is better)",
		"| inprocess | 117 | 7.58 | 38.32 | 7160 | 2 | 0 |",
		"| inprocess ÷ subprocess-lockstep | 1.06× | 1.13× | 0.48× |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestParseRejectsBadMetric(t *testing.T) {
	if _, _, err := parse(strings.NewReader("BenchmarkA/b-2 10 xx ns/op\n")); err == nil {
		t.Fatal("parse accepted a non-numeric metric")
	}
}
