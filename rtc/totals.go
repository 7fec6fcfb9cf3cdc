package rtc

import (
	"sort"
)

// DeviceTotals are a device's session counters since the manager was
// created: the final counters of its closed sessions plus the current
// ones of its open sessions. None of them ever goes down, so they suit
// Prometheus counters.
type DeviceTotals struct {
	DeviceID string `json:"deviceId"`
	// SessionsOpened counts the device's sessions that Create returned;
	// SessionsClosed those of them that have ended, whatever ended them
	// (Delete, the sweep, the manager's Close).
	SessionsOpened uint64 `json:"sessionsOpened"`
	SessionsClosed uint64 `json:"sessionsClosed"`
	// Stats sums the sessions' counters. TargetBitRate is not a counter
	// and is always 0 here.
	Stats SessionStats `json:"stats"`
}

// deviceTotals is a device's entry in Manager.totals.
type deviceTotals struct {
	opened, closed uint64
	ended          SessionStats          // the closed sessions' final counters
	open           map[*Session]struct{} // sessions registered and not yet retired
}

// track counts a session that is being registered in its device's
// totals.
func (m *Manager) track(s *Session) {
	m.totalsMu.Lock()
	defer m.totalsMu.Unlock()
	d := m.totals[s.deviceID]
	if d == nil {
		d = &deviceTotals{open: map[*Session]struct{}{}}
		m.totals[s.deviceID] = d
	}
	d.opened++
	d.open[s] = struct{}{}
}

// retire moves an ending session's counters into its device's closed
// totals, once; a session that was never registered is ignored. Its
// close calls it after the session's writers and RTCP reader stopped, and
// the counters are read under the same lock as Totals reads open
// sessions', so a session is counted exactly once at every moment and the
// totals never go down, even if a counter were to move afterwards.
func (m *Manager) retire(s *Session) {
	m.totalsMu.Lock()
	defer m.totalsMu.Unlock()
	d := m.totals[s.deviceID]
	if d == nil {
		return
	}
	if _, ok := d.open[s]; !ok {
		return
	}
	delete(d.open, s)
	d.closed++
	d.ended.add(s.counters())
}

// Totals returns each device's session counters, by device ID: the
// closed sessions' accumulated counters plus the open sessions' current
// ones, so that none ever goes down. It lists every device that has had a
// session since the manager was created, open sessions or not.
func (m *Manager) Totals() []DeviceTotals {
	m.totalsMu.Lock()
	defer m.totalsMu.Unlock()
	out := make([]DeviceTotals, 0, len(m.totals))
	for id, d := range m.totals {
		t := DeviceTotals{DeviceID: id, SessionsOpened: d.opened, SessionsClosed: d.closed, Stats: d.ended}
		for s := range d.open {
			t.Stats.add(s.counters())
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out
}
