// Package fleet spreads devices over the instances of a fleet on
// Kubernetes with the platform's own primitives and no other stateful
// component: one owner per device held by a coordination.k8s.io/v1 Lease
// that its owner renews (optimistic concurrency on the Lease's
// resourceVersion, never a second lock), and placement of a device with no
// owner on a member with spare capacity by rendezvous hashing, so that
// placement moves little when members come and go.
//
// What is here so far: Lease names (LeaseName), placement (Place) and
// ownership (Leases: Claim, renewal, Release, loss). Devices found
// through the API, membership from EndpointSlices, forwarding to the
// owner and failover are the next steps (issue 19 lists them); the
// ownership is proven against a real kube-apiserver in test/fleet.
package fleet
