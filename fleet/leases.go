package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
)

// Annotations and labels of the fleet's Leases.
const (
	// AnnotationDevice holds a device Lease's device ID (which its name
	// only abbreviates).
	AnnotationDevice = "media-service/device-id"
	// LabelKind tells the fleet's Leases from others: "device".
	LabelKind = "media-service/lease"
)

// DefaultLeaseDuration is LEASE_DURATION's default.
const DefaultLeaseDuration = 10 * time.Second

// ErrContended is returned by Claim when the Lease kept changing under
// it (several members writing it at once) for every attempt.
var ErrContended = errors.New("fleet: the device's Lease is contended")

// LeasesConfig configures Leases.
type LeasesConfig struct {
	// Client reaches the Leases of the fleet's namespace.
	Client coordclient.LeasesGetter
	// Namespace holds the Leases.
	Namespace string
	// Identity is this member's name (its pod's), written as the holder.
	Identity string
	// Duration is how long a Lease holds without renewal
	// (LEASE_DURATION). Default DefaultLeaseDuration. The holder renews
	// every third of it; one that could not renew for two thirds of it
	// counts the device as lost (Lost), so that it stops before another
	// member may take the Lease.
	Duration time.Duration
	// Lost is called, on the renewal goroutine, for each device whose
	// Lease this member no longer holds: another member took it, or it
	// could not be renewed in time. The device must stop at once. It must
	// not block.
	Lost func(deviceID string)
	// Log receives the Leases' logs; default slog.Default().
	Log *slog.Logger
	// Now is the clock; default time.Now. Tests set it.
	Now func() time.Time
}

// Leases holds this member's device Leases: one owner per device across
// the fleet. Claim takes or confirms a device's Lease, a goroutine renews
// every Lease held, Release gives one back. Every write is conditional on
// the resourceVersion read before it (optimistic concurrency): of two
// members racing for a device, one writes and the other's write is
// refused, so that at most one holds it.
type Leases struct {
	cfg    LeasesConfig
	leases coordclient.LeaseInterface
	log    *slog.Logger

	mu   sync.Mutex
	held map[string]*heldLease // by device ID

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// heldLease is a Lease this member holds: the object it last wrote, and
// when that write succeeded.
type heldLease struct {
	lease   *coordinationv1.Lease
	renewed time.Time
}

// NewLeases returns this member's Leases and starts their renewal; Close
// stops it.
func NewLeases(cfg LeasesConfig) (*Leases, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.Identity == "" {
		return nil, errors.New("fleet: Leases need a client, a namespace and an identity")
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultLeaseDuration
	}
	if cfg.Duration < 3*time.Second {
		return nil, fmt.Errorf("fleet: LEASE_DURATION %v is below 3s", cfg.Duration)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lost == nil {
		cfg.Lost = func(string) {}
	}
	l := &Leases{cfg: cfg, leases: cfg.Client.Leases(cfg.Namespace), log: cfg.Log, held: map[string]*heldLease{}}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Go(l.renewLoop)
	return l, nil
}

// Claim takes the device's Lease for this member when nobody holds it or
// its holder let it expire, or confirms it when this member holds it. It
// returns the holder: this member's identity when the device is this
// member's to run, another member's name when that member holds it.
func (l *Leases) Claim(ctx context.Context, deviceID string) (holder string, err error) {
	name := LeaseName(deviceID)
	for attempt := range 8 {
		if attempt > 0 {
			// Written meanwhile: read it again after a short, random
			// pause, so that writers racing each other spread out.
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Duration(rand.Int64N(int64(20*time.Millisecond) * int64(attempt)))):
			}
		}
		// A Lease this member renewed within a third of its duration
		// holds for two thirds more: confirmed without a write (several
		// sessions of one device arriving at once would otherwise
		// contend with each other).
		if l.renewedLately(deviceID) {
			return l.cfg.Identity, nil
		}
		cur, err := l.leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			created, err := l.leases.Create(ctx, l.fresh(deviceID, name), metav1.CreateOptions{})
			switch {
			case apierrors.IsAlreadyExists(err):
				continue // another member created it first: read it
			case err != nil:
				return "", fmt.Errorf("fleet: create the Lease of %s: %w", deviceID, err)
			}
			l.keep(deviceID, created)
			return l.cfg.Identity, nil
		}
		if err != nil {
			return "", fmt.Errorf("fleet: read the Lease of %s: %w", deviceID, err)
		}
		h := holderOf(cur)
		if h != "" && h != l.cfg.Identity && !l.expired(cur) {
			return h, nil
		}
		next := cur.DeepCopy()
		now := metav1.NewMicroTime(l.cfg.Now())
		if h != l.cfg.Identity {
			next.Spec.AcquireTime = &now
			t := int32(0)
			if next.Spec.LeaseTransitions != nil {
				t = *next.Spec.LeaseTransitions
			}
			t++
			next.Spec.LeaseTransitions = &t
		}
		l.stamp(next, deviceID, now)
		updated, err := l.leases.Update(ctx, next, metav1.UpdateOptions{})
		switch {
		case apierrors.IsConflict(err):
			continue // written meanwhile: read it again
		case err != nil:
			return "", fmt.Errorf("fleet: take the Lease of %s: %w", deviceID, err)
		}
		if h != l.cfg.Identity {
			l.log.Info("fleet: device claimed", "device", deviceID, "lease", name, "previous_holder", h)
		}
		l.keep(deviceID, updated)
		return l.cfg.Identity, nil
	}
	return "", fmt.Errorf("%w: %s", ErrContended, deviceID)
}

