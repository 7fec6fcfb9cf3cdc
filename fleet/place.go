package fleet

import (
	"crypto/sha256"
	"encoding/binary"
)

// Member is one instance of the fleet as placement sees it.
type Member struct {
	// Name identifies the member (its pod's name).
	Name string
	// Devices is how many devices it runs; MaxDevices how many it may
	// (MAX_DEVICES; 0: no bound).
	Devices, MaxDevices int
	// HardwareEncoder is set when it has a working hardware H.264 encoder.
	HardwareEncoder bool
}

// spare reports whether m can take one more device.
func (m Member) spare() bool { return m.MaxDevices <= 0 || m.Devices < m.MaxDevices }

// weight is the rendezvous weight of a device on a member.
func weight(deviceID, member string) uint64 {
	h := sha256.New()
	h.Write([]byte(deviceID))
	h.Write([]byte{0})
	h.Write([]byte(member))
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

// Place picks the member a device with no owner goes to: among the
// members with spare capacity (those with a hardware encoder first when
// the device needs encoding here), the one of highest rendezvous weight
// for the device. The weight depends on the device and the member only,
// so when a member comes or goes only the devices that pick it move.
// It reports false when no member has spare capacity.
func Place(deviceID string, members []Member, needsEncoding bool) (Member, bool) {
	best, found, bestHW := Member{}, false, false
	var bestW uint64
	for _, m := range members {
		if !m.spare() {
			continue
		}
		hw := needsEncoding && m.HardwareEncoder
		w := weight(deviceID, m.Name)
		switch {
		case !found, hw && !bestHW, hw == bestHW && w > bestW:
			best, found, bestHW, bestW = m, true, hw, w
		}
	}
	return best, found
}
