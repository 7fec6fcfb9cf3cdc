package fleet

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/test/fleet/lab"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// The chart against a real API server: every object it renders passes
// the server's validation (server-side dry run), and its Role is enough
// for a fleet whose instances hold nothing else.

// applier creates rendered objects through a dynamic client, mapping
// their kinds by the server's discovery.
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newApplier(t testing.TB, client kubernetes.Interface, cfg *rest.Config) *applier {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))}
}

// resource maps a kind to its resource, reading discovery again once
// when the kind is new (a CRD made after the first read).
func (a *applier) resource(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		a.mapper.Reset()
		m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

// create creates obj in ns (or its own namespace), for real or as a
// server-side dry run, with strict field validation.
func (a *applier) create(ctx context.Context, obj *unstructured.Unstructured, ns string, dryRun bool) error {
	m, err := a.resource(obj.GroupVersionKind())
	if err != nil {
		return fmt.Errorf("%s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	opts := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() != "" {
			ns = obj.GetNamespace()
		}
		ri = a.dyn.Resource(m.Resource).Namespace(ns)
	}
	if _, err := ri.Create(ctx, obj, opts); err != nil {
		return fmt.Errorf("%s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return nil
}

// createServiceMonitorCRD defines a minimal ServiceMonitor (any spec),
// so that the optional one is checked too, and waits until it is served.
func createServiceMonitorCRD(t *testing.T, a *applier) {
	t.Helper()
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "servicemonitors.monitoring.coreos.com"},
		"spec": map[string]any{
			"group": "monitoring.coreos.com",
			"scope": "Namespaced",
			"names": map[string]any{"plural": "servicemonitors", "singular": "servicemonitor", "kind": "ServiceMonitor", "listKind": "ServiceMonitorList"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"spec": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
					},
				}},
			}},
		},
	}}
	if err := a.create(context.Background(), crd, "", false); err != nil {
		t.Fatal(err)
	}
	gvk := schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}
	labWaitFor(t, "the ServiceMonitor CRD served", 60*time.Second, func() bool {
		_, err := a.resource(gvk)
		return err == nil
	})
}

// TestChartDryRun: every object the chart renders, in each shape and with
// every option on (a ServiceMonitor, devices in another namespace, the
// adapter's ConfigMap), passes a real API server's validation and
// admission as a server-side dry run with strict field validation.
func TestChartDryRun(t *testing.T) {
	client, cfg := startAPIServer(t)
	ctx := context.Background()
	for _, ns := range []string{chartNS, "phones"} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	a := newApplier(t, client, cfg)
	createServiceMonitorCRD(t, a)
	allOn := map[string]any{
		"devices":           map[string]any{"namespace": "phones"},
		"serviceMonitor":    map[string]any{"enabled": true, "tokenSecret": map[string]any{"name": "prometheus", "key": "token"}},
		"prometheusAdapter": map[string]any{"configMap": map[string]any{"enabled": true}},
	}
	cases := append(slices.Clone(chartCases),
		chartCase{name: "per-node-all-on", file: "ci/per-node-values.yaml", extra: allOn},
		chartCase{name: "pool-all-on", file: "ci/pool-values.yaml", extra: allOn},
		chartCase{name: "pool-fixed-existing-secret", file: "ci/pool-values.yaml", extra: map[string]any{
			"pool":   map[string]any{"autoscaling": map[string]any{"enabled": false}, "hostNetwork": true},
			"secret": map[string]any{"existingSecret": "media-secrets"},
		}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs := renderChart(t, c, chartNS)
			kinds := map[string]int{}
			for _, o := range objs {
				if err := a.create(ctx, o, chartNS, true); err != nil {
					t.Errorf("dry run: %v", err)
				}
				kinds[o.GetKind()]++
			}
			t.Logf("%d objects: %v", len(objs), kinds)
		})
	}
}

