package fleet

import (
	"context"
	"reflect"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestLoadOf(t *testing.T) {
	for _, tc := range []struct {
		ann  map[string]string
		want Load
	}{
		{nil, Load{}},
		{map[string]string{AnnotationDevices: "3", AnnotationMaxDevices: "8", AnnotationEncodeSlots: "2", AnnotationHardwareEncoder: "true"}, Load{3, 8, 2, true}},
		{map[string]string{AnnotationDevices: "x", AnnotationMaxDevices: "-1", AnnotationHardwareEncoder: "yes"}, Load{}},
	} {
		if got := loadOf(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Annotations: tc.ann}}); got != tc.want {
			t.Errorf("loadOf(%v) = %+v, want %+v", tc.ann, got, tc.want)
		}
	}
}

// TestMembersWatch runs one member over a fake clientset: its Lease
// written at once with its load, itself ready once its endpoint is, a
// stale Lease not ready, Close deleting its Lease and leaving no
// goroutine.
func TestMembersWatch(t *testing.T) {
	client := fake.NewClientset()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := NewMembers(ctx, MembersConfig{Client: client, Namespace: "ns", Service: "fleet", Identity: "a", Duration: time.Second}); err == nil {
		t.Fatal("a LEASE_DURATION of 1s was taken")
	}
	stale := metav1.NewMicroTime(time.Now().Add(-time.Hour))
	secs := int32(10)
	holder := "b"
	_, err := client.CoordinationV1().Leases("ns").Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: MemberLeaseName("b"), Labels: map[string]string{LabelKind: LeaseKindMember}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &stale, LeaseDurationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMembers(ctx, MembersConfig{
		Client: client, Namespace: "ns", Service: "fleet", Identity: "a", URL: "http://10.0.0.1:8080",
		Self: func() Load { return Load{Devices: 2, MaxDevices: 4, HardwareEncoder: true} }, Log: quietLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	lease, err := client.CoordinationV1().Leases("ns").Get(ctx, MemberLeaseName("a"), metav1.GetOptions{})
	if err != nil || loadOf(lease) != (Load{Devices: 2, MaxDevices: 4, HardwareEncoder: true}) || lease.Annotations[AnnotationURL] != "http://10.0.0.1:8080" {
		t.Fatalf("own Lease: %+v %v", lease, err)
	}
	if len(m.All()) != 0 {
		t.Fatalf("members without endpoints: %+v", m.All())
	}
	_, err = client.DiscoveryV1().EndpointSlices("ns").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "fleet-x", Labels: map[string]string{discoveryv1.LabelServiceName: "fleet"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "a"}},
			{Addresses: []string{"10.0.0.2"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "b"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(m.All()) == 2 })
	if got, want := m.Ready(), []Member{{Name: "a", Devices: 2, MaxDevices: 4, HardwareEncoder: true}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Ready() = %+v, want %+v", got, want)
	}
	if b, ok := m.ByTag(MemberTag("b")); !ok || b.Ready || b.URL != "http://10.0.0.2:8080" {
		t.Fatalf("ByTag(b) = %+v %v", b, ok)
	}
	m.Close(ctx)
	m.Close(ctx)
	if _, err := client.CoordinationV1().Leases("ns").Get(ctx, MemberLeaseName("a"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("own Lease after Close: %v", err)
	}
}
