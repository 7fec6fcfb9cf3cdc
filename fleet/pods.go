package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"

	"github.com/cloudphone/media-service/media"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Defaults of PodsConfig.
const (
	// DefaultPortAnnotation is the pod annotation that gives adbd's port.
	DefaultPortAnnotation = "media-service/adb-port"
	// DefaultDevicePort is adbd's port in a pod without the annotation
	// (Redroid's).
	DefaultDevicePort = 5555
)

// PodsConfig configures Pods.
type PodsConfig struct {
	// Client reaches the API server.
	Client kubernetes.Interface
	// Namespace holds the device pods.
	Namespace string
	// Selector is the label selector of the device pods
	// (DEVICE_SELECTOR), e.g. "app=redroid".
	Selector string
	// IDLabel is the pod label that gives a device's ID
	// (DEVICE_ID_LABEL); "" means the pod's name.
	IDLabel string
	// PortAnnotation is the pod annotation that gives adbd's port;
	// default DefaultPortAnnotation.
	PortAnnotation string
	// DefaultPort is adbd's port in a pod without the annotation;
	// default DefaultDevicePort.
	DefaultPort int
	// Changed, when set, is called with a device's ID when its address
	// changed (a new IP, a new port, a new pod in its place) or it went
	// away (its pod deleted, or no longer matching). It is called on the
	// watch's goroutine, under no lock; it must not block long.
	Changed func(id string)
	// Log receives the logs; default slog.Default().
	Log *slog.Logger
}

// Pod is a device as its pod tells it.
type Pod struct {
	// ID is the device's ID.
	ID string
	// Name is the pod's name.
	Name string
	// Addr is adbd's address, "podIP:port"; "" while the pod has no IP
	// (or no longer has one: it succeeded or failed).
	Addr string
	// Ready is set when the pod has an IP, is Running, has its condition
	// Ready true and is not being deleted.
	Ready bool
	// Node is the node the pod runs on (spec.nodeName).
	Node string
}

// Pods is the set of devices found through the Kubernetes API: the pods
// of a namespace that match a label selector, watched. Pods whose ID is
// not a valid device ID (media.CheckDeviceID) or whose port annotation is
// not a port are left out; of two pods with the same ID, the older one
// (creationTimestamp, then name) is kept. Each such pod is logged once.
type Pods struct {
	cfg   PodsConfig
	inf   cache.SharedIndexInformer
	watch *watch
	kick  chan struct{}

	mu      sync.Mutex
	devices map[string]device

	// warned is the last problem logged of each pod; only the watch's
	// goroutine touches it.
	warned map[types.UID]string
}

// device is a Pod, with the pod's UID to tell a new pod in its place.
type device struct {
	Pod
	uid types.UID
}

// NewPods starts watching the device pods and returns once their first
// list is in; it fails when ctx ends first. ctx bounds that wait only:
// the watch runs until Close.
func NewPods(ctx context.Context, cfg PodsConfig) (*Pods, error) {
	if cfg.Client == nil || cfg.Namespace == "" {
		return nil, errors.New("fleet: Pods need a client and a namespace")
	}
	if _, err := labels.Parse(cfg.Selector); err != nil {
		return nil, fmt.Errorf("fleet: DEVICE_SELECTOR %q: %w", cfg.Selector, err)
	}
	if cfg.PortAnnotation == "" {
		cfg.PortAnnotation = DefaultPortAnnotation
	}
	if cfg.DefaultPort == 0 {
		cfg.DefaultPort = DefaultDevicePort
	}
	if cfg.DefaultPort < 1 || cfg.DefaultPort > 65535 {
		return nil, fmt.Errorf("fleet: device port %d is not a port", cfg.DefaultPort)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Changed == nil {
		cfg.Changed = func(string) {}
	}
	p := &Pods{cfg: cfg, kick: make(chan struct{}, 1), devices: map[string]device{}, warned: map[types.UID]string{}}
	p.inf = coreinformers.NewFilteredPodInformer(cfg.Client, cfg.Namespace, 0, cache.Indexers{}, func(o *metav1.ListOptions) {
		o.LabelSelector = cfg.Selector
	})
	kick := func() {
		select {
		case p.kick <- struct{}{}:
		default: // a refresh is due already
		}
	}
	_, err := p.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { kick() },
		UpdateFunc: func(any, any) { kick() },
		DeleteFunc: func(any) { kick() },
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: watch the device pods: %w", err)
	}
	p.watch, err = newWatch(cfg.Log, "device pods", p.inf)
	if err != nil {
		return nil, err
	}
	if err := p.watch.synced(ctx, "device pods", p.inf); err != nil {
		p.watch.Close()
		return nil, err
	}
	p.refresh()
	p.watch.wg.Go(p.run)
	return p, nil
}

