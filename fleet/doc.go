// Package fleet spreads devices over the instances of a fleet on
// Kubernetes with the platform's own primitives and no other stateful
// component:
//
//   - devices are the pods a label selector selects (Pods): a device's ID
//     is a label or the pod's name, its adb address the pod's IP and a
//     port annotation;
//   - members are the ready endpoints of the fleet's headless Service
//     (EndpointSlices), each with a member Lease it renews with its load
//     (Members), so that a draining or failing instance drops out by its
//     readiness alone;
//   - one owner per device is held by a coordination.k8s.io/v1 Lease that
//     its owner renews (Leases: optimistic concurrency on the Lease's
//     resourceVersion, never a second lock), named from the device ID
//     (LeaseName) with the ID in an annotation;
//   - a device with no owner goes to a member with spare capacity by
//     rendezvous hashing (Place), so that placement moves little when
//     members come and go.
//
// The service (package service) uses these to decide where a device runs
// and where a request goes; package api forwards requests to the owner.
// All of it is proven against a real kube-apiserver in test/fleet.
package fleet
