package fleet

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cloudphone/media-service/fleet"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ep is an endpoint of an EndpointSlice: a pod's (when pod is set), else
// a hostname's (when host is), else a bare address.
func ep(addr, pod, host string, ready bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
	if pod != "" {
		e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: pod}
	}
	if host != "" {
		e.Hostname = &host
	}
	return e
}

// port is an EndpointSlice port ("" name: unnamed).
func port(name string, proto corev1.Protocol, n int32) discoveryv1.EndpointPort {
	p := discoveryv1.EndpointPort{Protocol: &proto, Port: &n}
	if name != "" {
		p.Name = &name
	}
	return p
}

// slice writes an EndpointSlice of a Service (creates or replaces it).
func slice(t *testing.T, client kubernetes.Interface, ns, name, service string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) {
	t.Helper()
	ctx := context.Background()
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
		Endpoints:   eps,
	}
	slices := client.DiscoveryV1().EndpointSlices(ns)
	cur, err := slices.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, s, metav1.CreateOptions{})
	case err == nil:
		s.ResourceVersion = cur.ResourceVersion
		_, err = slices.Update(ctx, s, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// memberLease writes a member Lease by hand, renewed at renewed.
func memberLease(t *testing.T, client kubernetes.Interface, ns, holder string, renewed time.Time, secs int32, load map[string]string) {
	t.Helper()
	at := metav1.NewMicroTime(renewed)
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: fleet.MemberLeaseName(holder), Labels: map[string]string{fleet.LabelKind: fleet.LeaseKindMember}, Annotations: load},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &at},
	}
	if _, err := client.CoordinationV1().Leases(ns).Create(context.Background(), l, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// loadBox is a member's load that the test changes.
type loadBox struct {
	mu   sync.Mutex
	load fleet.Load
}

func (b *loadBox) get() fleet.Load  { b.mu.Lock(); defer b.mu.Unlock(); return b.load }
func (b *loadBox) set(l fleet.Load) { b.mu.Lock(); b.load = l; b.mu.Unlock() }
func names(ms []fleet.Member) []string {
	return mapNames(ms, func(m fleet.Member) string { return m.Name })
}
func infoNames(ms []fleet.MemberInfo) []string {
	return mapNames(ms, func(m fleet.MemberInfo) string { return m.Name })
}
func mapNames[T any](ms []T, name func(T) string) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, name(m))
	}
	return out
}

