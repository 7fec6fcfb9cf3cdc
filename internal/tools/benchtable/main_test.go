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

// TestTranscodeTable: the transcode benchmark (decode + encode) gets its
// own table next to the encode one's, with its own ratio rows.
func TestTranscodeTable(t *testing.T) {
	in := sample + `BenchmarkTranscode/720p/inprocess-2   200  12054287 ns/op  8065 bytes/frame  17.58 cpu-ms/frame  82.97 fps  11.44 p50-ms  21.15 p99-ms  186 B/op  2 allocs/op
BenchmarkTranscode/720p/subprocess-lockstep-2  200  11526635 ns/op  8059 bytes/frame  18.54 cpu-ms/frame  86.77 fps  10.94 p50-ms  23.27 p99-ms  22488 B/op  5 allocs/op
`
	groups, order, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || order[1] != "BenchmarkTranscode/720p" {
		t.Fatalf("groups %v", order)
	}
	var b bytes.Buffer
	write(&b, groups, order)
	out := b.String()
	for _, want := range []string{
		"X264/720p (ratio rows: above 1× means inprocess is better)",
		"Transcode/720p (ratio rows: above 1× means inprocess is better)",
		"| inprocess | 82.97 | 11.44 | 21.15 | 17.58 | 8065 | 186 | 2 |",
		"| inprocess ÷ subprocess-lockstep | 0.96× | 0.96× | 1.10× | 1.05× |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
