package fleet

import (
	"cmp"
	"net"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// endpoint is one member as the EndpointSlices of the fleet's Service
// tell it.
type endpoint struct {
	// name is the endpoint's pod (targetRef.name), else its hostname,
	// else its first address.
	name string
	// url is "http://address:port", "" when its slice has no usable
	// port.
	url string
	// ready is the endpoint's condition Ready (true when unset).
	ready bool
	// family ranks the slice's address type: IPv4 first.
	family int
	// node is the node the endpoint runs on (nodeName), "" when unset.
	node string
}

// endpointsOf returns the members that the EndpointSlices of one Service
// name, by name. A Service may have several slices (many endpoints,
// dual stack, or one slice per instance), each with its own ports; a
// member found in several keeps its ready endpoint, then its IPv4 one,
// then the one of the first slice by name.
func endpointsOf(list []*discoveryv1.EndpointSlice) map[string]endpoint {
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	out := map[string]endpoint{}
	for _, s := range list {
		port, hasPort := slicePort(s.Ports)
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			e := endpoint{
				name:   endpointName(ep),
				ready:  ep.Conditions.Ready == nil || *ep.Conditions.Ready,
				family: addressFamily(s.AddressType),
			}
			if ep.NodeName != nil {
				e.node = *ep.NodeName
			}
			if hasPort {
				e.url = "http://" + net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port)))
			}
			if prev, ok := out[e.name]; ok && !better(e, prev) {
				continue
			}
			out[e.name] = e
		}
	}
	return out
}

// better reports whether a is a better endpoint of a member than b.
func better(a, b endpoint) bool {
	if a.ready != b.ready {
		return a.ready
	}
	return a.family < b.family
}

// endpointName is the member an endpoint stands for: its pod's name, else
// its hostname, else its first address.
func endpointName(ep discoveryv1.Endpoint) string {
	switch {
	case ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" && ep.TargetRef.Name != "":
		return ep.TargetRef.Name
	case ep.Hostname != nil && *ep.Hostname != "":
		return *ep.Hostname
	default:
		return ep.Addresses[0]
	}
}

// slicePort is the port of a slice's endpoints that members serve HTTP
// on: the port named "http", else the first TCP port.
func slicePort(ports []discoveryv1.EndpointPort) (int32, bool) {
	for _, p := range ports {
		if p.Name != nil && *p.Name == "http" && p.Port != nil {
			return *p.Port, true
		}
	}
	for _, p := range ports {
		if (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) && p.Port != nil {
			return *p.Port, true
		}
	}
	return 0, false
}

// addressFamily ranks an address type: IPv4, IPv6, then FQDN.
func addressFamily(t discoveryv1.AddressType) int {
	switch t {
	case discoveryv1.AddressTypeIPv4:
		return 0
	case discoveryv1.AddressTypeIPv6:
		return 1
	default:
		return 2
	}
}
