package encoder

// workerOf returns the index of the worker a stream is pinned to, or -1:
// the tests' view of a pool's pinning, which nothing outside needs.
func (p *WorkerPool) workerOf(stream string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.streams[stream]
	for i, w := range p.workers {
		if s != nil && s.w == w {
			return i
		}
	}
	return -1
}

// encoders returns the number of encoders (guards) a worker holds, open
// streams and closed ones not yet closed by the worker.
func (p *WorkerPool) encoders(worker int) int {
	p.mu.Lock()
	w := p.workers[worker]
	p.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.guards)
}
