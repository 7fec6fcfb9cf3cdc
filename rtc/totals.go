package rtc

import (
	"sort"
	"time"

	"github.com/cloudphone/media-service/media"
)

// DeviceTotals are a device's session counters since the manager was
// created (or since the device's entry was last pruned): the final
// counters of its closed sessions plus the current ones of its open
// sessions. None of them ever goes down while the entry lives, so they
// suit Prometheus counters.
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

// deviceTotals is a device's entry in Manager.totals: its sessions'
// counters, over sessions that come and go.
type deviceTotals = media.Tally[*Session, SessionStats]

func newDeviceTotals() *deviceTotals {
	return media.NewTally[*Session](func(sum *SessionStats, more SessionStats) { sum.add(more) })
}

// track counts a session that is being registered in its device's
// totals.
func (m *Manager) track(s *Session) {
	m.totalsMu.Lock()
	defer m.totalsMu.Unlock() // under it: the entry is not pruned before the session joins
	d := m.totals[s.deviceID]
	if d == nil {
		d = newDeviceTotals()
		m.totals[s.deviceID] = d
	}
	d.Join(s, s.counters)
}

// retire moves an ending session's counters into its device's closed
// totals, once; a session that was never registered is ignored. Its close
// calls it after the session's writers and RTCP reader stopped.
func (m *Manager) retire(s *Session) {
	m.totalsMu.Lock()
	d := m.totals[s.deviceID] // not pruned: the session is a member
	m.totalsMu.Unlock()
	if d != nil {
		d.Leave(s)
	}
}

// pruneTotals forgets the devices that have had no session for
// Config.TotalsRetention: a device that went away does not keep its
// series for the manager's life. Its counters start again from zero if it
// comes back (a new series to Prometheus, which rate() handles as a
// reset).
func (m *Manager) pruneTotals(now time.Time) {
	m.totalsMu.Lock()
	defer m.totalsMu.Unlock()
	for id, d := range m.totals {
		if since := d.IdleSince(); !since.IsZero() && now.Sub(since) >= m.cfg.TotalsRetention {
			delete(m.totals, id)
		}
	}
}

// Totals returns each device's session counters, by device ID: the
// closed sessions' accumulated counters plus the open sessions' current
// ones, so that none ever goes down. It lists every device that has had a
// session within Config.TotalsRetention, open sessions or not.
func (m *Manager) Totals() []DeviceTotals {
	m.totalsMu.Lock()
	entries := make(map[string]*deviceTotals, len(m.totals))
	for id, d := range m.totals {
		entries[id] = d
	}
	m.totalsMu.Unlock()
	out := make([]DeviceTotals, 0, len(entries))
	for id, d := range entries {
		opened, closed := d.Members()
		out = append(out, DeviceTotals{DeviceID: id, SessionsOpened: opened, SessionsClosed: closed, Stats: d.Sum()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out
}
