package fleet

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/fleet"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// podStand makes and changes the pods of one namespace.
type podStand struct {
	t      *testing.T
	client kubernetes.Interface
	ns     string
}

// create makes a pod on node-1 with these labels and annotations.
func (s podStand) create(name string, labels, annotations map[string]string) {
	s.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			NodeName:   "node-1",
			Containers: []corev1.Container{{Name: "redroid", Image: "redroid/redroid:15.0.0-latest"}},
		},
	}
	if _, err := s.client.CoreV1().Pods(s.ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
}

// status sets a pod's IP, phase Running, and its condition Ready, as a
// kubelet would.
func (s podStand) status(name, ip string, ready bool) {
	s.t.Helper()
	s.change(name, func(pod *corev1.Pod) {
		cond := corev1.ConditionFalse
		if ready {
			cond = corev1.ConditionTrue
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.PodIP = ip
		pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond, LastTransitionTime: metav1.Now()}}
	}, true)
}

// change edits a pod (its status when status is set).
func (s podStand) change(name string, edit func(*corev1.Pod), status bool) {
	s.t.Helper()
	ctx := context.Background()
	pods := s.client.CoreV1().Pods(s.ns)
	pod, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	edit(pod)
	if status {
		_, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	} else {
		_, err = pods.Update(ctx, pod, metav1.UpdateOptions{})
	}
	if err != nil {
		s.t.Fatal(err)
	}
}

// remove deletes a pod at once (no kubelet runs to finish a graceful
// deletion).
func (s podStand) remove(name string) {
	s.t.Helper()
	zero := int64(0)
	if err := s.client.CoreV1().Pods(s.ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		s.t.Fatal(err)
	}
}

