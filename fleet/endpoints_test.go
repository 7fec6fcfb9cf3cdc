package fleet

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func TestEndpointsOf(t *testing.T) {
	pod := func(name string) *corev1.ObjectReference { return &corev1.ObjectReference{Kind: "Pod", Name: name} }
	sl := func(name string, family discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name}, AddressType: family, Ports: ports, Endpoints: eps}
	}
	http := []discoveryv1.EndpointPort{{Name: ptr("metrics"), Port: ptr(int32(9090))}, {Name: ptr("http"), Port: ptr(int32(8080))}}
	for _, tc := range []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		want   map[string]endpoint
	}{{
		name: "one slice per instance, one address, own ports",
		slices: []*discoveryv1.EndpointSlice{
			sl("s-b", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{{Port: ptr(int32(8082))}},
				discoveryv1.Endpoint{Addresses: []string{"127.0.0.1"}, TargetRef: pod("b"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}}),
			sl("s-a", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{{Port: ptr(int32(8081))}},
				discoveryv1.Endpoint{Addresses: []string{"127.0.0.1"}, TargetRef: pod("a")}),
		},
		want: map[string]endpoint{
			"a": {name: "a", url: "http://127.0.0.1:8081", ready: true},
			"b": {name: "b", url: "http://127.0.0.1:8082"},
		},
	}, {
		name: "one slice, shared port named http, names by pod, hostname, address",
		slices: []*discoveryv1.EndpointSlice{sl("s", discoveryv1.AddressTypeIPv4, http,
			discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, TargetRef: pod("a")},
			discoveryv1.Endpoint{Addresses: []string{"10.0.0.2"}, Hostname: ptr("host-b"), TargetRef: &corev1.ObjectReference{Kind: "Node", Name: "n"}},
			discoveryv1.Endpoint{Addresses: []string{"10.0.0.3"}},
			discoveryv1.Endpoint{}, // no address: skipped
		)},
		want: map[string]endpoint{
			"a":        {name: "a", url: "http://10.0.0.1:8080", ready: true},
			"host-b":   {name: "host-b", url: "http://10.0.0.2:8080", ready: true},
			"10.0.0.3": {name: "10.0.0.3", url: "http://10.0.0.3:8080", ready: true},
		},
	}, {
		name: "dual stack: IPv4 first; first TCP port; no TCP port, no URL",
		slices: []*discoveryv1.EndpointSlice{
			sl("s1", discoveryv1.AddressTypeIPv6, []discoveryv1.EndpointPort{{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(int32(1))}, {Protocol: ptr(corev1.ProtocolTCP), Port: ptr(int32(8080))}},
				discoveryv1.Endpoint{Addresses: []string{"fd00::1"}, TargetRef: pod("a")},
				discoveryv1.Endpoint{Addresses: []string{"fd00::2"}, TargetRef: pod("b")}),
			sl("s2", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{{Port: ptr(int32(8080))}},
				discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, TargetRef: pod("a")}),
			sl("s3", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(int32(1))}},
				discoveryv1.Endpoint{Addresses: []string{"10.0.0.3"}, TargetRef: pod("c")}),
		},
		want: map[string]endpoint{
			"a": {name: "a", url: "http://10.0.0.1:8080", ready: true},
			"b": {name: "b", url: "http://[fd00::2]:8080", ready: true, family: 1},
			"c": {name: "c", ready: true},
		},
	}, {
		name: "a ready endpoint wins over a not ready one in another slice",
		slices: []*discoveryv1.EndpointSlice{
			sl("s1", discoveryv1.AddressTypeIPv4, http, discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, TargetRef: pod("a"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}}),
			sl("s2", discoveryv1.AddressTypeIPv6, http, discoveryv1.Endpoint{Addresses: []string{"fd00::1"}, TargetRef: pod("a"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}}),
		},
		want: map[string]endpoint{"a": {name: "a", url: "http://[fd00::1]:8080", ready: true, family: 1}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := endpointsOf(tc.slices); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
