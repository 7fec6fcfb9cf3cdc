package fleet

import (
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/test/fleet/lab"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// labSource is the instances' DEVICE_SOURCE in TestLab: FLEETLAB_SOURCE,
// kubernetes by default.
func labSource() string {
	if s := os.Getenv("FLEETLAB_SOURCE"); s != "" {
		return s
	}
	return lab.SourceKubernetes
}

// startLab starts a lab for the test and closes it when the test ends;
// the instances' output goes to the test's log when it fails.
func startLab(t testing.TB, cfg lab.Config) *lab.Lab {
	t.Helper()
	if cfg.DeviceSource == "" {
		cfg.DeviceSource = labSource()
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Output == nil {
		cfg.Output = labMessages{t} // the instances' output is in their logs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, in := range l.Instances() {
				t.Logf("%s's log (last lines):\n%s", in.Name(), labLastLines(in.Logs(), 60))
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("closing the lab: %v", err)
		}
		// Instances built with -race (FLEETLAB_RACE) report races in
		// their logs.
		for _, in := range l.Instances() {
			if logs := in.Logs(); strings.Contains(logs, "WARNING: DATA RACE") {
				i := strings.Index(logs, "WARNING: DATA RACE")
				t.Errorf("%s had a data race:\n%s", in.Name(), logs[i:min(len(logs), i+6000)])
			}
		}
	})
	return l
}

// labMessages sends the lab's own messages to the test's log.
type labMessages struct{ t testing.TB }

func (w labMessages) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		if strings.HasPrefix(line, "lab: ") {
			w.t.Log(strings.TrimRight(line, "\n"))
		}
	}
	return len(p), nil
}

func labLastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// labSlice returns an instance's EndpointSlice, or nil when there is none.
func labSlice(t *testing.T, l *lab.Lab, in *lab.Instance) *discoveryv1.EndpointSlice {
	t.Helper()
	es, err := l.Client().DiscoveryV1().EndpointSlices(l.Namespace()).Get(context.Background(), in.SliceName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func labSliceReady(es *discoveryv1.EndpointSlice) bool {
	return es != nil && len(es.Endpoints) == 1 && es.Endpoints[0].Conditions.Ready != nil && *es.Endpoints[0].Conditions.Ready
}

// TestLab starts a lab of three instances and six devices: every
// instance becomes ready and its EndpointSlice says so, the proxy answers,
// the env file describes the lab, and an instance that gets SIGTERM
// leaves the Service.
func TestLab(t *testing.T) {
	l := startLab(t, lab.Config{Instances: 3, Devices: 6})
	ctx := context.Background()

	// The devices' pods, as the instances find them.
	pods, err := l.Client().CoreV1().Pods(l.Namespace()).List(ctx, metav1.ListOptions{LabelSelector: lab.DeviceSelector})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 6 {
		t.Fatalf("%d device pods, want 6", len(pods.Items))
	}
	for _, p := range pods.Items {
		d := l.Device(p.Name)
		if d == nil {
			t.Fatalf("pod %s is no device of the lab", p.Name)
		}
		if p.Status.PodIP != "127.0.0.1" || p.Status.Phase != "Running" || p.Annotations[lab.PortAnnotation] != strconv.Itoa(d.Port) {
			t.Fatalf("pod %s: ip %q phase %q port annotation %q, want 127.0.0.1 Running %d",
				p.Name, p.Status.PodIP, p.Status.Phase, p.Annotations[lab.PortAnnotation], d.Port)
		}
	}

	// Every instance is ready, and so is its slice.
	for _, in := range l.Instances() {
		if !in.Ready() {
			t.Fatalf("%s not ready after Start", in.Name())
		}
		es := labSlice(t, l, in)
		if !labSliceReady(es) {
			t.Fatalf("%s's EndpointSlice not ready: %+v", in.Name(), es)
		}
		if es.Labels[discoveryv1.LabelServiceName] != lab.ServiceName || es.AddressType != discoveryv1.AddressTypeIPv4 ||
			es.Endpoints[0].Addresses[0] != l.EndpointIP() || es.Endpoints[0].TargetRef.Name != in.Name() ||
			len(es.Ports) != 1 || *es.Ports[0].Port != int32(in.Port()) || *es.Ports[0].Name != "http" {
			t.Fatalf("%s's EndpointSlice: %+v", in.Name(), es)
		}
	}

	// The proxy answers, round robin over the three.
	seen := map[string]bool{}
	for range 6 {
		resp, err := http.Get(l.ProxyURL() + "/health")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /health through the proxy: %s", resp.Status)
		}
		seen[resp.Header.Get(lab.InstanceHeader)] = true
	}
	if len(seen) != 3 {
		t.Fatalf("the proxy sent six requests to %v, want each of the three", seen)
	}

	// The env file.
	envFile := t.TempDir() + "/env"
	if err := l.WriteEnv(envFile); err != nil {
		t.Fatal(err)
	}
	env := labReadEnv(t, envFile)
	in1, in2 := l.Instance(1), l.Instance(2)
	want := map[string]string{
		"PROXY":      l.ProxyURL(),
		"INSTANCES":  in1.URL() + "," + in2.URL() + "," + l.Instance(3).URL(),
		"DEVICES":    strings.Join(l.DeviceIDs(), ","),
		"TOKEN":      l.Token(),
		"PID_1":      strconv.Itoa(in1.PID()),
		"PID_2":      strconv.Itoa(in2.PID()),
		"PID_3":      strconv.Itoa(l.Instance(3).PID()),
		"KUBECONFIG": l.Kubeconfig(),
		"NAMESPACE":  l.Namespace(),
	}
	for k, v := range want {
		if env[k] != v || v == "" || v == "0" {
			t.Errorf("env %s=%q, want %q", k, env[k], v)
		}
	}
	if l.Kubeconfig() == "" || !strings.HasPrefix(env["DEVICES"], "phone-1,") && labSource() == lab.SourceKubernetes {
		t.Errorf("env DEVICES=%q", env["DEVICES"])
	}

	// SIGTERM: the slice turns not ready at once (terminating), then goes
	// with the process; the proxy stops sending it anything.
	pid := in2.PID()
	done := make(chan error, 1)
	go func() { done <- in2.Term(0) }()
	labWaitFor(t, "media-2's slice not ready or gone", 30*time.Second, func() bool { return !labSliceReady(labSlice(t, l, in2)) })
	for range 6 {
		resp, err := http.Get(l.ProxyURL() + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get(lab.InstanceHeader); got == in2.Name() {
			t.Fatalf("the proxy sent a request to %s after its SIGTERM", got)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if in2.Running() || in2.PID() != 0 {
		t.Fatalf("media-2 still runs after Term (pid %d, was %d)", in2.PID(), pid)
	}
	labWaitFor(t, "media-2's slice gone", 30*time.Second, func() bool { return labSlice(t, l, in2) == nil })
	for _, in := range []*lab.Instance{in1, l.Instance(3)} {
		if !labSliceReady(labSlice(t, l, in)) {
			t.Fatalf("%s's slice not ready after media-2 left", in.Name())
		}
	}
}

// labReadEnv reads NAME=VALUE lines.
func labReadEnv(t *testing.T, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\n"), "=")
		if !ok {
			t.Fatalf("env line %q", line)
		}
		env[k] = v
	}
	return env
}

// labWaitFor polls cond every 100 ms until it holds, or fails the test.
func labWaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}
