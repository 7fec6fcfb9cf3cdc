// Command benchtable reads `go test -bench` output on stdin and prints the
// side-by-side table of each benchmark group: every variant's metrics, and
// the first variant's ratios against the others.
//
// A group is a benchmark name without its last element
// (BenchmarkX264/720p); the last element names the variant (inprocess,
// subprocess-lockstep, ...). Ratios are written so that above 1 means the
// first variant is better.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
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

// result is one benchmark line: its variant and metrics by unit, with the
// units in the order they appeared.
type result struct {
	variant string
	metrics map[string]float64
	units   []string
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
		var units []string
		for i := 2; i+1 < len(f); i += 2 {
			var v float64
			if _, err := fmt.Sscan(f[i], &v); err != nil {
				return nil, nil, fmt.Errorf("%s: metric %q: %w", f[0], f[i], err)
			}
			m[f[i+1]] = v
			units = append(units, f[i+1])
		}
		if _, ok := groups[group]; !ok {
			order = append(order, group)
		}
		groups[group] = append(groups[group], result{variant, m, units})
	}
	return groups, order, sc.Err()
}

// known orders the metrics that have a place, with their headings and
// whether a higher value is better; other metrics follow in input order.
var known = []struct {
	unit, head   string
	higherBetter bool
}{
	{"fps", "fps", true},
	{"MB/s", "MB/s", true},
	{"p50-ms", "latency p50 ms", false},
	{"p99-ms", "latency p99 ms", false},
	{"cpu-ms/frame", "CPU ms/frame", false},
	{"ns/op", "ns/op", false},
	{"bytes/frame", "bytes/frame", false},
	{"B/op", "B/op", false},
	{"allocs/op", "allocs/op", false},
}

// noRatio are metrics reported but not compared.
var noRatio = map[string]bool{"bytes/frame": true, "B/op": true, "allocs/op": true, "png-bytes": true}

type column struct {
	unit, head   string
	higherBetter bool
}

// columnsOf returns the columns of a group: the known metrics it has, then
// the others (lower taken as better), dropping ns/op where a rate says more.
func columnsOf(rs []result) []column {
	has := map[string]bool{}
	var order []string
	for _, r := range rs {
		for _, u := range r.units {
			if !has[u] {
				has[u] = true
				order = append(order, u)
			}
		}
	}
	var cols []column
	for _, k := range known {
		if has[k.unit] && !(k.unit == "ns/op" && (has["fps"] || has["MB/s"])) {
			cols = append(cols, column{k.unit, k.head, k.higherBetter})
		}
	}
	for _, u := range order {
		if !slices.ContainsFunc(known, func(k struct {
			unit, head   string
			higherBetter bool
		}) bool {
			return k.unit == u
		}) {
			cols = append(cols, column{u, u, false})
		}
	}
	return cols
}

// write prints each group's table. The first variant of a group is the
// one the ratio rows compare with the others.
func write(w io.Writer, groups map[string][]result, order []string) {
	for _, g := range order {
		rs := groups[g]
		cols := columnsOf(rs)
		base := rs[0]
		fmt.Fprintf(w, "\n%s", strings.TrimPrefix(g, "Benchmark"))
		if len(rs) > 1 {
			fmt.Fprintf(w, " (ratio rows: above 1× means %s is better)", base.variant)
		}
		fmt.Fprint(w, "\n\n| variant |")
		for _, c := range cols {
			fmt.Fprintf(w, " %s |", c.head)
		}
		fmt.Fprint(w, "\n|---|")
		for range cols {
			fmt.Fprint(w, "---:|")
		}
		fmt.Fprintln(w)
		for _, r := range rs {
			fmt.Fprintf(w, "| %s |", r.variant)
			for _, c := range cols {
				if v, ok := r.metrics[c.unit]; ok {
					fmt.Fprintf(w, " %s |", format(v))
				} else {
					fmt.Fprint(w, " – |")
				}
			}
			fmt.Fprintln(w)
		}
		for _, r := range rs[1:] {
			fmt.Fprintf(w, "| %s ÷ %s |", base.variant, r.variant)
			for _, c := range cols {
				a, okA := base.metrics[c.unit]
				b, okB := r.metrics[c.unit]
				switch {
				case !okA || !okB || noRatio[c.unit]:
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
