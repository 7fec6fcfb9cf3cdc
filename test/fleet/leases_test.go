package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/fleet"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// namespace makes a namespace for one test.
func namespace(t *testing.T, client kubernetes.Interface, name string) string {
	t.Helper()
	_, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// member returns one member's Leases.
func member(t *testing.T, client kubernetes.Interface, ns, name string, d time.Duration, lost func(string)) *fleet.Leases {
	t.Helper()
	l, err := fleet.NewLeases(fleet.LeasesConfig{Client: client.CoordinationV1(), Namespace: ns, Identity: name, Duration: d, Lost: lost, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// TestLeases runs the ownership cases against one real API server.
func TestLeases(t *testing.T) {
	client, _ := startAPIServer(t)
	t.Run("race", func(t *testing.T) { testRace(t, client) })
	t.Run("handover", func(t *testing.T) { testHandover(t, client) })
	t.Run("expiry", func(t *testing.T) { testExpiry(t, client) })
}

// testRace: two members claim one device at the same moment, 50 times
// (a new device each time, and again for a released one): exactly one
// holds it each time, and the Lease names it.
func testRace(t *testing.T, client kubernetes.Interface) {
	ns := namespace(t, client, "race")
	a := member(t, client, ns, "media-a", 10*time.Second, nil)
	b := member(t, client, ns, "media-b", 10*time.Second, nil)
	ctx := context.Background()
	wins := map[string]int{}
	for i := range 50 {
		dev := fmt.Sprintf("10.0.0.%d:5555", i%25) // the second 25 rounds race for a released device
		var ha, hb string
		var ea, eb error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; ha, ea = a.Claim(ctx, dev) })
		wg.Go(func() { <-start; hb, eb = b.Claim(ctx, dev) })
		close(start)
		wg.Wait()
		if ea != nil || eb != nil {
			t.Fatalf("round %d: claim errors %v, %v", i, ea, eb)
		}
		if ha != hb || (ha != "media-a" && ha != "media-b") {
			t.Fatalf("round %d: a sees %q, b sees %q as the holder", i, ha, hb)
		}
		held := 0
		for _, l := range []*fleet.Leases{a, b} {
			for _, h := range l.Held() {
				if h == dev {
					held++
				}
			}
		}
		if held != 1 {
			t.Fatalf("round %d: %d members hold %s", i, held, dev)
		}
		lease, err := client.CoordinationV1().Leases(ns).Get(ctx, fleet.LeaseName(dev), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *lease.Spec.HolderIdentity != ha || lease.Annotations[fleet.AnnotationDevice] != dev {
			t.Fatalf("round %d: the Lease says %q holds %q", i, *lease.Spec.HolderIdentity, lease.Annotations[fleet.AnnotationDevice])
		}
		wins[ha]++
		// Half the rounds race for a device that was held and released.
		winner := map[string]*fleet.Leases{"media-a": a, "media-b": b}[ha]
		if err := winner.Release(ctx, dev); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wins over 50 races: %v", wins)
}

// testHandover: a device released by its holder is claimed by another
// member at once; a member that claims a held device is told its holder.
func testHandover(t *testing.T, client kubernetes.Interface) {
	ns := namespace(t, client, "handover")
	a := member(t, client, ns, "media-a", 10*time.Second, nil)
	b := member(t, client, ns, "media-b", 10*time.Second, nil)
	ctx := context.Background()
	if h, err := a.Claim(ctx, "dev"); err != nil || h != "media-a" {
		t.Fatalf("a's claim: %q %v", h, err)
	}
	if h, err := a.Claim(ctx, "dev"); err != nil || h != "media-a" {
		t.Fatalf("a's second claim: %q %v", h, err)
	}
	if h, err := b.Claim(ctx, "dev"); err != nil || h != "media-a" {
		t.Fatalf("b's claim of a held device: %q %v", h, err)
	}
	if h, until, err := b.Holder(ctx, "dev"); err != nil || h != "media-a" || until.Before(time.Now()) {
		t.Fatalf("Holder: %q until %v, %v", h, until, err)
	}
	if err := a.Release(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if h, err := b.Claim(ctx, "dev"); err != nil || h != "media-b" {
		t.Fatalf("b's claim after the release: %q %v", h, err)
	}
	if len(a.Held()) != 0 {
		t.Fatalf("a still holds %v", a.Held())
	}
}

// testExpiry: a member that stops renewing (killed) loses its devices
// after the Lease duration; another member takes them, and the first
// one's Leases object, written by the new holder, counts a transition.
// A member whose Lease was taken learns it on its next renewal (Lost).
func testExpiry(t *testing.T, client kubernetes.Interface) {
	ns := namespace(t, client, "expiry")
	const d = 5 * time.Second
	var lostA atomic.Int64
	a := member(t, client, ns, "media-a", d, func(string) { lostA.Add(1) })
	b := member(t, client, ns, "media-b", d, nil)
	ctx := context.Background()
	if h, err := a.Claim(ctx, "dev"); err != nil || h != "media-a" {
		t.Fatalf("a's claim: %q %v", h, err)
	}
	// a renews: after two durations it still holds the device.
	time.Sleep(2 * d)
	if h, err := b.Claim(ctx, "dev"); err != nil || h != "media-a" {
		t.Fatalf("b took a renewed device: %q %v", h, err)
	}
	a.Close() // a is killed: no renewal, no release
	deadline := time.Now().Add(d + 30*time.Second)
	var took time.Duration
	start := time.Now()
	for {
		h, err := b.Claim(ctx, "dev")
		if err != nil {
			t.Fatal(err)
		}
		if h == "media-b" {
			took = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never took the device of a dead member (holder %q)", h)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the dead member's device was taken %v after it stopped renewing (LEASE_DURATION %v)", took.Round(100*time.Millisecond), d)
	lease, err := client.CoordinationV1().Leases(ns).Get(ctx, fleet.LeaseName("dev"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.LeaseTransitions == nil || *lease.Spec.LeaseTransitions != 1 {
		t.Fatalf("transitions %v, want 1", lease.Spec.LeaseTransitions)
	}
	// A third member, alive, whose Lease is taken over by hand, learns it.
	var lostC atomic.Int64
	c := member(t, client, ns, "media-c", d, func(string) { lostC.Add(1) })
	if h, err := c.Claim(ctx, "other"); err != nil || h != "media-c" {
		t.Fatalf("c's claim: %q %v", h, err)
	}
	stolen, err := client.CoordinationV1().Leases(ns).Get(ctx, fleet.LeaseName("other"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	someone := "intruder"
	stolen.Spec.HolderIdentity = &someone
	if _, err := client.CoordinationV1().Leases(ns).Update(ctx, stolen, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); lostC.Load() == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("c never learned that its device's Lease was taken")
		}
	}
	if len(c.Held()) != 0 || lostA.Load() != 0 {
		t.Fatalf("c holds %v after losing it; a (closed) lost %d", c.Held(), lostA.Load())
	}
	var _ *coordinationv1.Lease = stolen
}
