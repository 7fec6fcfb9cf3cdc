package metrics

// Tests of what deploy/ ships for monitoring the service: the Prometheus
// alert rules (checked and unit-tested by promtool), the example
// Prometheus configuration, and the Grafana dashboard; and that every
// series they name is one the service exports.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/cloudphone/media-service/fanout"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/encoder"
	"github.com/cloudphone/media-service/internal/testutil"
	"github.com/cloudphone/media-service/rtc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const (
	deployDir      = "../deploy"
	rulesFile      = deployDir + "/prometheus/media-service.rules.yml"
	rulesTestFile  = deployDir + "/prometheus/media-service.rules.test.yml"
	promConfigFile = deployDir + "/prometheus/prometheus.yml"
	dashboardFile  = deployDir + "/grafana/media-service.json"
)

// wantAlerts are the alerts the rules file must define.
var wantAlerts = []string{
	"MediaServiceStreamStalled",
	"MediaServiceEncoderReplacementsClimbing",
	"MediaServiceLatencyHigh",
	"MediaServiceFanoutSlow",
	"MediaServiceGoroutineGrowth",
	"MediaServiceNoDevice",
	"MediaServiceConfigReloadFailed",
}

// wantCharted are series the dashboard must chart.
var wantCharted = []string{
	"media_service_pipeline_fps",
	"media_service_pipeline_bitrate_bytes",
	"media_service_e2e_latency_seconds_bucket",
	"media_service_encode_latency_seconds_bucket",
	"media_service_encoder_replacements_total",
	"media_service_encoder_chain_restarts_total",
	"media_service_process_stalls_total",
	"media_service_frames_dropped_total",
	"media_service_viewers",
	"media_service_active_sessions",
	"media_service_sessions_total",
	"media_service_goroutines",
	"media_service_cpu_percent",
	"media_service_memory_bytes",
	"media_service_open_fds",
	"media_service_capture_errors_total",
	"media_service_capture_restarts_total",
	"media_service_recordings_running",
	"media_service_recording_bytes_written_total",
	"media_service_recording_failures_total",
}

// pendingSeries are series the rules or the dashboard use that the service
// does not export yet, with what is to export them. Once one is exported,
// TestDeploySeriesExported fails until it is taken off this list.
var pendingSeries = map[string]string{}

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

// promtool returns the promtool program's path; without one it skips the
// test (fails it under CI=true).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		testutil.SkipOrFail(t, "promtool not found (Debian package prometheus; third_party/install-deps.sh test installs it)")
	}
	return p
}

// runPromtool runs promtool with args in dir and fails the test with its
// output when it fails.
func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	out := runPromtool(t, ".", "check", "rules", rulesFile)
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(wantAlerts)); !strings.Contains(out, want) {
		t.Errorf("promtool check rules: want %q in\n%s", want, out)
	}
}

// TestPromtoolTestRules runs the alerts' unit tests: each alert fires
// where it should, with its labels and annotations, and not elsewhere.
func TestPromtoolTestRules(t *testing.T) {
	runPromtool(t, filepath.Dir(rulesTestFile), "test", "rules", filepath.Base(rulesTestFile))
}

