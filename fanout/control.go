package fanout

import "sync"

// Control is who controls a device: one viewer at a time sends input. The
// first viewer to send input takes control when nobody holds it; a
// viewer's "control" message takes it from whoever does. The zero value
// is a device nobody controls.
type Control struct {
	mu     sync.Mutex
	holder string // viewer ID; "" when nobody controls the device
}

// Take gives control to viewer and returns the previous holder ("" when
// none).
func (c *Control) Take(viewer string) (prev string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, c.holder = c.holder, viewer
	return prev
}

// Allow reports whether viewer may send input: it holds control, or
// nobody does and it takes it.
func (c *Control) Allow(viewer string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holder == "" {
		c.holder = viewer
	}
	return c.holder == viewer
}

// Drop gives up viewer's control, if it holds it, and reports whether it
// did.
func (c *Control) Drop(viewer string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holder != viewer {
		return false
	}
	c.holder = ""
	return true
}

// Holder returns the viewer in control ("" when none).
func (c *Control) Holder() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.holder
}
