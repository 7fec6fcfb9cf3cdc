package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudphone/media-service/adb"
	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/config"
	"github.com/cloudphone/media-service/device"
	"github.com/cloudphone/media-service/fleet"
	"github.com/cloudphone/media-service/media"
	"github.com/cloudphone/media-service/rtc"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// fleetStartTimeout bounds the first contact with the API server: the
// first lists of pods, EndpointSlices and member Leases.
const fleetStartTimeout = 30 * time.Second

// serviceAccountNamespace is the pod's namespace, as Kubernetes mounts it.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// member is this instance's part in a fleet (DEVICE_SOURCE=kubernetes):
// it finds the devices through the API (fleet.Pods), holds the Leases
// of the devices it runs (fleet.Leases), renews its member Lease and
// knows the others (fleet.Members), and tells the API where each
// device's and session's requests go (api.Fleet).
type member struct {
	name, tag string
	cfg       config.Config
	log       *slog.Logger
	adb       *adb.Client

	pods    *fleet.Pods
	leases  *fleet.Leases
	members *fleet.Members

	// Set once the registry and the session manager exist.
	registry atomic.Pointer[device.Registry]
	manager  atomic.Pointer[rtc.Manager]

	hardware atomic.Bool // a hardware H.264 encoder works here
	draining atomic.Bool

	mu      sync.Mutex
	serials map[string]string // device ID → adb serial, while it runs here
	idle    map[string]int    // device ID → reconciliations its Lease was held with no device running
	running runningCache      // where devices run, for screenshots (screenshots.go)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ api.Fleet = (*member)(nil)

// kubeClient returns a client of the API server: KUBECONFIG's, or the
// pod's service account's.
func kubeClient(path string) (kubernetes.Interface, error) {
	var rc *rest.Config
	var err error
	if path != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", path)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client (KUBECONFIG=%q): %w", path, err)
	}
	rc.UserAgent = "media-service"
	return kubernetes.NewForConfig(rc)
}

// fleetNamespace is FLEET_NAMESPACE, else the pod's own namespace, else
// "default".
func fleetNamespace(cfg config.Config) string {
	if cfg.FleetNamespace != "" {
		return cfg.FleetNamespace
	}
	if b, err := os.ReadFile(serviceAccountNamespace); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	return "default"
}