// Locate returns the device with this ID.
func (p *Pods) Locate(id string) (Pod, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.devices[id]
	return d.Pod, ok
}

// List returns every device, sorted by ID.
func (p *Pods) List() []Pod {
	p.mu.Lock()
	out := make([]Pod, 0, len(p.devices))
	for _, d := range p.devices {
		out = append(out, d.Pod)
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b Pod) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Close stops the watch and waits for its goroutines. It is idempotent.
func (p *Pods) Close() { p.watch.Close() }

// run refreshes the devices after each change of the pods (several
// changes at once in one refresh) until Close.
func (p *Pods) run() {
	for {
		select {
		case <-p.watch.ctx.Done():
			return
		case <-p.kick:
			p.refresh()
		}
	}
}

// refresh rebuilds the devices from the watched pods, logs each new
// problem of a pod, and calls Changed for each device whose address
// changed or that went away.
func (p *Pods) refresh() {
	objs := p.inf.GetStore().List()
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if pod, ok := o.(*corev1.Pod); ok {
			pods = append(pods, pod)
		}
	}
	next, problems := podDevices(pods, p.cfg)
	for uid, pr := range problems {
		if p.warned[uid] != pr.why {
			p.cfg.Log.Warn("fleet: device pod left out", "pod", pr.pod, "why", pr.why)
			p.warned[uid] = pr.why
		}
	}
	for uid := range p.warned {
		if _, ok := problems[uid]; !ok {
			delete(p.warned, uid)
		}
	}
	p.mu.Lock()
	prev := p.devices
	p.devices = next
	p.mu.Unlock()
	var changed []string
	for id, old := range prev {
		if cur, ok := next[id]; !ok || cur.Addr != old.Addr || cur.uid != old.uid {
			changed = append(changed, id)
		}
	}
	slices.Sort(changed)
	for _, id := range changed {
		p.cfg.Log.Debug("fleet: device moved or gone", "device", id)
		p.cfg.Changed(id)
	}
}

// podProblem is why a pod is left out.
type podProblem struct{ pod, why string }

// podDevices maps pods to devices by cfg's rules, and says why each pod
// left out is.
func podDevices(pods []*corev1.Pod, cfg PodsConfig) (map[string]device, map[types.UID]podProblem) {
	// Oldest first, so that the first pod of an ID is the one kept.
	pods = slices.Clone(pods)
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	devices := map[string]device{}
	problems := map[types.UID]podProblem{}
	for _, pod := range pods {
		d, err := podDevice(pod, cfg)
		if err == nil {
			if kept, dup := devices[d.ID]; dup {
				err = fmt.Errorf("device %s is pod %s's, an older pod", d.ID, kept.Name)
			}
		}
		if err != nil {
			problems[pod.UID] = podProblem{pod: pod.Name, why: err.Error()}
			continue
		}
		devices[d.ID] = d
	}
	return devices, problems
}

// podDevice is the device of one pod.
func podDevice(pod *corev1.Pod, cfg PodsConfig) (device, error) {
	id := pod.Name
	if cfg.IDLabel != "" {
		id = pod.Labels[cfg.IDLabel]
	}
	if err := media.CheckDeviceID(id); err != nil {
		return device{}, fmt.Errorf("label %q: %w", cfg.IDLabel, err)
	}
	port := cfg.DefaultPort
	if v, ok := pod.Annotations[cfg.PortAnnotation]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return device{}, fmt.Errorf("annotation %s: %q is not a port", cfg.PortAnnotation, v)
		}
		port = n
	}
	d := device{Pod: Pod{ID: id, Name: pod.Name, Node: pod.Spec.NodeName}, uid: pod.UID}
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if pod.Status.PodIP != "" && !terminal {
		d.Addr = net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(port))
		d.Ready = pod.Status.Phase == corev1.PodRunning && pod.DeletionTimestamp == nil && podReady(pod)
	}
	return d, nil
}

// podReady reports whether the pod's condition Ready is true.
func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
