package fleet

import (
	"context"
	"fmt"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations of a member's Lease: what it says of itself.
const (
	// AnnotationDevices is how many devices the member runs.
	AnnotationDevices = "media-service/devices"
	// AnnotationMaxDevices is how many it may run (MAX_DEVICES; 0: no
	// bound).
	AnnotationMaxDevices = "media-service/max-devices"
	// AnnotationEncodeSlots is how many more encoders it can run.
	AnnotationEncodeSlots = "media-service/encode-slots"
	// AnnotationHardwareEncoder is "true" when it has a working hardware
	// H.264 encoder, else "false".
	AnnotationHardwareEncoder = "media-service/hardware-encoder"
	// AnnotationURL is the member's own URL as others reach it
	// (informative: members route by the EndpointSlices).
	AnnotationURL = "media-service/url"
)

// LeaseKindMember is LabelKind's value on member Leases (device Leases
// have "device").
const LeaseKindMember = "member"

// Load is what a member says of itself in its member Lease.
type Load struct {
	// Devices is how many devices it runs; MaxDevices how many it may
	// (0: no bound).
	Devices, MaxDevices int
	// EncodeSlots is how many more encoders it can run.
	EncodeSlots int
	// HardwareEncoder is set when it has a working hardware H.264
	// encoder.
	HardwareEncoder bool
}

// renew writes this member's Lease: holder, renewal time and load. It
// updates the Lease last written, on the condition that nobody wrote it
// since (its resourceVersion); when somebody did, or it is gone, it reads
// it again or creates it. Only one goroutine at a time calls it.
func (m *Members) renew(ctx context.Context) error {
	name := MemberLeaseName(m.cfg.Identity)
	for range 4 {
		cur := m.last
		if cur == nil {
			got, err := m.leases.Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: m.cfg.Namespace}}
				m.stamp(lease)
				created, err := m.leases.Create(ctx, lease, metav1.CreateOptions{})
				switch {
				case apierrors.IsAlreadyExists(err):
					continue
				case err != nil:
					return fmt.Errorf("fleet: create the member Lease %s: %w", name, err)
				}
				m.last = created
				return nil
			}
			if err != nil {
				return fmt.Errorf("fleet: read the member Lease %s: %w", name, err)
			}
			cur = got
		}
		next := cur.DeepCopy()
		m.stamp(next)
		updated, err := m.leases.Update(ctx, next, metav1.UpdateOptions{})
		switch {
		case apierrors.IsConflict(err), apierrors.IsNotFound(err):
			m.last = nil // written or deleted meanwhile: read it again
			continue
		case err != nil:
			return fmt.Errorf("fleet: renew the member Lease %s: %w", name, err)
		}
		m.last = updated
		return nil
	}
	return fmt.Errorf("fleet: the member Lease %s is contended", name)
}

// stamp writes this member as the holder of its Lease, renewed now, with
// its load.
func (m *Members) stamp(lease *coordinationv1.Lease) {
	now := metav1.NewMicroTime(m.cfg.Now())
	id := m.cfg.Identity
	secs := int32((m.cfg.Duration + time.Second - 1) / time.Second)
	if holderOf(lease) != id {
		lease.Spec.AcquireTime = &now
	}
	lease.Spec.HolderIdentity = &id
	lease.Spec.LeaseDurationSeconds = &secs
	lease.Spec.RenewTime = &now
	if lease.Labels == nil {
		lease.Labels = map[string]string{}
	}
	lease.Labels[LabelKind] = LeaseKindMember
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	load := m.cfg.Self()
	lease.Annotations[AnnotationDevices] = strconv.Itoa(load.Devices)
	lease.Annotations[AnnotationMaxDevices] = strconv.Itoa(load.MaxDevices)
	lease.Annotations[AnnotationEncodeSlots] = strconv.Itoa(load.EncodeSlots)
	lease.Annotations[AnnotationHardwareEncoder] = strconv.FormatBool(load.HardwareEncoder)
	lease.Annotations[AnnotationURL] = m.cfg.URL
}

// loadOf reads a member Lease's load; a missing or malformed number
// reads as 0.
func loadOf(lease *coordinationv1.Lease) Load {
	n := func(key string) int {
		v, err := strconv.Atoi(lease.Annotations[key])
		if err != nil || v < 0 {
			return 0
		}
		return v
	}
	hw, _ := strconv.ParseBool(lease.Annotations[AnnotationHardwareEncoder])
	return Load{
		Devices:         n(AnnotationDevices),
		MaxDevices:      n(AnnotationMaxDevices),
		EncodeSlots:     n(AnnotationEncodeSlots),
		HardwareEncoder: hw,
	}
}