// newMember joins the fleet: it watches the device pods, starts its
// device Leases, and writes and renews its member Lease. load is read at
// each renewal of the member Lease.
func newMember(ctx context.Context, cfg config.Config, log *slog.Logger, client *adb.Client) (*member, error) {
	kube, err := kubeClient(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	name := cfg.PodName
	if name == "" {
		if name, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("POD_NAME is unset and the host name unknown: %w", err)
		}
	}
	ns := fleetNamespace(cfg)
	devNS := cfg.DeviceNamespace
	if devNS == "" {
		devNS = ns
	}
	m := &member{name: name, tag: fleet.MemberTag(name), cfg: cfg, log: log.With("member", name), adb: client,
		serials: map[string]string{}, idle: map[string]int{}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	start, cancel := context.WithTimeout(ctx, fleetStartTimeout)
	defer cancel()
	fail := func(err error) (*member, error) {
		m.close(context.Background())
		return nil, err
	}
	m.pods, err = fleet.NewPods(start, fleet.PodsConfig{Client: kube, Namespace: devNS, Selector: cfg.DeviceSelector,
		IDLabel: cfg.DeviceIDLabel, PortAnnotation: cfg.DevicePortAnnotation, Changed: m.podChanged, Log: log})
	if err != nil {
		return fail(fmt.Errorf("fleet: watch the device pods (%s in namespace %s): %w", cfg.DeviceSelector, devNS, err))
	}
	m.leases, err = fleet.NewLeases(fleet.LeasesConfig{Client: kube.CoordinationV1(), Namespace: ns, Identity: name,
		Duration: cfg.LeaseDuration, Lost: m.lost, Log: log})
	if err != nil {
		return fail(err)
	}
	m.members, err = fleet.NewMembers(start, fleet.MembersConfig{Client: kube, Namespace: ns, Service: cfg.FleetService,
		Identity: name, URL: fmt.Sprintf(":%d", cfg.Port), Duration: cfg.LeaseDuration, Self: m.load, Log: log})
	if err != nil {
		return fail(fmt.Errorf("fleet: membership (Service %s in namespace %s): %w", cfg.FleetService, ns, err))
	}
	m.log.Info("fleet: joined", "namespace", ns, "service", cfg.FleetService, "device_selector", cfg.DeviceSelector,
		"device_namespace", devNS, "devices_found", len(m.pods.List()), "lease_duration", cfg.LeaseDuration, "max_devices", cfg.MaxDevices)
	return m, nil
}

// run starts what needs the registry and the session manager: the
// release of Leases held for no running device.
func (m *member) run(reg *device.Registry, mgr *rtc.Manager) {
	m.registry.Store(reg)
	m.manager.Store(mgr)
	m.wg.Go(m.reconcileLoop)
}

// close leaves the fleet: it stops the renewals and watches, and deletes
// the member Lease; the device Leases still held expire by themselves
// (the registry, closed first, has released those of the devices it
// stopped).
func (m *member) close(ctx context.Context) {
	m.cancel()
	m.wg.Wait()
	if m.members != nil {
		m.members.Close(ctx)
	}
	if m.leases != nil {
		m.leases.Close()
	}
	if m.pods != nil {
		m.pods.Close()
	}
}

// Name is this instance's name in the fleet.
func (m *member) Name() string { return m.name }

// load is what the member Lease says of this instance.
func (m *member) load() fleet.Load {
	l := fleet.Load{MaxDevices: m.cfg.MaxDevices, HardwareEncoder: m.hardware.Load()}
	reg := m.registry.Load()
	if reg == nil {
		return l
	}
	l.Devices = reg.Count()
	l.EncodeSlots = max(reg.Workers()-encodes(reg), 0)
	return l
}

// needsEncoding reports whether the devices are encoded here (not only
// their own H.264 passed through): placement then prefers members with a
// hardware encoder.
func (m *member) needsEncoding() bool {
	return m.cfg.CaptureMode != "screenrecord" || m.cfg.VideoEncoderType == "h264" || m.cfg.VideoEncoderType == "vp8"
}

// Owner implements api.Fleet: where a device's new sessions are made.
func (m *member) Owner(ctx context.Context, id string, forwarded bool, avoid string) (string, error) {
	pod, ok := m.pods.Locate(id)
	if !ok {
		return "", fmt.Errorf("%w: %s (no pod matches %s)", media.ErrUnknownDevice, id, m.cfg.DeviceSelector)
	}
	for {
		holder, until, err := m.leases.Holder(ctx, id)
		if err != nil {
			return "", fmt.Errorf("%w: read the Lease of %s: %v", media.ErrUnavailable, id, err)
		}
		if holder == m.name {
			return "", nil
		}
		if holder != "" {
			if info, ok := m.members.Lookup(holder); ok && info.URL != "" && info.URL != avoid {
				return info.URL, nil
			}
			// Its owner is not a member any more, or does not answer: it
			// runs the device no longer once its Lease has expired.
			m.log.Info("fleet: waiting for a silent owner's Lease to expire", "device", id, "owner", holder, "expires", until.Format(time.RFC3339Nano))
			if err := sleepUntil(ctx, until.Add(100*time.Millisecond)); err != nil {
				return "", fmt.Errorf("%w: device %s is held by %s, which does not answer, until %s", media.ErrUnavailable, id, holder, until.Format(time.RFC3339))
			}
			continue
		}
		if forwarded && !m.draining.Load() && (m.cfg.FleetPlacement != "node" || m.node(pod.Node)) {
			return m.claim(ctx, id)
		}
		byNode := m.cfg.FleetPlacement == "node"
		ready := m.members.Ready()
		ready = slices.DeleteFunc(ready, func(mb fleet.Member) bool {
			info, ok := m.members.Lookup(mb.Name)
			if byNode && (!ok || info.Node != pod.Node) {
				return true // FLEET_PLACEMENT=node: the member on the pod's node only
			}
			if mb.Name == m.name {
				return m.draining.Load()
			}
			return !ok || info.URL == "" || info.URL == avoid
		})
		if byNode && len(ready) == 0 {
			return "", fmt.Errorf("%w: no ready instance on node %q, where device %s runs (FLEET_PLACEMENT=node)", media.ErrUnavailable, pod.Node, id)
		}
		if len(ready) == 0 && !m.draining.Load() {
			// No other member is ready (this one's own endpoint may not
			// be yet, at start): serve here rather than nowhere.
			return m.claim(ctx, id)
		}
		best, ok := fleet.Place(id, ready, m.needsEncoding())
		if !ok {
			return "", fmt.Errorf("%w: no instance of the fleet has room for device %s (MAX_DEVICES)", media.ErrUnavailable, id)
		}
		if best.Name == m.name {
			return m.claim(ctx, id)
		}
		info, _ := m.members.Lookup(best.Name)
		return info.URL, nil
	}
}

// node reports whether this instance runs on the node, as its endpoint
// says.
func (m *member) node(name string) bool {
	info, ok := m.members.Lookup(m.name)
	return ok && info.Node == name
}

// claim takes the device's Lease for this instance: "" when it did, the
// holder's URL when another member took it first.
func (m *member) claim(ctx context.Context, id string) (string, error) {
	if reg := m.registry.Load(); m.cfg.MaxDevices > 0 && reg != nil && !reg.Has(id) && reg.Count() >= m.cfg.MaxDevices {
		return "", fmt.Errorf("%w: this instance runs MAX_DEVICES=%d devices", media.ErrUnavailable, m.cfg.MaxDevices)
	}
	holder, err := m.leases.Claim(ctx, id)
	if err != nil {
		return "", fmt.Errorf("%w: %v", media.ErrUnavailable, err)
	}
	if holder == m.name {
		return "", nil
	}
	if info, ok := m.members.Lookup(holder); ok && info.URL != "" {
		return info.URL, nil
	}
	return "", &media.ElsewhereError{DeviceID: id, Owner: holder}
}

// SessionOwner implements api.Fleet.
func (m *member) SessionOwner(id string) (string, bool) {
	tag, _, ok := strings.Cut(id, "_")
	if !ok {
		return "", true // not a fleet session ID: this instance's to answer
	}
	if tag == m.tag {
		return "", true
	}
	info, ok := m.members.ByTag(tag)
	if !ok || info.URL == "" {
		return "", false
	}
	return info.URL, true
}

// Peers implements api.Fleet: the other members' URLs.
func (m *member) Peers() []string {
	var out []string
	for _, info := range m.members.All() {
		if info.Name != m.name && info.URL != "" {
			out = append(out, info.URL)
		}
	}
	return out
}

// locate is the registry's Locate in a fleet: it confirms that this
// instance holds the device's Lease (taking it when nobody does), and
// connects the adb server to the device's pod.
func (m *member) locate(ctx context.Context, id string) (string, error) {
	pod, ok := m.pods.Locate(id)
	if !ok {
		return "", fmt.Errorf("%w: %s (no pod matches %s)", media.ErrUnknownDevice, id, m.cfg.DeviceSelector)
	}
	if !pod.Ready || pod.Addr == "" {
		return "", fmt.Errorf("%w: device %s: its pod %s is not ready", media.ErrUnavailable, id, pod.Name)
	}
	holder, err := m.leases.Claim(ctx, id)
	if err != nil {
		return "", fmt.Errorf("%w: %v", media.ErrUnavailable, err)
	}
	if holder != m.name {
		return "", &media.ElsewhereError{DeviceID: id, Owner: holder}
	}
	if err := m.connect(ctx, pod.Addr); err != nil {
		m.releaseLease(id)
		return "", fmt.Errorf("device %s: %w", id, err)
	}
	m.mu.Lock()
	m.serials[id] = pod.Addr
	delete(m.idle, id)
	m.mu.Unlock()
	return pod.Addr, nil
}

// connect runs adb connect and waits until the adb server lists the
// device in state "device".
func (m *member) connect(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := m.adb.Connect(ctx, addr); err != nil {
		return fmt.Errorf("adb connect %s: %w", addr, err)
	}
	for {
		list, err := m.adb.Devices(ctx)
		if err == nil && slices.ContainsFunc(list, func(d adb.DeviceInfo) bool { return d.Serial == addr && d.State == "device" }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: adb connect %s: the adb server does not list it as a device", media.ErrUnavailable, addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// release is the registry's Release in a fleet: the device stopped here,
// so its adb connection and its Lease go.
func (m *member) release(id, serial string) {
	m.mu.Lock()
	if m.serials[id] == serial {
		delete(m.serials, id)
	}
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := m.adb.Disconnect(ctx, serial); err != nil {
		m.log.Debug("fleet: adb disconnect", "device", id, "serial", serial, "err", err)
	}
	m.releaseLease(id)
}

func (m *member) releaseLease(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := m.leases.Release(ctx, id); err != nil {
		m.log.Warn("fleet: release a device's Lease (it expires by itself)", "device", id, "err", err)
	}
}

// lost stops a device whose Lease another member took, or which could
// not be renewed in time: its viewers' sessions end (their pages connect
// again, to the new owner).
func (m *member) lost(id string) {
	m.wg.Go(func() { m.evict(id, "its Lease was lost") })
}

// podChanged stops a device running here whose pod went away or has a
// new address.
func (m *member) podChanged(id string) {
	m.mu.Lock()
	serial, running := m.serials[id]
	m.mu.Unlock()
	if !running {
		return
	}
	if pod, ok := m.pods.Locate(id); ok && pod.Addr == serial && pod.Ready {
		return
	}
	m.wg.Go(func() { m.evict(id, "its pod went away or changed address") })
}

// evict ends the sessions of a device and stops it.
func (m *member) evict(id, why string) {
	n := 0
	if mgr := m.manager.Load(); mgr != nil {
		for _, s := range mgr.List() {
			if s.DeviceID == id && mgr.DeleteWithReason(s.ID, rtc.EndDeviceGone) == nil {
				n++
			}
		}
	}
	reg := m.registry.Load()
	stopped := reg != nil && reg.Stop(id, why)
	m.log.Warn("fleet: device stopped here: "+why, "device", id, "sessions_ended", n, "was_running", stopped)
}

// drain turns this member away from new devices and hands over the idle
// ones at once; the watched ones stay until their viewers leave or the
// drain ends.
func (m *member) drain() {
	m.draining.Store(true)
	reg := m.registry.Load()
	ids := reg.StopIdle("the instance drains: handed over")
	m.log.Info("fleet: draining: idle devices handed over", "devices", strings.Join(ids, ","))
	// A device whose last viewer leaves during the drain is handed over
	// then, not after its linger.
	m.wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.ctx.Done():
				return
			case <-t.C:
				if ids := reg.StopIdle("the instance drains: its last viewer left"); len(ids) > 0 {
					m.log.Info("fleet: draining: devices handed over", "devices", strings.Join(ids, ","))
				}
			}
		}
	})
}

