package fleet

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testPod is a device pod: created at second created, with an ID label
// (when id is set), an IP (when ip is), Running and Ready (when ready).
func testPod(name, id string, created int64, ip string, ready bool, annotations map[string]string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "redroid"},
			Annotations: annotations, CreationTimestamp: metav1.Unix(created, 0),
		},
		Spec:   corev1.PodSpec{NodeName: "node-1"},
		Status: corev1.PodStatus{PodIP: ip, Phase: corev1.PodPending},
	}
	if id != "" {
		p.Labels["device"] = id
	}
	if ip != "" {
		p.Status.Phase = corev1.PodRunning
		c := corev1.ConditionFalse
		if ready {
			c = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: c}}
	}
	return p
}

func TestPodDevices(t *testing.T) {
	cfg := PodsConfig{IDLabel: "device", PortAnnotation: DefaultPortAnnotation, DefaultPort: DefaultDevicePort}
	port := func(v string) map[string]string { return map[string]string{DefaultPortAnnotation: v} }
	failed := testPod("failed", "dev-f", 1, "10.0.0.6", false, nil)
	failed.Status.Phase = corev1.PodFailed
	deleting := testPod("deleting", "dev-g", 1, "10.0.0.7", true, nil)
	deleting.DeletionTimestamp = ptr(metav1.Unix(9, 0))
	pods := []*corev1.Pod{
		testPod("ready", "dev-a", 1, "10.0.0.1", true, nil),
		testPod("explicit-port", "dev-b", 1, "10.0.0.2", false, port("6000")),
		testPod("no-ip", "dev-c", 1, "", false, nil),
		testPod("young", "dev-d", 5, "10.0.0.3", true, nil),
		testPod("old", "dev-d", 2, "10.0.0.4", true, nil),
		testPod("tie-b", "dev-e", 3, "", false, nil),
		testPod("tie-a", "dev-e", 3, "", false, nil),
		failed, deleting,
		testPod("no-id", "", 1, "10.0.0.9", true, nil),
		testPod("bad-port", "dev-h", 1, "10.0.0.9", true, port("adb")),
		testPod("zero-port", "dev-i", 1, "10.0.0.9", true, port("0")),
		testPod("big-port", "dev-j", 1, "10.0.0.9", true, port("65536")),
	}
	devices, problems := podDevices(pods, cfg)
	got := map[string]Pod{}
	for id, d := range devices {
		got[id] = d.Pod
	}
	want := map[string]Pod{
		"dev-a": {ID: "dev-a", Name: "ready", Addr: "10.0.0.1:5555", Ready: true, Node: "node-1"},
		"dev-b": {ID: "dev-b", Name: "explicit-port", Addr: "10.0.0.2:6000", Node: "node-1"},
		"dev-c": {ID: "dev-c", Name: "no-ip", Node: "node-1"},
		"dev-d": {ID: "dev-d", Name: "old", Addr: "10.0.0.4:5555", Ready: true, Node: "node-1"},
		"dev-e": {ID: "dev-e", Name: "tie-a", Node: "node-1"},
		"dev-f": {ID: "dev-f", Name: "failed", Node: "node-1"},
		"dev-g": {ID: "dev-g", Name: "deleting", Addr: "10.0.0.7:5555", Node: "node-1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("devices:\n got %+v\nwant %+v", got, want)
	}
	var left []string
	for _, pr := range problems {
		left = append(left, pr.pod)
	}
	slices.Sort(left)
	if want := []string{"bad-port", "big-port", "no-id", "tie-b", "young", "zero-port"}; !reflect.DeepEqual(left, want) {
		t.Errorf("left out %v, want %v", left, want)
	}
	if why := problems["uid-young"].why; !strings.Contains(why, "old") {
		t.Errorf("the younger duplicate's problem %q names no older pod", why)
	}
	// Without an ID label the pod's name is the ID.
	byName, _ := podDevices(pods[:1], PodsConfig{PortAnnotation: DefaultPortAnnotation, DefaultPort: 7})
	if d := byName["ready"]; d.ID != "ready" || d.Addr != "10.0.0.1:7" {
		t.Errorf("by name: %+v", d)
	}
}

// TestPodsWatch runs Pods over a fake clientset: the first list, a new
// address, a deletion, and Close without a goroutine left.
func TestPodsWatch(t *testing.T) {
	client := fake.NewClientset(testPod("redroid-0", "dev-0", 1, "10.0.0.1", true, nil))
	var mu sync.Mutex
	var changed []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := NewPods(ctx, PodsConfig{Client: client, Namespace: "", Selector: "app=redroid", IDLabel: "device", Log: quietLog()})
	if err == nil {
		p.Close()
		t.Fatal("NewPods without a namespace succeeded")
	}
	if _, err := NewPods(ctx, PodsConfig{Client: client, Namespace: "ns", Selector: "app in (", Log: quietLog()}); err == nil {
		t.Fatal("NewPods with a bad selector succeeded")
	}
	client = fake.NewClientset()
	pods := client.CoreV1().Pods("ns")
	if _, err := pods.Create(ctx, testPod("redroid-0", "dev-0", 1, "10.0.0.1", true, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err = NewPods(ctx, PodsConfig{
		Client: client, Namespace: "ns", Selector: "app=redroid", IDLabel: "device", Log: quietLog(),
		Changed: func(id string) { mu.Lock(); changed = append(changed, id); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.List(); len(got) != 1 || got[0].Addr != "10.0.0.1:5555" || !got[0].Ready {
		t.Fatalf("first list: %+v", got)
	}
	if _, err := pods.UpdateStatus(ctx, testPod("redroid-0", "dev-0", 1, "10.0.0.2", true, nil), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { d, _ := p.Locate("dev-0"); return d.Addr == "10.0.0.2:5555" })
	if err := pods.Delete(ctx, "redroid-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, ok := p.Locate("dev-0"); return !ok })
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(changed, []string{"dev-0", "dev-0"}) {
		t.Fatalf("Changed calls %v, want two of dev-0", changed)
	}
	p.Close()
	p.Close() // idempotent
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition never met")
		}
	}
}
