package rtc

import "sync"

// deviceState is what the sessions of one device share in the manager:
// who controls the device, and the bit rate last set from the bandwidth
// estimates. The manager keeps it while the device has sessions.
type deviceState struct {
	id       string
	sessions int // guarded by Manager.devMu

	mu         sync.Mutex
	controller string // session ID; "" when nobody controls the device
	rate       bitRate
}

// take gives control to sid ("control") and returns the previous holder.
func (d *deviceState) take(sid string) (prev string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev, d.controller = d.controller, sid
	return prev
}

// allow reports whether sid may send input: it holds control, or nobody
// does and it takes it (the first viewer to send input).
func (d *deviceState) allow(sid string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.controller == "" {
		d.controller = sid
	}
	return d.controller == sid
}

// drop gives up sid's control, if it holds it, and reports whether it did.
func (d *deviceState) drop(sid string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.controller != sid {
		return false
	}
	d.controller = ""
	return true
}

// holder returns the session in control.
func (d *deviceState) holder() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.controller
}
