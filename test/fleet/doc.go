// Package fleet holds the tests of the service's fleet (package fleet of
// the service's module) against a real kube-apiserver and etcd, started
// in the test process. Build it without -trimpath: the API server finds
// its certificate fixtures through runtime.Caller.
package fleet
