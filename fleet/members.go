package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinformers "k8s.io/client-go/informers/coordination/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/cache"
)

// MembersConfig configures Members.
type MembersConfig struct {
	// Client reaches the API server.
	Client kubernetes.Interface
	// Namespace holds the fleet's Service, its EndpointSlices and the
	// member Leases.
	Namespace string
	// Service is the fleet's headless Service (FLEET_SERVICE).
	Service string
	// Identity is this member's name (POD_NAME): its endpoint's pod.
	Identity string
	// URL is this member's own URL as others reach it, written in its
	// Lease (informative).
	URL string
	// Duration is how long a member Lease holds without renewal
	// (LEASE_DURATION); default DefaultLeaseDuration, at least 3s. The
	// member renews its own every third of it.
	Duration time.Duration
	// Self returns this member's load, read at each renewal; unset: a
	// zero Load.
	Self func() Load
	// Log receives the logs; default slog.Default().
	Log *slog.Logger
	// Now is the clock; default time.Now. Tests set it.
	Now func() time.Time
}

// MemberInfo is a member as the EndpointSlices and its Lease tell it.
type MemberInfo struct {
	// Member is its name and its load (zero without a Lease).
	Member
	// URL is where it serves HTTP, "http://address:port"; "" when its
	// EndpointSlice has no usable port.
	URL string
	// Ready is set when it may take devices: its endpoint is ready and
	// its Lease fresh (what Ready returns).
	Ready bool
	// Tag is MemberTag(Name), the prefix of its sessions' IDs.
	Tag string
	// EncodeSlots is how many more encoders it says it can run.
	EncodeSlots int
	// Node is the node it runs on, as its endpoint says (nodeName); ""
	// when unset.
	Node string
}

// Members is the membership of the fleet: the endpoints of its headless
// Service (EndpointSlices, watched) joined with the member Leases that
// each member renews with its load (watched too). This member's own
// Lease is written at once and renewed every third of its duration until
// Close, which deletes it.
type Members struct {
	cfg       MembersConfig
	leases    coordclient.LeaseInterface
	slicesInf cache.SharedIndexInformer
	leasesInf cache.SharedIndexInformer
	watch     *watch
	closing   sync.Once

	// last is this member's Lease as last written: only NewMembers, then
	// the renewal goroutine, then Close (after it stopped) touch it.
	last *coordinationv1.Lease
}

// NewMembers writes this member's Lease, starts watching the fleet's
// EndpointSlices and member Leases and the renewal of its own Lease, and
// returns once both watches have their first list; it fails when ctx
// ends first (a Lease written by then expires by itself). ctx bounds that
// start only: the watches and the renewal run until Close.
func NewMembers(ctx context.Context, cfg MembersConfig) (*Members, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.Service == "" || cfg.Identity == "" {
		return nil, errors.New("fleet: Members need a client, a namespace, a service and an identity")
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultLeaseDuration
	}
	if cfg.Duration < 3*time.Second {
		return nil, fmt.Errorf("fleet: LEASE_DURATION %v is below 3s", cfg.Duration)
	}
	if cfg.Self == nil {
		cfg.Self = func() Load { return Load{} }
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Members{cfg: cfg, leases: cfg.Client.CoordinationV1().Leases(cfg.Namespace)}
	if err := m.renew(ctx); err != nil {
		return nil, err
	}
	m.slicesInf = discoveryinformers.NewFilteredEndpointSliceInformer(cfg.Client, cfg.Namespace, 0, cache.Indexers{}, func(o *metav1.ListOptions) {
		o.LabelSelector = discoveryv1.LabelServiceName + "=" + cfg.Service
	})
	m.leasesInf = coordinformers.NewFilteredLeaseInformer(cfg.Client, cfg.Namespace, 0, cache.Indexers{}, func(o *metav1.ListOptions) {
		o.LabelSelector = LabelKind + "=" + LeaseKindMember
	})
	w, err := newWatch(cfg.Log, "fleet members", m.slicesInf, m.leasesInf)
	if err != nil {
		return nil, err
	}
	m.watch = w
	if err := w.synced(ctx, "fleet members", m.slicesInf, m.leasesInf); err != nil {
		w.Close()
		return nil, err
	}
	w.wg.Go(m.renewLoop)
	return m, nil
}

// Ready returns the members that may take devices, for Place: those
// whose endpoint is ready and whose Lease is fresh, with the load their
// Lease gives; sorted by name.
func (m *Members) Ready() []Member {
	var out []Member
	for _, info := range m.All() {
		if info.Ready {
			out = append(out, info.Member)
		}
	}
	return out
}

// Lookup returns a member known from the EndpointSlices, ready or not: a
// draining member still answers for its sessions.
func (m *Members) Lookup(name string) (MemberInfo, bool) {
	for _, info := range m.All() {
		if info.Name == name {
			return info, true
		}
	}
	return MemberInfo{}, false
}

// ByTag returns the member whose MemberTag is tag, ready or not.
func (m *Members) ByTag(tag string) (MemberInfo, bool) {
	for _, info := range m.All() {
		if info.Tag == tag {
			return info, true
		}
	}
	return MemberInfo{}, false
}

// All returns every member known from the EndpointSlices, ready or not,
// sorted by name. Each call reads the watched objects afresh (a Lease's
// freshness depends on the time of the call).
func (m *Members) All() []MemberInfo {
	var sliceList []*discoveryv1.EndpointSlice
	for _, o := range m.slicesInf.GetStore().List() {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			sliceList = append(sliceList, s)
		}
	}
	leases := map[string]*coordinationv1.Lease{} // by holder
	for _, o := range m.leasesInf.GetStore().List() {
		if l, ok := o.(*coordinationv1.Lease); ok && holderOf(l) != "" && l.Name == MemberLeaseName(holderOf(l)) {
			leases[holderOf(l)] = l
		}
	}
	now := m.cfg.Now()
	eps := endpointsOf(sliceList)
	out := make([]MemberInfo, 0, len(eps))
	for name, ep := range eps {
		info := MemberInfo{Member: Member{Name: name}, URL: ep.url, Tag: MemberTag(name), Node: ep.node}
		if l, ok := leases[name]; ok {
			load := loadOf(l)
			info.Devices, info.MaxDevices, info.HardwareEncoder = load.Devices, load.MaxDevices, load.HardwareEncoder
			info.EncodeSlots = load.EncodeSlots
			info.Ready = ep.ready && now.Before(expiry(l))
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Close stops the renewal and the watches, then deletes this member's
// Lease (best effort, within ctx), so that the others stop counting it at
// once. It is idempotent.
func (m *Members) Close(ctx context.Context) {
	m.closing.Do(func() {
		m.watch.Close()
		name := MemberLeaseName(m.cfg.Identity)
		var opts metav1.DeleteOptions
		if m.last != nil { // the one this member wrote, not a successor's
			uid := m.last.UID
			opts.Preconditions = &metav1.Preconditions{UID: &uid}
		}
		err := m.leases.Delete(ctx, name, opts)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			m.cfg.Log.Warn("fleet: delete the member Lease; it expires by itself", "lease", name, "err", err)
		}
	})
}

// renewLoop renews this member's Lease every third of its duration until
// Close.
func (m *Members) renewLoop() {
	t := time.NewTicker(m.cfg.Duration / 3)
	defer t.Stop()
	for {
		select {
		case <-m.watch.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(m.watch.ctx, m.cfg.Duration/3)
			err := m.renew(ctx)
			cancel()
			if err != nil && m.watch.ctx.Err() == nil {
				m.cfg.Log.Warn("fleet: renew the member Lease", "err", err)
			}
		}
	}
}
