package device

import "sync"

// control is who controls a device: one viewer at a time sends input.
type control struct {
	mu         sync.Mutex
	controller string // viewer ID; "" when nobody controls the device
}

// take gives control to viewer (its "control" message) and returns the previous holder.
func (d *control) take(viewer string) (prev string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev, d.controller = d.controller, viewer
	return prev
}

// allow reports whether viewer may send input: it holds control, or nobody
// does and it takes it (the first viewer to send input).
func (d *control) allow(viewer string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.controller == "" {
		d.controller = viewer
	}
	return d.controller == viewer
}

// drop gives up viewer's control, if it holds it, and reports whether it did.
func (d *control) drop(viewer string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.controller != viewer {
		return false
	}
	d.controller = ""
	return true
}

// holder returns the session in control.
func (d *control) holder() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.controller
}