// Holder reads who holds a device's Lease and until when; "" when nobody
// does (no Lease, released, or expired).
func (l *Leases) Holder(ctx context.Context, deviceID string) (holder string, until time.Time, err error) {
	cur, err := l.leases.Get(ctx, LeaseName(deviceID), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, err
	}
	if h := holderOf(cur); h != "" && !l.expired(cur) {
		return h, expiry(cur), nil
	}
	return "", time.Time{}, nil
}

// Release gives a device's Lease back, if this member holds it: the
// Lease is deleted (on the condition that nobody wrote it since), so a
// device that went away leaves nothing behind. Another member may claim
// the device at once.
func (l *Leases) Release(ctx context.Context, deviceID string) error {
	l.mu.Lock()
	h := l.held[deviceID]
	delete(l.held, deviceID)
	l.mu.Unlock()
	if h == nil {
		return nil
	}
	rv := h.lease.ResourceVersion
	err := l.leases.Delete(ctx, h.lease.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or someone else's now
	}
	if err != nil {
		return fmt.Errorf("fleet: release the Lease of %s: %w", deviceID, err)
	}
	l.log.Info("fleet: device released", "device", deviceID)
	return nil
}

// Held returns the devices whose Leases this member holds, sorted.
func (l *Leases) Held() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.held))
	for id := range l.held {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Close stops the renewal without releasing anything: the Leases expire
// by themselves (as after a crash). Release what should be handed over at
// once first. It is idempotent.
func (l *Leases) Close() {
	l.cancel()
	l.wg.Wait()
}

// renewLoop renews every Lease held, every third of the duration.
func (l *Leases) renewLoop() {
	t := time.NewTicker(l.cfg.Duration / 3)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
			l.renewAll()
		}
	}
}

