package lab

import (
	"context"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// PollInterval is how often the lab asks each instance's GET /ready.
const PollInterval = 500 * time.Millisecond

// sliceState is what the lab last wrote for an instance's EndpointSlice.
type sliceState struct {
	exists      bool
	serving     bool // GET /ready answered 200
	terminating bool // the lab sent SIGTERM
}

// ready is the endpoint's ready condition: serving and not terminating.
func (s sliceState) ready() bool { return s.serving && !s.terminating }

// createService creates the headless Service of the instances.
func (l *Lab) createService(ctx context.Context) error {
	_, err := l.client.CoreV1().Services(l.ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceName},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{"app": InstanceApp},
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}, metav1.CreateOptions{})
	return err
}

// endpoints is the endpoint controller's stand-in: every PollInterval (or
// sooner when an instance exits) it asks each running instance's GET
// /ready and writes the instance's EndpointSlice when its readiness
// changed; it deletes the slice of an instance whose process ended.
func (l *Lab) endpoints(ctx context.Context) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	state := map[*Instance]sliceState{}
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		instances := l.Instances()
		var wg sync.WaitGroup
		for _, in := range instances {
			wg.Go(func() { in.pollReady(ctx, client) })
		}
		wg.Wait()
		for _, in := range instances {
			if ctx.Err() != nil {
				return
			}
			want := sliceState{exists: in.Running(), serving: in.Ready(), terminating: in.terminatingNow()}
			if state[in] == want {
				continue
			}
			if err := l.writeSlice(ctx, in, want); err != nil {
				if ctx.Err() == nil {
					l.logf("lab: EndpointSlice of %s: %v", in.name, err)
				}
				continue
			}
			l.logf("lab: EndpointSlice %s: exists=%v ready=%v serving=%v terminating=%v",
				in.SliceName(), want.exists, want.ready(), want.serving, want.terminating)
			state[in] = want
		}
		l.polled()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.pokeCh:
		}
	}
}

// writeSlice creates, updates or deletes the instance's EndpointSlice.
func (l *Lab) writeSlice(ctx context.Context, in *Instance, want sliceState) error {
	slices := l.client.DiscoveryV1().EndpointSlices(l.ns)
	if !want.exists {
		err := slices.Delete(ctx, in.SliceName(), metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: in.SliceName(),
			Labels: map[string]string{
				discoveryv1.LabelServiceName: ServiceName,
				discoveryv1.LabelManagedBy:   "fleetlab",
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{l.cfg.EndpointIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(want.ready()), Serving: ptr.To(want.serving), Terminating: ptr.To(want.terminating)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: in.name, Namespace: l.ns},
			NodeName:   nodeName(in.node),
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(in.port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	cur, err := slices.Get(ctx, es.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = slices.Create(ctx, es, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	es.ResourceVersion = cur.ResourceVersion
	_, err = slices.Update(ctx, es, metav1.UpdateOptions{})
	return err
}

// nodeName is an endpoint's nodeName: nil for no node.
func nodeName(node string) *string {
	if node == "" {
		return nil
	}
	return &node
}