// TestPromtoolCheckConfig checks the example configuration, and the rules
// it loads, with its token file swapped for one that exists.
func TestPromtoolCheckConfig(t *testing.T) {
	cfg, err := os.ReadFile(promConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(\s*credentials_file:\s*)\S+$`)
	if !re.Match(cfg) {
		t.Fatalf("%s: no authorization credentials_file (/metrics answers loopback or a bearer token)", promConfigFile)
	}
	cfg = re.ReplaceAll(cfg, []byte("${1}"+token))
	if !bytes.Contains(cfg, []byte("- media-service.rules.yml")) {
		t.Fatalf("%s does not load media-service.rules.yml", promConfigFile)
	}
	if !regexp.MustCompile(`(?m)^\s*- job_name: media-service$`).Match(cfg) || !regexp.MustCompile(`(?m)^\s*metrics_path: /metrics$`).Match(cfg) {
		t.Fatalf("%s: want job media-service scraping /metrics", promConfigFile)
	}
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"prometheus.yml": cfg, "media-service.rules.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := runPromtool(t, dir, "check", "config", "prometheus.yml")
	if !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(wantAlerts))) {
		t.Errorf("promtool check config did not check the rules:\n%s", out)
	}
}

// TestDashboardQueriesParse has promtool parse every query of the
// dashboard, written as recording rules with Grafana's variables filled
// in.
func TestDashboardQueriesParse(t *testing.T) {
	d := loadDashboard(t)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, q := range d.queries() {
		expr := q.expr
		if q.variable != "" {
			m := labelValuesRE.FindStringSubmatch(expr)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", q.variable, expr)
				continue
			}
			expr = m[1]
		}
		quoted, err := json.Marshal(fillVariables(expr))
		if err != nil {
			t.Fatal(err)
		}
		n++
		fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", n, quoted)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.rules.yml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runPromtool(t, dir, "check", "rules", "dashboard.rules.yml")
	if want := fmt.Sprintf("SUCCESS: %d rules found", n); !strings.Contains(out, want) {
		t.Errorf("want %q in\n%s", want, out)
	}
}

var grafanaVariableRE = regexp.MustCompile(`\$\{[a-zA-Z_][a-zA-Z0-9_]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*`)

// fillVariables replaces Grafana's variables as Grafana would: interval
// variables with a duration, the others with a regular expression.
func fillVariables(expr string) string {
	return grafanaVariableRE.ReplaceAllStringFunc(expr, func(v string) string {
		switch strings.Trim(v, "${}") {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		}
		return ".*"
	})
}

// TestDashboardStructure checks that the dashboard imports: a datasource
// input every panel and query uses, the instance and device variables,
// panels that fit the grid without overlapping, each with queries.
func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || !regexp.MustCompile(`^[a-zA-Z0-9_-]{1,40}$`).MatchString(d.UID) {
		t.Errorf("title %q, uid %q", d.Title, d.UID)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want 36 or later", d.SchemaVersion)
	}
	if d.ID != nil {
		t.Errorf("id %v: an exported dashboard has none (null)", d.ID)
	}
	if !slices.ContainsFunc(d.Inputs, func(in dashInput) bool {
		return in.Name == "DS_PROMETHEUS" && in.Type == "datasource" && in.PluginID == "prometheus"
	}) {
		t.Errorf("__inputs %+v: want the datasource input DS_PROMETHEUS (prometheus)", d.Inputs)
	}
	required := map[string]bool{}
	for _, r := range d.Requires {
		required[r.Type+"/"+r.ID] = true
	}
	if !required["datasource/prometheus"] || !required["grafana/grafana"] {
		t.Errorf("__requires %+v: want grafana and the prometheus datasource", d.Requires)
	}
	wantDS := func(what string, ds *dashDatasource) {
		t.Helper()
		if ds == nil || ds.Type != "prometheus" || ds.UID != "${DS_PROMETHEUS}" {
			t.Errorf("%s: datasource %+v, want prometheus ${DS_PROMETHEUS}", what, ds)
		}
	}

	vars := map[string]dashVariable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
		wantDS("variable "+v.Name, v.Datasource)
	}
	for name, metric := range map[string]string{"instance": "media_service_goroutines", "device": "media_service_pipeline_fps"} {
		v, ok := vars[name]
		if !ok {
			t.Errorf("no %s variable", name)
			continue
		}
		m := labelValuesRE.FindStringSubmatch(v.query())
		if v.Type != "query" || m == nil || m[2] != name || !strings.HasPrefix(m[1], metric) {
			t.Errorf("variable %s: type %q, query %q: want label_values(%s…, %s)", name, v.Type, v.query(), metric, name)
		}
	}

	ids := map[int]bool{}
	var boxes []dashGridPos
	var titles []string
	types := map[string]bool{"row": true, "timeseries": true, "stat": true, "table": true}
	for _, p := range d.Panels {
		what := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 || ids[p.ID] {
			t.Errorf("%s: id missing or not unique", what)
		}
		ids[p.ID] = true
		if !types[p.Type] {
			t.Errorf("%s: type %q", what, p.Type)
		}
		if p.Type != "row" && !required["panel/"+p.Type] {
			t.Errorf("%s: __requires lacks panel %s", what, p.Type)
		}
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", what, g)
		}
		for i, b := range boxes {
			if g.X < b.X+b.W && b.X < g.X+g.W && g.Y < b.Y+b.H && b.Y < g.Y+g.H {
				t.Errorf("%s: gridPos %+v overlaps %q %+v", what, g, titles[i], b)
			}
		}
		boxes, titles = append(boxes, g), append(titles, p.Title)
		if p.Title == "" {
			t.Errorf("%s: no title", what)
		}
		if p.Type == "row" {
			if len(p.Targets) > 0 || len(p.Panels) > 0 {
				t.Errorf("%s: a row with queries or collapsed panels", what)
			}
			continue
		}
		wantDS(what, p.Datasource)
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", what)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			wantDS(what+" query "+tg.RefID, tg.Datasource)
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: refId %q missing or not unique", what, tg.RefID)
			}
			refs[tg.RefID] = true
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s query %s: no expr", what, tg.RefID)
			}
		}
	}
	if len(boxes) < 10 {
		t.Errorf("%d panels", len(boxes))
	}
}

// TestRulesStructure checks that every alert has a severity, a summary
// and a description, and unit tests that fire it and that do not.
func TestRulesStructure(t *testing.T) {
	rules := loadAlertRules(t)
	var names []string
	for _, r := range rules {
		names = append(names, r.name)
		if s := r.labels["severity"]; s != "critical" && s != "warning" && s != "info" {
			t.Errorf("%s: severity %q, want critical, warning or info", r.name, s)
		}
		for _, a := range []string{"summary", "description"} {
			if r.annotations[a] == "" {
				t.Errorf("%s: no %s annotation", r.name, a)
			}
		}
		if r.expr == "" {
			t.Errorf("%s: no expr", r.name)
		}
	}
	if !slices.Equal(names, wantAlerts) {
		t.Errorf("alerts %v, want %v", names, wantAlerts)
	}

	// In the unit tests, each alert needs an evaluation that expects it
	// and one that expects none.
	data, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		name, ok := strings.CutPrefix(strings.TrimSpace(l), "alertname: ")
		if !ok {
			continue
		}
		for _, next := range lines[i+1:] {
			switch strings.TrimSpace(next) {
			case "":
				continue
			case "exp_alerts: []":
				quiet[name] = true
			case "exp_alerts:":
				fires[name] = true
			}
			break
		}
	}
	for _, name := range wantAlerts {
		if !fires[name] || !quiet[name] {
			t.Errorf("%s: %s has no unit test where it fires (%v) or none where it does not (%v)", rulesTestFile, name, fires[name], quiet[name])
		}
	}
}

// TestDeploySeriesExported checks that every series the dashboard and the
// rules name is one the service exports, with the labels they use.
func TestDeploySeriesExported(t *testing.T) {
	exported := exportedSeries(t)
	type source struct {
		what, expr string
		panel      bool // a panel's query: it follows the instance and device variables
	}
	var sources []source
	for _, r := range loadAlertRules(t) {
		sources = append(sources, source{"alert " + r.name, r.expr, false})
	}
	d := loadDashboard(t)
	for _, q := range d.queries() {
		expr := q.expr
		if q.variable != "" {
			m := labelValuesRE.FindStringSubmatch(expr)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", q.variable, expr)
				continue
			}
			expr = m[1]
			refs, err := scanPromQL(expr)
			if err == nil && len(refs.selectors) == 1 && !exported[refs.selectors[0].name][m[2]] && !slices.Contains(targetLabels, m[2]) {
				t.Errorf("variable %s: %s has no label %s", q.variable, refs.selectors[0].name, m[2])
			}
		}
		sources = append(sources, source{q.what, expr, q.variable == ""})
	}

	used := map[string]bool{}
	for _, s := range sources {
		refs, err := scanPromQL(s.expr)
		if err != nil {
			t.Errorf("%s: %v", s.what, err)
			continue
		}
		if len(refs.selectors) == 0 {
			t.Errorf("%s: %q names no series", s.what, s.expr)
		}
		labels := map[string]bool{}
		for _, l := range targetLabels {
			labels[l] = true
		}
		for _, sel := range refs.selectors {
			used[sel.name] = true
			have, ok := exported[sel.name]
			if !ok {
				if why, pending := pendingSeries[sel.name]; pending {
					t.Logf("%s: %s is not exported yet: %s", s.what, sel.name, why)
					for l := range sel.matchers {
						labels[l] = true
					}
					continue
				}
				t.Errorf("%s: the service exports no series %s", s.what, sel.name)
				continue
			}
			for l := range have {
				labels[l] = true
			}
			for l := range sel.matchers {
				if !have[l] && !slices.Contains(targetLabels, l) {
					t.Errorf("%s: %s has no label %s", s.what, sel.name, l)
				}
			}
			if s.panel {
				if sel.matchers["instance"] != "$instance" {
					t.Errorf("%s: %s does not follow the instance variable (instance=~\"$instance\")", s.what, sel.name)
				}
				if have["device"] && sel.matchers["device"] != "$device" {
					t.Errorf("%s: %s does not follow the device variable (device=~\"$device\")", s.what, sel.name)
				}
			}
		}
		for _, l := range refs.grouping {
			if !labels[l] {
				t.Errorf("%s: groups by %s, which none of its series has", s.what, l)
			}
		}
	}
	for name, why := range pendingSeries {
		if _, ok := exported[name]; ok {
			t.Errorf("%s is exported now: take it off pendingSeries (%s)", name, why)
		}
	}

	for _, name := range wantCharted {
		if !slices.ContainsFunc(d.queries(), func(q dashQuery) bool {
			refs, _ := scanPromQL(q.expr)
			return slices.ContainsFunc(refs.selectors, func(s promqlSelector) bool { return s.name == name })
		}) {
			t.Errorf("the dashboard does not chart %s", name)
		}
	}
	var unused []string
	for name := range exported {
		if strings.HasPrefix(name, "media_service_") && !used[name] && !strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") {
			unused = append(unused, name)
		}
	}
	slices.Sort(unused)
	t.Logf("exported, on no panel or rule: %v", unused)
}

// exportedSeries registers what the service registers (service.Run's
// api.Deps.Metrics, and the Go and process collectors api.New adds), with
// sources that produce every series, and returns each sample name the
// registry exposes with its label names.
func exportedSeries(t *testing.T) map[string]map[string]bool {
	t.Helper()
	snap := &encoder.Snapshot{EncodingErrors: 1, EncodingTimeouts: 1, EncoderSwitches: 2,
		Replacements: map[string]int64{"timeout": 1, "error": 1}, Reopened: 1, Restarts: 1, ProcessStalls: 1,
		Dropped:        map[string]int64{"stale": 1},
		LatencyBuckets: []int64{1, 1, 0, 0, 0, 0, 0, 0, 1}, LatencySum: 300 * time.Millisecond}
	c := NewCollector(Sources{
		Streams: func() []device.Stats {
			return []device.Stats{{Serial: "dev1", Encoder: "libx264", FPS: 30, BitRateBytes: 1e5, Units: 10, KeyFrames: 1,
				CaptureRestarts: 1, CaptureErrors: 1, KeyFrameRequests: 1, Pipeline: snap,
				Stages: device.StageStats{Capture: stageSnap(time.Millisecond), Encode: stageSnap(5 * time.Millisecond),
					Queue: stageSnap(time.Millisecond), Send: stageSnap(time.Millisecond), ViewerDrops: 1}}}
		},
		Broadcasters: func() []fanout.Stats {
			return []fanout.Stats{{DeviceID: "dev1", Viewers: 1, Dropped: 1}}
		},
		Sessions: func() []rtc.SessionInfo { return []rtc.SessionInfo{{ID: "s1", DeviceID: "dev1"}} },
		Totals: func() []rtc.DeviceTotals {
			return []rtc.DeviceTotals{{DeviceID: "dev1", SessionsOpened: 1, Stats: rtc.SessionStats{BytesSent: 1, PacketsSent: 1, NACKs: 1, PLIs: 1}}}
		},
		DevicesConnected: func() int { return 1 },
	})
	e2e := NewE2ELatency()
	e2e.Observe("dev1", 80*time.Millisecond)
	e2e.ClientReport("dev1", []byte(`{"type":"report","networkMs":1,"jitterMs":1,"decodeMs":1,"renderMs":1}`))
	res := NewResources()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(append([]prometheus.Collector{c, e2e.Collector()}, res.Collectors()...)...)
	reg.MustRegister(NewReloads().Collectors()...)
	reg.MustRegister(NewFiles().Collectors()...)
	reg.MustRegister(NewScreenshots().Collectors()...)
	recordings := NewRecordings()
	recordings.BytesWritten("dev1", 1)
	reg.MustRegister(recordings.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	add := func(name string, labels map[string]bool, extra ...string) {
		l := map[string]bool{}
		for k := range labels {
			l[k] = true
		}
		for _, k := range extra {
			l[k] = true
		}
		out[name] = l
	}
	for _, f := range families {
		labels := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		name := f.GetName()
		switch f.GetType().String() {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			add(name+"_bucket", labels, "le")
			add(name+"_sum", labels)
			add(name+"_count", labels)
		case "SUMMARY":
			add(name, labels, "quantile")
			add(name+"_sum", labels)
			add(name+"_count", labels)
		default:
			add(name, labels)
		}
	}
	for _, want := range []string{"media_service_pipeline_fps", "media_service_encode_latency_seconds_bucket",
		"media_service_e2e_latency_seconds_bucket", "media_service_goroutines", "go_goroutines", "process_cpu_seconds_total"} {
		if out[want] == nil {
			t.Fatalf("the stub service exports no %s", want)
		}
	}
	return out
}

// The dashboard, as much of it as the tests read.
type (
	dashboard struct {
		Title         string                        `json:"title"`
		UID           string                        `json:"uid"`
		ID            any                           `json:"id"`
		SchemaVersion int                           `json:"schemaVersion"`
		Inputs        []dashInput                   `json:"__inputs"`
		Requires      []dashInput                   `json:"__requires"`
		Panels        []dashPanel                   `json:"panels"`
		Templating    struct{ List []dashVariable } `json:"templating"`
	}
	dashInput struct {
		Name     string `json:"name"`
		ID       string `json:"id"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	}
	dashDatasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	dashGridPos struct{ X, Y, W, H int }
	dashPanel   struct {
		ID         int             `json:"id"`
		Type       string          `json:"type"`
		Title      string          `json:"title"`
		Datasource *dashDatasource `json:"datasource"`
		GridPos    dashGridPos     `json:"gridPos"`
		Panels     []dashPanel     `json:"panels"`
		Targets    []struct {
			Datasource *dashDatasource `json:"datasource"`
			Expr       string          `json:"expr"`
			RefID      string          `json:"refId"`
		} `json:"targets"`
	}
	dashVariable struct {
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Datasource *dashDatasource `json:"datasource"`
		Query      json.RawMessage `json:"query"` // a string, or {"query": …}
		Definition string          `json:"definition"`
	}
	dashQuery struct {
		what, expr string
		variable   string // the template variable whose query this is
	}
)

// query returns the variable's query: Grafana writes it as a string, or
// as an object (the Prometheus variable query editor).
func (v dashVariable) query() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct{ Query string }
	if json.Unmarshal(v.Query, &o) == nil && o.Query != "" {
		return o.Query
	}
	return v.Definition
}