// TestMembers runs two members over EndpointSlices of both shapes (one
// slice per instance, all on one address with their own ports, as the
// local stand-in writes them on 127.0.0.1, here on 10.0.0.1 since the API
// server refuses loopback addresses; one slice of several endpoints
// sharing a port) and member Leases: who is ready, with what load, who is
// known though not ready, and what Close leaves.
func TestMembers(t *testing.T) {
	client, _ := startAPIServer(t)
	ns := namespace(t, client, "members")
	ctx := context.Background()
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP

	slice(t, client, ns, "fleet-a", "fleet", []discoveryv1.EndpointPort{port("metrics", tcp, 9090), port("http", tcp, 8081)},
		ep("10.0.0.1", "media-a", "", true))
	slice(t, client, ns, "fleet-b", "fleet", []discoveryv1.EndpointPort{port("rtp", udp, 5000), port("", tcp, 8082)},
		ep("10.0.0.1", "media-b", "", true))
	slice(t, client, ns, "fleet-shared", "fleet", []discoveryv1.EndpointPort{port("http", tcp, 9000)},
		ep("10.0.1.2", "media-c", "", true),
		ep("10.0.1.3", "media-d", "", true),
		ep("10.0.1.4", "", "host-e", false),
		ep("10.0.1.5", "", "", true))
	slice(t, client, ns, "other-z", "other", []discoveryv1.EndpointPort{port("http", tcp, 9000)},
		ep("10.0.1.9", "media-z", "", true))
	// media-c renews its Lease (by hand here); media-d stopped an hour ago.
	memberLease(t, client, ns, "media-c", time.Now(), 3600, map[string]string{
		fleet.AnnotationDevices: "2", fleet.AnnotationMaxDevices: "4", fleet.AnnotationHardwareEncoder: "true", fleet.AnnotationEncodeSlots: "3",
	})
	memberLease(t, client, ns, "media-d", time.Now().Add(-time.Hour), 3, map[string]string{fleet.AnnotationDevices: "1"})

	const d = 3 * time.Second
	start := func(name, url string, load *loadBox) *fleet.Members {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		m, err := fleet.NewMembers(sctx, fleet.MembersConfig{
			Client: client, Namespace: ns, Service: "fleet", Identity: name, URL: url,
			Duration: d, Self: load.get, Log: quiet(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(ctx) })
		return m
	}
	loadA := &loadBox{load: fleet.Load{Devices: 1, MaxDevices: 8, EncodeSlots: 2, HardwareEncoder: true}}
	loadB := &loadBox{load: fleet.Load{Devices: 0, MaxDevices: 8}}
	a := start("media-a", "http://10.0.0.1:8081", loadA)
	b := start("media-b", "http://10.0.0.1:8082", loadB)

	// Its own Lease is written before NewMembers returns.
	own, err := client.CoordinationV1().Leases(ns).Get(ctx, fleet.MemberLeaseName("media-a"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantAnn := map[string]string{
		fleet.AnnotationDevices: "1", fleet.AnnotationMaxDevices: "8", fleet.AnnotationEncodeSlots: "2",
		fleet.AnnotationHardwareEncoder: "true", fleet.AnnotationURL: "http://10.0.0.1:8081",
	}
	if !reflect.DeepEqual(own.Annotations, wantAnn) || *own.Spec.HolderIdentity != "media-a" || *own.Spec.LeaseDurationSeconds != 3 ||
		own.Labels[fleet.LabelKind] != fleet.LeaseKindMember {
		t.Fatalf("member Lease: %+v %+v", own.ObjectMeta, own.Spec)
	}

	wantReady := []fleet.Member{
		{Name: "media-a", Devices: 1, MaxDevices: 8, HardwareEncoder: true},
		{Name: "media-b", MaxDevices: 8},
		{Name: "media-c", Devices: 2, MaxDevices: 4, HardwareEncoder: true},
	}
	for _, m := range []*fleet.Members{a, b} {
		eventually(t, "both members see the same ready members", func() bool { return reflect.DeepEqual(m.Ready(), wantReady) })
	}
	if got, want := infoNames(a.All()), []string{"10.0.1.5", "host-e", "media-a", "media-b", "media-c", "media-d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("All: %v, want %v", got, want)
	}
	urls := map[string]string{
		"media-a": "http://10.0.0.1:8081", "media-b": "http://10.0.0.1:8082", "media-c": "http://10.0.1.2:9000",
		"media-d": "http://10.0.1.3:9000", "host-e": "http://10.0.1.4:9000", "10.0.1.5": "http://10.0.1.5:9000",
	}
	for name, url := range urls {
		info, ok := b.Lookup(name)
		if !ok || info.URL != url || info.Tag != fleet.MemberTag(name) {
			t.Errorf("Lookup(%s) = %+v %v, want URL %s", name, info, ok, url)
		}
	}
	if c, _ := a.Lookup("media-c"); c.EncodeSlots != 3 || !c.Ready {
		t.Errorf("media-c: %+v", c)
	}
	// A Lease not renewed for its duration: known, not ready.
	if info, ok := a.Lookup("media-d"); !ok || info.Ready || info.Devices != 1 {
		t.Errorf("media-d (stale Lease): %+v %v", info, ok)
	}
	if _, ok := a.Lookup("media-z"); ok {
		t.Error("a member of another Service is known")
	}

	// A new load reaches the others at the next renewal.
	loadB.set(fleet.Load{Devices: 5, MaxDevices: 8, EncodeSlots: 1})
	eventually(t, "b's new load seen by a", func() bool {
		info, _ := a.Lookup("media-b")
		return info.Devices == 5 && info.EncodeSlots == 1
	})

	// Somebody else writes b's Lease: b's next renewal conflicts, reads it
	// again, and goes on renewing.
	leases := client.CoordinationV1().Leases(ns)
	other, err := leases.Get(ctx, fleet.MemberLeaseName("media-b"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other.Annotations["someone"] = "else"
	if other, err = leases.Update(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b renews its Lease after a conflict", func() bool {
		cur, err := leases.Get(ctx, fleet.MemberLeaseName("media-b"), metav1.GetOptions{})
		return err == nil && cur.Spec.RenewTime.After(other.Spec.RenewTime.Time) && *cur.Spec.HolderIdentity == "media-b"
	})

	// An endpoint not ready: out of Ready, still known by name and tag.
	slice(t, client, ns, "fleet-b", "fleet", []discoveryv1.EndpointPort{port("rtp", udp, 5000), port("", tcp, 8082)},
		ep("10.0.0.1", "media-b", "", false))
	eventually(t, "b out of a's Ready", func() bool { return reflect.DeepEqual(names(a.Ready()), []string{"media-a", "media-c"}) })
	if info, ok := a.ByTag(fleet.MemberTag("media-b")); !ok || info.Name != "media-b" || info.Ready || info.URL != "http://10.0.0.1:8082" {
		t.Fatalf("ByTag(media-b) = %+v %v", info, ok)
	}
	if _, ok := a.ByTag("00000000"); ok {
		t.Fatal("ByTag found an unknown tag")
	}
	slice(t, client, ns, "fleet-b", "fleet", []discoveryv1.EndpointPort{port("rtp", udp, 5000), port("", tcp, 8082)},
		ep("10.0.0.1", "media-b", "", true))
	eventually(t, "b back in a's Ready", func() bool {
		return reflect.DeepEqual(names(a.Ready()), []string{"media-a", "media-b", "media-c"})
	})

	// Close deletes the member's Lease: out of Ready at once, endpoint or
	// not, and nothing left behind.
	b.Close(ctx)
	b.Close(ctx) // idempotent
	if _, err := client.CoordinationV1().Leases(ns).Get(ctx, fleet.MemberLeaseName("media-b"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("b's Lease after Close: %v", err)
	}
	eventually(t, "b out of a's Ready after Close", func() bool { return reflect.DeepEqual(names(a.Ready()), []string{"media-a", "media-c"}) })
	if info, ok := a.Lookup("media-b"); !ok || info.Ready {
		t.Fatalf("b after Close: %+v %v", info, ok)
	}

	// A member that stops renewing (its Lease kept, as after a crash)
	// drops out once the Lease is older than its duration.
	var frozen *coordinationv1.Lease
	frozen, err = client.CoordinationV1().Leases(ns).Get(ctx, fleet.MemberLeaseName("media-a"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := start("media-c", "", &loadBox{}) // takes media-c's Lease over from the hand-written one
	eventually(t, "c's own load", func() bool { info, _ := c.Lookup("media-c"); return info.Ready && info.Devices == 0 })
	a.Close(ctx)
	memberLease(t, client, ns, "media-a", frozen.Spec.RenewTime.Time, 3, nil) // a crashed: its last Lease stays
	eventually(t, "a, not renewed, out of c's Ready", func() bool { return reflect.DeepEqual(names(c.Ready()), []string{"media-c"}) })
}