// reconcileLoop releases the Leases held for devices that do not run
// here: a session that was refused after its device was claimed (a
// limit, a codec) leaves a Lease that nothing would release.
func (m *member) reconcileLoop() {
	t := time.NewTicker(max(m.cfg.LeaseDuration/3, time.Second))
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		reg := m.registry.Load()
		for _, id := range m.leases.Held() {
			if reg.Has(id) {
				m.mu.Lock()
				delete(m.idle, id)
				m.mu.Unlock()
				continue
			}
			m.mu.Lock()
			m.idle[id]++
			n := m.idle[id]
			if n >= 2 {
				delete(m.idle, id)
			}
			m.mu.Unlock()
			if n >= 2 {
				m.log.Info("fleet: releasing the Lease of a device that does not run here", "device", id)
				m.releaseLease(id)
			}
		}
	}
}

// devices lists the fleet's devices: every pod DEVICE_SELECTOR selects,
// with its owner, and the details of those running here.
func (m *member) devices(ctx context.Context) ([]api.DeviceView, error) {
	holders, err := m.leases.Holders(ctx)
	if err != nil {
		return nil, err
	}
	pods := m.pods.List()
	out := make([]api.DeviceView, 0, len(pods))
	for _, p := range pods {
		v := api.DeviceView{Serial: p.ID, State: "device", CaptureMode: m.cfg.CaptureMode, Owner: holders[p.ID]}
		if !p.Ready {
			v.State = "offline"
		}
		if dev, ok := m.registry.Load().Device(p.ID); ok {
			size := dev.Size()
			v.Width, v.Height, v.Encoder, v.Viewers = size.Width, size.Height, dev.EncoderName(), dev.Viewers()
			v.Outputs = views(dev.Stats().Outputs, outputView)
		}
		out = append(out, v)
	}
	return out, nil
}

// sleepUntil waits until t, or returns ctx's error.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
