package api

import "sync"

// owners remembers which token created each session: a token sees and
// ends only its own. Entries of sessions that ended on their own (the
// manager's sweep) are pruned against Sessions.List as the map grows.
type owners struct {
	mu      sync.Mutex
	m       map[string]string
	pruneAt int
}

const minPrune = 64

// add records a new session's owner; live lists the sessions that still
// exist, to prune the others.
func (o *owners) add(id, token string, live func() []SessionView) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]string{}
	}
	o.m[id] = token
	if len(o.m) < max(o.pruneAt, minPrune) {
		return
	}
	alive := map[string]bool{}
	for _, s := range live() {
		alive[s.ID] = true
	}
	for k := range o.m {
		if !alive[k] && k != id {
			delete(o.m, k)
		}
	}
	o.pruneAt = 2 * len(o.m)
}

func (o *owners) remove(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, id)
}

// owns reports whether token created the session; with authentication
// disabled (token "") every caller owns every session.
func (o *owners) owns(token, id string) bool {
	if token == "" {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	owner, ok := o.m[id]
	return ok && owner == token
}