// queries returns the panels' and the variables' queries.
func (d *dashboard) queries() []dashQuery {
	var out []dashQuery
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, dashQuery{what: fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), expr: tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			out = append(out, dashQuery{what: "variable " + v.Name, expr: v.query(), variable: v.Name})
		}
	}
	return out
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON value", dashboardFile)
	}
	return &d
}

// alertRule is one alerting rule of the rules file.
type alertRule struct {
	name, expr          string
	labels, annotations map[string]string
}

// loadAlertRules reads the rules file's alerts. It reads the subset of
// YAML the file is written in: each rule a "- alert:" item whose keys
// (expr, for, labels, annotations) are indented below it, expr a plain
// line or a block scalar (| or >), labels and annotations maps of plain,
// quoted or block scalars.
func loadAlertRules(t *testing.T) []alertRule {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }
	var (
		rules     []alertRule
		cur       *alertRule
		ruleInd   int    // indent of "- alert:"
		keyInd    int    // indent of the rule's keys
		section   string // "labels", "annotations", or "expr" (a block scalar)
		sectInd   int    // indent of the section's key
		entryInd  = -1   // indent of the section's entries
		lastEntry string
	)
	for n, l := range strings.Split(string(data), "\n") {
		trim := strings.TrimSpace(l)
		if trim == "" || strings.HasPrefix(trim, "#") {
			if section == "expr" && trim == "" {
				cur.expr += "\n"
			}
			continue
		}
		in := indent(l)
		if name, ok := strings.CutPrefix(trim, "- alert:"); ok {
			rules = append(rules, alertRule{name: strings.TrimSpace(name), labels: map[string]string{}, annotations: map[string]string{}})
			cur, ruleInd, keyInd, section = &rules[len(rules)-1], in, in+2, ""
			continue
		}
		if cur == nil {
			continue
		}
		if in <= ruleInd {
			cur, section = nil, ""
			continue
		}
		if section != "" && in > sectInd {
			switch section {
			case "expr":
				cur.expr += strings.TrimSpace(l) + "\n"
			default:
				m := cur.labels
				if section == "annotations" {
					m = cur.annotations
				}
				if entryInd < 0 {
					entryInd = in
				}
				if in > entryInd { // a block scalar's line
					m[lastEntry] = strings.TrimSpace(m[lastEntry] + " " + trim)
					continue
				}
				k, v, ok := strings.Cut(trim, ":")
				if !ok {
					t.Fatalf("%s:%d: want KEY: VALUE, got %q", rulesFile, n+1, l)
				}
				v = strings.TrimSpace(v)
				if v == "|" || v == ">" || v == "|-" || v == ">-" {
					v = ""
				}
				lastEntry, m[k] = k, strings.Trim(v, `"'`)
			}
			continue
		}
		section = ""
		if in != keyInd {
			t.Fatalf("%s:%d: indent %d, want %d for the keys of %s", rulesFile, n+1, in, keyInd, cur.name)
		}
		k, v, _ := strings.Cut(trim, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "expr":
			if strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
				section, sectInd = "expr", in
			} else {
				cur.expr = strings.Trim(v, `"'`)
			}
		case "labels", "annotations":
			section, sectInd, entryInd = k, in, -1
		}
	}
	for i := range rules {
		rules[i].expr = strings.TrimSpace(rules[i].expr)
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no alerts", rulesFile)
	}
	return rules
}

