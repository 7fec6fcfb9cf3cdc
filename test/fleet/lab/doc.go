// Package lab runs a fleet of the service on one machine, for `make
// fleet` (cmd/fleetlab) and for the fleet's tests:
//
//   - a real kube-apiserver with an embedded etcd (the Kubernetes test
//     server, as the fleet's tests use it), and a kubeconfig file for it;
//   - simulated devices (package devicesim) in this process, each on its
//     own loopback port, and for each a pod (app=devicesim, annotation
//     media-service/adb-port) that the lab marks running and ready on
//     127.0.0.1, as a kubelet would; a device's ID is its pod's name
//     (phone-1...);
//   - instances of the service (media-1...) as processes of the program
//     built from the repository, each with its own ports, its own adb
//     server and its own HOME, configured for DEVICE_SOURCE=kubernetes;
//   - the endpoint controller's stand-in: every 500 ms it asks each
//     instance's GET /ready and keeps one EndpointSlice per instance
//     (media-service-media-N, of the headless Service media-service)
//     whose endpoint is ready when the instance answered 200 and the lab
//     has not sent it SIGTERM; the slice goes when the process ends. Its
//     address is the machine's first non-loopback IPv4 address
//     (Config.EndpointIP): the API server refuses loopback endpoints;
//   - a loopback proxy standing in for the Service: each request goes to
//     one ready instance, round robin, with X-Forwarded-For, and is never
//     retried; the response names the instance (X-Fleet-Lab-Instance).
//
// Start builds and starts everything and waits until every instance is
// ready; Close stops everything, children first. The API server's helpers
// want a *testing.T: the lab passes them a stand-in of its own, so it runs
// in a program as well as in a test.
//
// The package links FFmpeg through devicesim: build it with
// third_party/with-ffmpeg.sh, and without -trimpath (the API server finds
// its certificate fixtures through runtime.Caller).
package lab