// TestChartRBAC: the least RBAC is enough. An API server with RBAC
// authorization; the chart's ServiceAccount, Role and RoleBinding applied
// for real; the instances of a lab fleet authenticate with that
// ServiceAccount's token (the lab itself stays admin). Sessions opened
// through the proxy play, a device moves to another instance when its
// owner is killed, the devices are released at the end, and no instance
// logged a refusal ("forbidden"). The Role's rules are exactly those the
// fleet calls (chartRoleRules), so it allows nothing more either.
func TestChartRBAC(t *testing.T) {
	const ns = "fleet"
	objs := renderChart(t, chartCase{name: "defaults"}, ns)
	var rbacObjs []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "ServiceAccount", "Role", "RoleBinding":
			rbacObjs = append(rbacObjs, o)
		}
	}
	var role rbacv1.Role
	chartOne(t, objs, "Role", &role)
	checkRoleRules(t, &role, append(slices.Clone(chartRoleRules["pods"]), chartRoleRules["fleet"]...))
	var sa corev1.ServiceAccount
	chartOne(t, objs, "ServiceAccount", &sa)

	kubeconfig := filepath.Join(t.TempDir(), "instance.kubeconfig")
	before := func(ctx context.Context, l *lab.Lab) error {
		a := &applier{}
		dyn, err := dynamic.NewForConfig(l.RESTConfig())
		if err != nil {
			return err
		}
		a.dyn = dyn
		a.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(l.Client().Discovery()))
		for _, o := range rbacObjs {
			if err := a.create(ctx, o, ns, false); err != nil {
				return err
			}
		}
		exp := int64(3600)
		tok, err := l.Client().CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("token of %s: %w", sa.Name, err)
		}
		if err := l.WriteTokenKubeconfig(kubeconfig, tok.Status.Token); err != nil {
			return err
		}
		// The token is the ServiceAccount's, and RBAC decides: its Leases
		// are allowed (once the authorizer has seen the binding), Secrets
		// are not.
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return err
		}
		sac, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, err = sac.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("the ServiceAccount lists no Leases: %w", err)
		}
		if _, err := sac.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			return fmt.Errorf("the ServiceAccount listing Secrets: %v, want forbidden (is RBAC on?)", err)
		}
		if _, err := sac.CoreV1().Pods(ns).Get(ctx, "phone-1", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			return fmt.Errorf("the ServiceAccount getting a pod: %v, want forbidden (the Role grants list and watch only)", err)
		}
		return nil
	}
	l := startLab(t, lab.Config{
		Namespace: ns, Instances: 2, Devices: 2, LeaseDuration: fleetLease, Env: fleetEnv,
		APIServerFlags:     []string{"--authorization-mode=RBAC"},
		BeforeInstances:    before,
		InstanceKubeconfig: kubeconfig,
	})
	for _, in := range l.Instances() {
		if !slices.Contains(in.Env(), "KUBECONFIG="+kubeconfig) {
			t.Fatalf("%s does not use the ServiceAccount's kubeconfig", in.Name())
		}
	}
	forbidden := func() {
		t.Helper()
		for _, in := range l.Instances() {
			for line := range strings.Lines(in.Logs()) {
				if strings.Contains(strings.ToLower(line), "forbidden") {
					t.Errorf("%s was refused something the Role does not allow: %s", in.Name(), strings.TrimSpace(line))
				}
			}
		}
	}

	// Each device plays through the proxy.
	var sessions []*session
	for _, d := range l.Devices() {
		s := mustOpen(t, l, l.ProxyURL(), d.ID)
		plays(t, d.ID, s.viewer)
		sessions = append(sessions, s)
	}
	forbidden()
	if t.Failed() {
		return
	}

	// Failover: the owner of phone-1 dies; the other instance takes its
	// expired Lease and serves it.
	device := l.Devices()[0].ID
	owner := holders(t, l)[device]
	victim := l.InstanceNamed(owner)
	if victim == nil {
		t.Fatalf("%s held by %q, no instance of the lab", device, owner)
	}
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	var kept []*session
	for _, s := range sessions {
		if s.owner != owner {
			kept = append(kept, s)
		}
	}
	var again *session
	labWaitFor(t, device+" served again after its owner's SIGKILL", 120*time.Second, func() bool {
		status, s, body := openSession(t, l, l.ProxyURL(), device)
		if s == nil {
			t.Logf("%s after the kill: %d %s", device, status, strings.TrimSpace(body))
			return false
		}
		again = s
		return true
	})
	plays(t, device+" after the failover", again.viewer)
	if again.owner == owner {
		t.Errorf("%s served by %s, the instance killed", device, again.owner)
	}
	// The sessions end; the survivor releases what it runs (the dead
	// instance's Leases stay until they expire, and nobody deletes them).
	survivor := l.Instance(1)
	if survivor.Name() == owner {
		survivor = l.Instance(2)
	}
	for _, s := range append(kept, again) {
		if status, body := apiCall(t, l, "DELETE", l.ProxyURL()+"/api/media/sessions/"+s.id); status != http.StatusNoContent {
			t.Errorf("DELETE %s through the proxy: %d %s", s.id, status, body)
		}
	}
	labWaitFor(t, survivor.Name()+" released its devices", 60*time.Second, func() bool {
		for _, h := range holders(t, l) {
			if h == survivor.Name() {
				return false
			}
		}
		return true
	})
	forbidden()
	if status := statusOf(t, l.ProxyURL()+"/ready"); status != http.StatusOK {
		t.Errorf("GET /ready through the proxy: %d", status)
	}
}

// statusOf is the status of a GET.
func statusOf(t testing.TB, url string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