// A small PromQL scanner: enough to find the series an expression selects,
// the labels its matchers name, and the labels it groups or matches by.

type promqlSelector struct {
	name     string
	matchers map[string]string // label name → value
}

type promqlRefs struct {
	selectors []promqlSelector
	grouping  []string // labels of by, without, on, ignoring, group_left and group_right
}

var (
	promqlAggregations = []string{"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
		"bottomk", "topk", "quantile", "limitk", "limit_ratio"}
	promqlGroupings = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}
	promqlKeywords  = []string{"and", "or", "unless", "bool", "offset", "inf", "nan"}
)

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

// scanPromQL returns what expr selects. Grafana's variables may stand in
// label values and durations.
func scanPromQL(expr string) (promqlRefs, error) {
	var refs promqlRefs
	s := expr
	i := 0
	space := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	ident := func() string {
		j := i
		for i < len(s) && isIdentChar(s[i]) {
			i++
		}
		return s[j:i]
	}
	str := func() (string, error) {
		q := s[i]
		j := i + 1
		for j < len(s) && s[j] != q {
			if s[j] == '\\' && q != '`' {
				j++
			}
			j++
		}
		if j >= len(s) {
			return "", fmt.Errorf("unterminated string at %d in %q", i, expr)
		}
		v := s[i+1 : j]
		i = j + 1
		return v, nil
	}
	skipTo := func(close byte) error {
		for i < len(s) && s[i] != close {
			i++
		}
		if i >= len(s) {
			return fmt.Errorf("no %q in %q", close, expr)
		}
		i++
		return nil
	}
	matchers := func() (map[string]string, error) {
		m := map[string]string{}
		i++ // {
		for {
			space()
			if i < len(s) && s[i] == '}' {
				i++
				return m, nil
			}
			l := ident()
			if l == "" {
				return nil, fmt.Errorf("want a label name at %d in %q", i, expr)
			}
			space()
			switch {
			case strings.HasPrefix(s[i:], "=~"), strings.HasPrefix(s[i:], "!~"), strings.HasPrefix(s[i:], "!="):
				i += 2
			case strings.HasPrefix(s[i:], "="):
				i++
			default:
				return nil, fmt.Errorf("want a matcher operator at %d in %q", i, expr)
			}
			space()
			if i >= len(s) || !strings.ContainsRune("\"'`", rune(s[i])) {
				return nil, fmt.Errorf("want a string at %d in %q", i, expr)
			}
			v, err := str()
			if err != nil {
				return nil, err
			}
			m[l] = v
			space()
			if i < len(s) && s[i] == ',' {
				i++
			}
		}
	}
	for {
		space()
		if i >= len(s) {
			return refs, nil
		}
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			if _, err := str(); err != nil {
				return refs, err
			}
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '[':
			if err := skipTo(']'); err != nil {
				return refs, err
			}
		case c == '{':
			return refs, fmt.Errorf("a selector without a metric name at %d in %q", i, expr)
		case c == '$': // a Grafana variable
			i++
			if i < len(s) && s[i] == '{' {
				if err := skipTo('}'); err != nil {
					return refs, err
				}
			} else {
				ident()
			}
		case '0' <= c && c <= '9' || c == '.' && i+1 < len(s) && '0' <= s[i+1] && s[i+1] <= '9':
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			name := ident()
			space()
			next := byte(0)
			if i < len(s) {
				next = s[i]
			}
			switch {
			case slices.Contains(promqlGroupings, name):
				if next == '(' {
					j := i
					if err := skipTo(')'); err != nil {
						return refs, err
					}
					for l := range strings.SplitSeq(s[j+1:i-1], ",") {
						if l = strings.TrimSpace(l); l != "" {
							refs.grouping = append(refs.grouping, l)
						}
					}
				}
			case slices.Contains(promqlAggregations, name), slices.Contains(promqlKeywords, strings.ToLower(name)), next == '(':
				// an aggregation, a keyword or a function
			default:
				sel := promqlSelector{name: name}
				if next == '{' {
					m, err := matchers()
					if err != nil {
						return refs, err
					}
					sel.matchers = m
				}
				refs.selectors = append(refs.selectors, sel)
			}
		default:
			i++
		}
	}
}

func TestScanPromQL(t *testing.T) {
	refs, err := scanPromQL(`histogram_quantile(0.95, sum by (le, device) (rate(a_bucket{instance=~"$instance", device=~"x}y"}[$__rate_interval])))
		/ on (device) group_left b offset 5m > bool 1e-3 and c{le="+Inf"} unless count without(x) (d[${__range}]) + vector(0) * 8`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range refs.selectors {
		names = append(names, s.name)
	}
	if !slices.Equal(names, []string{"a_bucket", "b", "c", "d"}) || !slices.Equal(refs.grouping, []string{"le", "device", "device", "x"}) {
		t.Fatalf("selectors %v, grouping %v", names, refs.grouping)
	}
	if m := refs.selectors[0].matchers; m["instance"] != "$instance" || m["device"] != "x}y" {
		t.Fatalf("matchers %v", m)
	}
	for _, bad := range []string{`{__name__="x"}`, `x{a=}`, `x{a="b}`, `sum by (a`} {
		if _, err := scanPromQL(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