// renewAll renews each Lease held once; a Lease taken by another member,
// or not renewed for two thirds of the duration, is lost.
func (l *Leases) renewAll() {
	l.mu.Lock()
	ids := make([]string, 0, len(l.held))
	for id := range l.held {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	for _, id := range ids {
		if lost := l.renew(id); lost != "" {
			l.mu.Lock()
			delete(l.held, id)
			l.mu.Unlock()
			l.log.Warn("fleet: device lost: it stops here", "device", id, "why", lost)
			l.cfg.Lost(id)
		}
	}
}

// renew renews one Lease held, and says why it is lost when it is.
func (l *Leases) renew(deviceID string) (lost string) {
	l.mu.Lock()
	h := l.held[deviceID]
	l.mu.Unlock()
	if h == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.Duration/3)
	defer cancel()
	next := h.lease.DeepCopy()
	l.stamp(next, deviceID, metav1.NewMicroTime(l.cfg.Now()))
	updated, err := l.leases.Update(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		// Written by someone else since: still ours only if it says so.
		cur, gerr := l.leases.Get(ctx, h.lease.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(gerr):
			return "its Lease was deleted"
		case gerr == nil && holderOf(cur) != l.cfg.Identity:
			return "another member holds its Lease: " + holderOf(cur)
		case gerr == nil:
			next = cur.DeepCopy()
			l.stamp(next, deviceID, metav1.NewMicroTime(l.cfg.Now()))
			updated, err = l.leases.Update(ctx, next, metav1.UpdateOptions{})
		default:
			err = gerr
		}
	}
	if err == nil {
		l.keep(deviceID, updated)
		return ""
	}
	if l.ctx.Err() != nil {
		return ""
	}
	if since := l.cfg.Now().Sub(h.renewed); since >= 2*l.cfg.Duration/3 {
		return fmt.Sprintf("its Lease could not be renewed for %v: %v", since.Round(time.Millisecond), err)
	}
	l.log.Debug("fleet: renew a Lease", "device", deviceID, "err", err)
	return ""
}

// renewedLately reports whether this member renewed the device's Lease within
// the last third of its duration.
func (l *Leases) renewedLately(deviceID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.held[deviceID]
	return h != nil && l.cfg.Now().Sub(h.renewed) < l.cfg.Duration/3
}

// keep notes a Lease this member wrote and holds.
func (l *Leases) keep(deviceID string, lease *coordinationv1.Lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held[deviceID] = &heldLease{lease: lease, renewed: l.cfg.Now()}
}

// fresh returns a new Lease of the device, held by this member.
func (l *Leases) fresh(deviceID, name string) *coordinationv1.Lease {
	now := metav1.NewMicroTime(l.cfg.Now())
	zero := int32(0)
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: l.cfg.Namespace, Labels: map[string]string{LabelKind: "device"}},
		Spec:       coordinationv1.LeaseSpec{AcquireTime: &now, LeaseTransitions: &zero},
	}
	l.stamp(lease, deviceID, now)
	return lease
}

// stamp writes this member as the holder, renewed now.
func (l *Leases) stamp(lease *coordinationv1.Lease, deviceID string, now metav1.MicroTime) {
	id := l.cfg.Identity
	secs := int32((l.cfg.Duration + time.Second - 1) / time.Second)
	lease.Spec.HolderIdentity = &id
	lease.Spec.LeaseDurationSeconds = &secs
	lease.Spec.RenewTime = &now
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[AnnotationDevice] = deviceID
	if lease.Labels == nil {
		lease.Labels = map[string]string{}
	}
	lease.Labels[LabelKind] = "device"
}

// expired reports whether a Lease's holder let it lapse: its last renewal
// is more than its duration ago.
func (l *Leases) expired(lease *coordinationv1.Lease) bool {
	return !l.cfg.Now().Before(expiry(lease))
}

// expiry is when a Lease lapses without renewal; the zero time for one
// never renewed.
func expiry(lease *coordinationv1.Lease) time.Time {
	s := lease.Spec
	if s.RenewTime == nil || s.LeaseDurationSeconds == nil {
		return time.Time{}
	}
	return s.RenewTime.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second)
}

// holderOf is a Lease's holder, "" for none.
func holderOf(lease *coordinationv1.Lease) string {
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// Holders returns who holds each device that has a live Lease, by device
// ID: one List of the fleet's device Leases.
func (l *Leases) Holders(ctx context.Context) (map[string]string, error) {
	list, err := l.leases.List(ctx, metav1.ListOptions{LabelSelector: LabelKind + "=device"})
	if err != nil {
		return nil, fmt.Errorf("fleet: list the device Leases: %w", err)
	}
	out := make(map[string]string, len(list.Items))
	for i := range list.Items {
		lease := &list.Items[i]
		id := lease.Annotations[AnnotationDevice]
		if h := holderOf(lease); id != "" && h != "" && !l.expired(lease) {
			out[id] = h
		}
	}
	return out, nil
}
