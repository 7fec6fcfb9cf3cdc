package fleet

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/config"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// The Helm chart (deploy/helm/media-service), through Helm's own loader,
// linter and template engine: its lint, what it renders in each shape,
// and (chart_kube_test.go) what a real API server makes of it.

const (
	chartDir     = "../../deploy/helm/media-service"
	chartRelease = "media-service"
	chartNS      = "media"
)

// chartCase is one set of values: a values file of the chart's ci/ (""
// for the defaults) and values over it.
type chartCase struct {
	name  string
	file  string
	extra map[string]any
}

var chartCases = []chartCase{
	{name: "defaults"},
	{name: "per-node", file: "ci/per-node-values.yaml"},
	{name: "pool", file: "ci/pool-values.yaml"},
}

// chartValues reads the case's values: its file's, then its extra ones.
func chartValues(t testing.TB, c chartCase) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if c.file != "" {
		v, err := common.ReadValuesFile(filepath.Join(chartDir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		vals = v.AsMap()
	}
	return loader.MergeMaps(vals, c.extra)
}

// renderChart renders the chart with the case's values, as `helm
// template` would in namespace ns, and returns the objects, in file order.
func renderChart(t testing.TB, c chartCase, ns string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := tryRenderChart(t, c, ns)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return objs
}

func tryRenderChart(t testing.TB, c chartCase, ns string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ToRenderValues(ch, chartValues(t, c),
		common.ReleaseOptions{Name: chartRelease, Namespace: ns, Revision: 1, IsInstall: true}, nil)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	var objs []*unstructured.Unstructured
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue // NOTES.txt, _helpers.tpl
		}
		for doc := range strings.SplitSeq(files[name], "\n---") {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				return nil, fmt.Errorf("%s: %w\n%s", name, err, doc)
			}
			if len(m) == 0 {
				continue
			}
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	return objs, nil
}

// chartObjects are the rendered objects of one kind.
func chartObjects(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// chartOne converts the one object of its kind into out, or fails.
func chartOne(t testing.TB, objs []*unstructured.Unstructured, kind string, out any) {
	t.Helper()
	of := chartObjects(objs, kind)
	if len(of) != 1 {
		t.Fatalf("%d %s objects, want 1", len(of), kind)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(of[0].Object, out); err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
}

// chartNamed returns the rendered object of that kind and name, or nil.
func chartNamed(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// TestChartLint: Helm's linter finds no error in the chart, with its
// defaults or with either ci/ values file.
func TestChartLint(t *testing.T) {
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) {
			res := lint.RunAll(chartDir, chartValues(t, c), chartNS)
			for _, m := range res.Messages {
				if m.Severity >= support.ErrorSev {
					t.Errorf("lint: %v", m)
				} else {
					t.Logf("lint: %v", m)
				}
			}
		})
	}
}