// changes counts the Changed calls of each device.
type changes struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *changes) add(id string) { c.mu.Lock(); c.n[id]++; c.mu.Unlock() }
func (c *changes) get(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

// TestPods finds devices through the pods of a namespace: selector, ID
// label, port annotation, readiness, pods left out (logged once), two
// pods of one ID, and Changed on a new address and on a device gone.
func TestPods(t *testing.T) {
	client, _ := startAPIServer(t)
	s := podStand{t: t, client: client, ns: namespace(t, client, "pods")}
	dev := func(id string) map[string]string { return map[string]string{"app": "redroid", "device": id} }

	s.create("redroid-0", dev("dev-0"), nil)
	s.status("redroid-0", "10.1.0.1", true)
	s.create("redroid-1", dev("dev-1"), map[string]string{fleet.DefaultPortAnnotation: "6000"})
	s.status("redroid-1", "10.1.0.2", false)
	s.create("redroid-2", dev("dev-2"), map[string]string{fleet.DefaultPortAnnotation: "adb"}) // not a port
	s.create("redroid-3", dev("dev-3"), nil)                                                   // no IP yet
	s.create("redroid-x", map[string]string{"app": "redroid"}, nil)                            // no ID
	s.create("other-0", map[string]string{"app": "other", "device": "dev-9"}, nil)             // not selected
	s.status("other-0", "10.1.0.9", true)

	logs := &logBuffer{}
	ch := &changes{n: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := fleet.NewPods(ctx, fleet.PodsConfig{
		Client: client, Namespace: s.ns, Selector: "app=redroid", IDLabel: "device",
		Changed: ch.add, Log: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pods.Close()

	want := []fleet.Pod{
		{ID: "dev-0", Name: "redroid-0", Addr: "10.1.0.1:5555", Ready: true, Node: "node-1"},
		{ID: "dev-1", Name: "redroid-1", Addr: "10.1.0.2:6000", Node: "node-1"},
		{ID: "dev-3", Name: "redroid-3", Node: "node-1"},
	}
	if got := pods.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("first list:\n got %+v\nwant %+v", got, want)
	}
	if _, ok := pods.Locate("dev-9"); ok {
		t.Fatal("a pod outside the selector is a device")
	}

	// A new IP: the device moves and Changed says so.
	s.status("redroid-0", "10.1.0.10", true)
	eventually(t, "dev-0 at its new IP", func() bool { p, _ := pods.Locate("dev-0"); return p.Addr == "10.1.0.10:5555" })
	eventually(t, "Changed(dev-0)", func() bool { return ch.get("dev-0") == 1 })
	// Ready without a new address: no Changed.
	s.status("redroid-1", "10.1.0.2", true)
	eventually(t, "dev-1 ready", func() bool { p, _ := pods.Locate("dev-1"); return p.Ready })
	// An IP for a device that had none: a new address.
	s.status("redroid-3", "10.1.0.3", false)
	eventually(t, "dev-3 with an IP", func() bool { p, _ := pods.Locate("dev-3"); return p.Addr == "10.1.0.3:5555" && !p.Ready })

	// Two pods of one ID: the older one stays, whatever the names.
	s.create("dup-b", dev("dev-d"), nil)
	time.Sleep(1100 * time.Millisecond) // creationTimestamp has seconds only
	s.create("dup-a", dev("dev-d"), nil)
	s.create("marker", dev("dev-m"), nil) // seen after dup-a: the watch keeps order
	eventually(t, "the marker pod", func() bool { _, ok := pods.Locate("dev-m"); return ok })
	if p, _ := pods.Locate("dev-d"); p.Name != "dup-b" {
		t.Fatalf("dev-d is %q's, want the older dup-b's", p.Name)
	}
	if ch.get("dev-1") != 0 || ch.get("dev-d") != 0 {
		t.Fatalf("Changed without a new address: dev-1 %d, dev-d %d", ch.get("dev-1"), ch.get("dev-d"))
	}
	// Pods left out are logged once each, however many refreshes since.
	for _, pod := range []string{"redroid-2", "redroid-x", "dup-a"} {
		if n := logs.count("device pod left out", "pod="+pod); n != 1 {
			t.Errorf("%s left out logged %d times, want once", pod, n)
		}
	}

	// The older of two goes: the other pod takes the ID over (a new pod,
	// so Changed).
	s.remove("dup-b")
	eventually(t, "dev-d on dup-a", func() bool { p, _ := pods.Locate("dev-d"); return p.Name == "dup-a" })
	eventually(t, "Changed(dev-d)", func() bool { return ch.get("dev-d") == 1 })
	// A port fixed: the pod is a device again.
	s.change("redroid-2", func(p *corev1.Pod) { p.Annotations[fleet.DefaultPortAnnotation] = "7000" }, false)
	s.status("redroid-2", "10.1.0.4", true)
	eventually(t, "dev-2 on port 7000", func() bool { p, _ := pods.Locate("dev-2"); return p.Addr == "10.1.0.4:7000" && p.Ready })
	// No longer selected, then deleted: gone, and Changed.
	s.change("redroid-3", func(p *corev1.Pod) { p.Labels["app"] = "retired" }, false)
	eventually(t, "dev-3 gone", func() bool { _, ok := pods.Locate("dev-3"); return !ok })
	s.remove("redroid-0")
	eventually(t, "dev-0 gone", func() bool { _, ok := pods.Locate("dev-0"); return !ok })
	eventually(t, "Changed(dev-0) again", func() bool { return ch.get("dev-0") == 2 })
	eventually(t, "Changed(dev-3)", func() bool { return ch.get("dev-3") >= 1 })

	ids := []string{}
	for _, p := range pods.List() {
		ids = append(ids, p.ID)
	}
	if want := []string{"dev-1", "dev-2", "dev-d", "dev-m"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("devices %v, want %v", ids, want)
	}

	// Without an ID label, the pod's name is the device's ID.
	byName, err := fleet.NewPods(ctx, fleet.PodsConfig{Client: client, Namespace: s.ns, Selector: "app=redroid", Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer byName.Close()
	if p, ok := byName.Locate("redroid-1"); !ok || p.Addr != "10.1.0.2:6000" || p.ID != "redroid-1" {
		t.Fatalf("by name: %+v %v", p, ok)
	}
	if n := len(byName.List()); n != 5 { // redroid-1, redroid-2, redroid-x, dup-a, marker
		t.Fatalf("by name: %+v, want 5 devices", byName.List())
	}

	// A start that cannot list in time fails.
	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := fleet.NewPods(done, fleet.PodsConfig{Client: client, Namespace: s.ns, Log: quiet()}); err == nil {
		t.Fatal("NewPods with an ended context succeeded")
	}
}
