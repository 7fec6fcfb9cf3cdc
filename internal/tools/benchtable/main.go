// Command benchtable reads `go test -bench` output on stdin and prints the
// side-by-side table of each benchmark group: every variant's metrics, and
// the in-process variant's ratios against the others.
//
// A group is a benchmark name without its last element
// (BenchmarkX264/720p); the last element names the variant (inprocess,
// subprocess-lockstep, ...). Ratios are written so that above 1 means the
// in-process variant is better.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	groups, order, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(order) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results on stdin")
		os.Exit(1)
	}
	write(os.Stdout, groups, order)
}

// result is one benchmark line: its variant and metrics by unit.
type result struct {
	variant string
	metrics map[string]float64
}

// parse collects benchmark lines into groups, in input order.
func parse(r io.Reader) (map[string][]result, []string, error) {
	groups := map[string][]result{}
	var order []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 && strings.Trim(name[i+1:], "0123456789") == "" {
			name = name[:i] // GOMAXPROCS suffix
		}
		group, variant := name, ""
		if i := strings.LastIndexByte(name, '/'); i > 0 {
			group, variant = name[:i], name[i+1:]
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			var v float64
			if _, err := fmt.Sscan(f[i], &v); err != nil {
				return nil, nil, fmt.Errorf("%s: metric %q: %w", f[0], f[i], err)
			}
			m[f[i+1]] = v
		}
		if _, ok := groups[group]; !ok {
			order = append(order, group)
		}
		groups[group] = append(groups[group], result{variant, m})
	}
	return groups, order, sc.Err()
}

// columns are the metrics shown, in order, with their headings and whether
// a higher value is better.
var columns = []struct {
	unit, head   string
	higherBetter bool
}{
	{"fps", "fps", true},
	{"p50-ms", "latency p50 ms", false},
	{"p99-ms", "latency p99 ms", false},
	{"cpu-ms/frame", "CPU ms/frame", false},
	{"bytes/frame", "bytes/frame", false},
	{"B/op", "B/op", false},
	{"allocs/op", "allocs/op", false},
}

func write(w io.Writer, groups map[string][]result, order []string) {
	for _, g := range order {
		rs := groups[g]
		fmt.Fprintf(w, "\n%s (ratio rows: above 1× means in-process is better)\n\n", strings.TrimPrefix(g, "Benchmark"))
		fmt.Fprint(w, "| variant |")
		for _, c := range columns {
			fmt.Fprintf(w, " %s |", c.head)
		}
		fmt.Fprint(w, "\n|---|")
		for range columns {
			fmt.Fprint(w, "---:|")
		}
		fmt.Fprintln(w)
		var base *result
		for i := range rs {
			if rs[i].variant == "inprocess" {
				base = &rs[i]
			}
			fmt.Fprintf(w, "| %s |", rs[i].variant)
			for _, c := range columns {
				if v, ok := rs[i].metrics[c.unit]; ok {
					fmt.Fprintf(w, " %s |", format(v))
				} else {
					fmt.Fprint(w, " – |")
				}
			}
			fmt.Fprintln(w)
		}
		if base == nil {
			continue
		}
		for _, r := range rs {
			if r.variant == base.variant {
				continue
			}
			fmt.Fprintf(w, "| in-process ÷ %s |", r.variant)
			for _, c := range columns {
				a, okA := base.metrics[c.unit]
				b, okB := r.metrics[c.unit]
				switch {
				case !okA || !okB || c.unit == "B/op" || c.unit == "allocs/op" || c.unit == "bytes/frame":
					fmt.Fprint(w, " |")
				case c.higherBetter && b > 0:
					fmt.Fprintf(w, " %.2f× |", a/b)
				case !c.higherBetter && a > 0:
					fmt.Fprintf(w, " %.2f× |", b/a)
				default:
					fmt.Fprint(w, " |")
				}
			}
			fmt.Fprintln(w)
		}
	}
}

func format(v float64) string {
	switch {
	case v == float64(int64(v)):
		return fmt.Sprintf("%d", int64(v))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