// TestChartFiles: the chart's copies of the Grafana dashboard and the
// Prometheus alert rules (Helm reads only files inside the chart) are the
// originals, byte for byte.
func TestChartFiles(t *testing.T) {
	for copied, original := range map[string]string{
		"files/media-service.json":      "../../deploy/grafana/media-service.json",
		"files/media-service.rules.yml": "../../deploy/prometheus/media-service.rules.yml",
	} {
		a, err := os.ReadFile(filepath.Join(chartDir, copied))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(original)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: copy it again (cp %s %s)", copied, original,
				strings.TrimPrefix(original, "../../"), filepath.Join("deploy/helm/media-service", copied))
		}
	}
	// The adapter rule names the gauge the HPA scales on.
	b, err := os.ReadFile(filepath.Join(chartDir, "files/prometheus-adapter-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Rules []struct {
			SeriesQuery string              `json:"seriesQuery"`
			Name        struct{ As string } `json:"name"`
		} `json:"rules"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	if len(rules.Rules) != 1 || rules.Rules[0].Name.As != "media_service_load_ratio" ||
		!strings.HasPrefix(rules.Rules[0].SeriesQuery, "media_service_load_ratio{") {
		t.Errorf("prometheus-adapter-rules.yaml: %+v, want one rule exposing media_service_load_ratio", rules)
	}
}

// chartRoleRules are the exact rules the fleet needs (fleet/pods.go,
// members.go, memberlease.go, leases.go), by namespace role: "fleet" (the
// release's namespace) and "devices".
var chartRoleRules = map[string][]rbacv1.PolicyRule{
	"pods": {
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}},
	},
	"fleet": {
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "delete"}},
	},
}

// checkRoleRules fails unless the role grants exactly want, no more.
func checkRoleRules(t testing.TB, role *rbacv1.Role, want []rbacv1.PolicyRule) {
	t.Helper()
	norm := func(rules []rbacv1.PolicyRule) []string {
		var out []string
		for _, r := range rules {
			if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
				out = append(out, fmt.Sprintf("unexpected rule %+v", r))
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						out = append(out, g+"/"+res+":"+v)
					}
				}
			}
		}
		slices.Sort(out)
		return out
	}
	if got, w := norm(role.Rules), norm(want); !slices.Equal(got, w) {
		t.Errorf("Role %s/%s grants %v, want exactly %v", role.Namespace, role.Name, got, w)
	}
}

// chartPod is what the workload's pod template says.
type chartPod struct {
	spec      corev1.PodSpec
	container corev1.Container
	env       map[string]corev1.EnvVar
}

func newChartPod(t testing.TB, spec corev1.PodSpec) chartPod {
	t.Helper()
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	p := chartPod{spec: spec, container: spec.Containers[0], env: map[string]corev1.EnvVar{}}
	for _, e := range p.container.Env {
		p.env[e.Name] = e
	}
	return p
}

func (p chartPod) value(name string) string { return p.env[name].Value }

// checkChartCommon checks what both shapes share, and returns the pod.
func checkChartCommon(t *testing.T, objs []*unstructured.Unstructured, spec corev1.PodSpec, ns string) chartPod {
	t.Helper()
	p := newChartPod(t, spec)
	c := p.container

	// The fleet's settings and the downward API.
	for name, want := range map[string]string{"DEVICE_SOURCE": "kubernetes", "CONFIG_WATCH": "true", "PORT": "30006", "ICE_UDP_MUX_PORT": "30006"} {
		if got := p.value(name); got != want {
			t.Errorf("env %s=%q, want %q", name, got, want)
		}
	}
	for name, field := range map[string]string{"POD_NAME": "metadata.name", "FLEET_NAMESPACE": "metadata.namespace"} {
		if e := p.env[name]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != field {
			t.Errorf("env %s: %+v, want the downward API's %s", name, e, field)
		}
	}
	secretName := ""
	for _, name := range []string{"API_TOKENS", "FLEET_SECRET", "TURN_PASSWORD"} {
		e := p.env[name]
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Key != name {
			t.Errorf("env %s: %+v, want the Secret's key %s", name, e, name)
			continue
		}
		secretName = e.ValueFrom.SecretKeyRef.Name
	}
	secret := chartNamed(objs, "Secret", secretName)
	if secret == nil {
		t.Fatalf("no Secret %q", secretName)
	}

	// FLEET_SERVICE: the headless Service of the members.
	var members corev1.Service
	svc := chartNamed(objs, "Service", p.value("FLEET_SERVICE"))
	if svc == nil {
		t.Fatalf("FLEET_SERVICE=%q: no such Service", p.value("FLEET_SERVICE"))
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(svc.Object, &members); err != nil {
		t.Fatal(err)
	}
	if members.Spec.ClusterIP != corev1.ClusterIPNone || members.Spec.PublishNotReadyAddresses {
		t.Errorf("members Service: clusterIP %q publishNotReadyAddresses %v, want None and false", members.Spec.ClusterIP, members.Spec.PublishNotReadyAddresses)
	}
	if len(chartObjects(objs, "Service")) != 2 {
		t.Errorf("%d Services, want 2 (members, clients)", len(chartObjects(objs, "Service")))
	}

	// Ports, probes, the drain.
	ports := map[string]corev1.ContainerPort{}
	for _, cp := range c.Ports {
		ports[cp.Name] = cp
	}
	if ports["http"].ContainerPort != 30006 || ports["http"].Protocol != corev1.ProtocolTCP ||
		ports["ice"].ContainerPort != 30006 || ports["ice"].Protocol != corev1.ProtocolUDP {
		t.Errorf("ports %+v, want http 30006/TCP and ice 30006/UDP", c.Ports)
	}
	for probe, path := range map[*corev1.Probe]string{c.ReadinessProbe: "/ready", c.LivenessProbe: "/health"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "http" {
			t.Errorf("probe %+v, want GET %s on http", probe, path)
		}
	}
	drain, err := time.ParseDuration(p.value("DRAIN_TIMEOUT"))
	if err != nil {
		t.Fatalf("DRAIN_TIMEOUT=%q: %v", p.value("DRAIN_TIMEOUT"), err)
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= drain {
		t.Errorf("terminationGracePeriodSeconds %v, want above DRAIN_TIMEOUT %v", g, drain)
	}

	// The settings file: the ConfigMap mounted at CONFIG_FILE, which the
	// service's own loader accepts with the pod's environment.
	file := p.value("CONFIG_FILE")
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if strings.HasPrefix(file, m.MountPath+"/") {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("CONFIG_FILE=%q is under no volume mount (%+v)", file, c.VolumeMounts)
	}
	var cmName string
	for _, v := range spec.Volumes {
		if v.Name == mount.Name && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	cm := chartNamed(objs, "ConfigMap", cmName)
	if cm == nil {
		t.Fatalf("volume %s: no ConfigMap %q", mount.Name, cmName)
	}
	data, _, _ := unstructured.NestedString(cm.Object, "data", strings.TrimPrefix(file, mount.MountPath+"/"))
	if data == "" {
		t.Fatalf("ConfigMap %s has no %s", cmName, file)
	}
	envFile := filepath.Join(t.TempDir(), "media-service.env")
	if err := os.WriteFile(envFile, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	secretData, _, _ := unstructured.NestedStringMap(secret.Object, "data")
	lookup := func(name string) (string, bool) {
		e, ok := p.env[name]
		switch {
		case !ok:
			return "", false
		case e.ValueFrom == nil:
			return e.Value, true
		case e.ValueFrom.FieldRef != nil && name == "POD_NAME":
			return "media-service-x1", true
		case e.ValueFrom.FieldRef != nil:
			return ns, true
		case e.ValueFrom.SecretKeyRef != nil:
			v, ok := secretData[name]
			if !ok {
				return "", false // optional: unset
			}
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatalf("Secret %s: %v", name, err)
			}
			return string(b), true
		}
		return "", false
	}
	cfg, err := config.Load(envFile, lookup)
	if err != nil {
		t.Fatalf("the service refuses the pod's configuration: %v\n%s", err, data)
	}
	if !cfg.ConfigWatch || len(cfg.Tokens) == 0 {
		t.Errorf("config: CONFIG_WATCH %v, %d API tokens; want live reload and a token", cfg.ConfigWatch, len(cfg.Tokens))
	}

	// The least RBAC, bound to the pod's ServiceAccount.
	var role rbacv1.Role
	var roles []*rbacv1.Role
	for _, o := range chartObjects(objs, "Role") {
		r := new(rbacv1.Role)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, r); err != nil {
			t.Fatal(err)
		}
		roles = append(roles, r)
	}
	devNS := p.value("DEVICE_NAMESPACE")
	if devNS == ns || devNS == "" {
		if len(roles) != 1 {
			t.Fatalf("%d Roles, want 1", len(roles))
		}
		role = *roles[0]
		checkRoleRules(t, &role, append(slices.Clone(chartRoleRules["pods"]), chartRoleRules["fleet"]...))
	} else {
		if len(roles) != 2 {
			t.Fatalf("%d Roles with devices in %s, want 2", len(roles), devNS)
		}
		for _, r := range roles {
			if r.Namespace == devNS {
				checkRoleRules(t, r, chartRoleRules["pods"])
			} else {
				checkRoleRules(t, r, chartRoleRules["fleet"])
			}
		}
	}
	var sa corev1.ServiceAccount
	chartOne(t, objs, "ServiceAccount", &sa)
	if spec.ServiceAccountName != sa.Name {
		t.Errorf("serviceAccountName %q, want %q", spec.ServiceAccountName, sa.Name)
	}
	for _, o := range chartObjects(objs, "RoleBinding") {
		var rb rbacv1.RoleBinding
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &rb); err != nil {
			t.Fatal(err)
		}
		if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != sa.Name || rb.Subjects[0].Namespace != ns {
			t.Errorf("RoleBinding %s binds %+v, want the ServiceAccount %s/%s", rb.Name, rb.Subjects, ns, sa.Name)
		}
	}
	if n := len(chartObjects(objs, "RoleBinding")); n != len(roles) {
		t.Errorf("%d RoleBindings for %d Roles", n, len(roles))
	}

	// The PDB, the dashboard and the alert rules.
	if len(chartObjects(objs, "PodDisruptionBudget")) != 1 {
		t.Errorf("no PodDisruptionBudget")
	}
	for _, key := range []string{"media-service.json", "media-service.rules.yml"} {
		found := false
		for _, o := range chartObjects(objs, "ConfigMap") {
			if v, ok, _ := unstructured.NestedString(o.Object, "data", key); ok && v != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("no ConfigMap holds %s", key)
		}
	}
	return p
}

// TestChartRender renders the chart and checks each shape: per node, a
// DaemonSet with host networking placing devices by node; as a pool, a
// Deployment scaled on media_service_load_ratio and CPU, spread by
// hostname, with a GPU when asked; in both, the settings, the probes, the
// drain within the grace period, and the least RBAC.
func TestChartRender(t *testing.T) {
	perNode := func(t *testing.T, objs []*unstructured.Unstructured) chartPod {
		var ds appsv1.DaemonSet
		chartOne(t, objs, "DaemonSet", &ds)
		if n := len(chartObjects(objs, "Deployment")) + len(chartObjects(objs, "HorizontalPodAutoscaler")); n != 0 {
			t.Errorf("per node: %d Deployments and HPAs, want none", n)
		}
		p := checkChartCommon(t, objs, ds.Spec.Template.Spec, chartNS)
		if !p.spec.HostNetwork || p.spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("per node: hostNetwork %v dnsPolicy %q, want true and ClusterFirstWithHostNet", p.spec.HostNetwork, p.spec.DNSPolicy)
		}
		if got := p.value("FLEET_PLACEMENT"); got != "node" {
			t.Errorf("per node: FLEET_PLACEMENT=%q, want node", got)
		}
		return p
	}
	pool := func(t *testing.T, objs []*unstructured.Unstructured) chartPod {
		var d appsv1.Deployment
		chartOne(t, objs, "Deployment", &d)
		if len(chartObjects(objs, "DaemonSet")) != 0 {
			t.Errorf("pool: a DaemonSet too")
		}
		p := checkChartCommon(t, objs, d.Spec.Template.Spec, chartNS)
		if got := p.value("FLEET_PLACEMENT"); got != "spread" {
			t.Errorf("pool: FLEET_PLACEMENT=%q, want spread", got)
		}
		a := p.spec.Affinity
		if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
			a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != corev1.LabelHostname {
			t.Errorf("pool: affinity %+v, want a preferred anti-affinity by hostname", a)
		}
		var hpa autoscalingv2.HorizontalPodAutoscaler
		chartOne(t, objs, "HorizontalPodAutoscaler", &hpa)
		if hpa.APIVersion != "autoscaling/v2" || hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != d.Name {
			t.Errorf("HPA %s targets %+v, want autoscaling/v2 of Deployment %s", hpa.APIVersion, hpa.Spec.ScaleTargetRef, d.Name)
		}
		if d.Spec.Replicas != nil {
			t.Errorf("pool: the Deployment sets replicas (%d) under an HPA", *d.Spec.Replicas)
		}
		var load, cpu bool
		for _, m := range hpa.Spec.Metrics {
			switch {
			case m.Type == autoscalingv2.PodsMetricSourceType && m.Pods.Metric.Name == "media_service_load_ratio":
				load = m.Pods.Target.Type == autoscalingv2.AverageValueMetricType && m.Pods.Target.AverageValue != nil &&
					m.Pods.Target.AverageValue.Cmp(resource.MustParse("700m")) == 0
			case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource.Name == corev1.ResourceCPU:
				cpu = m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil
			}
		}
		if !load || !cpu || hpa.Spec.Metrics[0].Type != autoscalingv2.PodsMetricSourceType {
			t.Errorf("HPA metrics %+v, want media_service_load_ratio (Pods, average 700m) first and CPU utilization", hpa.Spec.Metrics)
		}
		if b := hpa.Spec.Behavior; b == nil || b.ScaleDown == nil || b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds <= 0 {
			t.Errorf("HPA behavior %+v, want a scale-down stabilization window", hpa.Spec.Behavior)
		}
		return p
	}
	gpu := func(p chartPod) resource.Quantity { return p.container.Resources.Limits["nvidia.com/gpu"] }

	t.Run("defaults", func(t *testing.T) {
		objs := renderChart(t, chartCases[0], chartNS)
		perNode(t, objs)
		if len(chartObjects(objs, "ServiceMonitor")) != 0 {
			t.Errorf("a ServiceMonitor by default")
		}
	})
	t.Run("per-node", func(t *testing.T) {
		p := perNode(t, renderChart(t, chartCases[1], chartNS))
		if p.spec.NodeSelector["cloudphone.io/device-node"] != "true" {
			t.Errorf("nodeSelector %v, want the ci file's", p.spec.NodeSelector)
		}
	})
	t.Run("pool", func(t *testing.T) {
		objs := renderChart(t, chartCases[2], chartNS)
		p := pool(t, objs)
		if q := gpu(p); q.Value() != 1 {
			t.Errorf("pool: nvidia.com/gpu limit %v, want 1", q.String())
		}
		if p.spec.HostNetwork {
			t.Errorf("pool: hostNetwork without asking")
		}
		var cm corev1.ConfigMap
		if o := chartNamed(objs, "ConfigMap", chartRelease); o == nil || runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &cm) != nil ||
			!strings.Contains(cm.Data["media-service.env"], `TURN_URLS="turn:turn.example.com:3478?transport=udp"`) {
			t.Errorf("pool: the settings lack TURN_URLS: %q", cm.Data)
		}
	})
	t.Run("pool-no-gpu-host-network", func(t *testing.T) {
		p := pool(t, renderChart(t, chartCase{name: "pool", file: "ci/pool-values.yaml",
			extra: map[string]any{"pool": map[string]any{"gpu": map[string]any{"enabled": false}, "hostNetwork": true}}}, chartNS))
		if q := gpu(p); !q.IsZero() {
			t.Errorf("pool without a GPU: nvidia.com/gpu limit %v", q.String())
		}
		if !p.spec.HostNetwork || p.spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("pool with host networking: hostNetwork %v dnsPolicy %q", p.spec.HostNetwork, p.spec.DNSPolicy)
		}
	})
	t.Run("devices-elsewhere-monitored", func(t *testing.T) {
		objs := renderChart(t, chartCase{name: "elsewhere", extra: map[string]any{
			"devices":           map[string]any{"namespace": "phones"},
			"serviceMonitor":    map[string]any{"enabled": true},
			"prometheusAdapter": map[string]any{"configMap": map[string]any{"enabled": true}},
		}}, chartNS)
		p := perNode(t, objs)
		if p.value("DEVICE_NAMESPACE") != "phones" {
			t.Errorf("DEVICE_NAMESPACE=%q, want phones", p.value("DEVICE_NAMESPACE"))
		}
		if len(chartObjects(objs, "ServiceMonitor")) != 1 {
			t.Errorf("no ServiceMonitor when enabled")
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, extra := range []map[string]any{
			{"shape": "cluster"},
			{"config": map[string]any{"FLEET_PLACEMENT": "spread"}},
			{"config": map[string]any{"API_TOKENS": "in-the-configmap-0123456789"}},
		} {
			if _, err := tryRenderChart(t, chartCase{name: "refused", extra: extra}, chartNS); err == nil {
				t.Errorf("values %v rendered, want an error", extra)
			} else {
				t.Logf("values %v: %v", extra, err)
			}
		}
	})
}
