package encoder

// workerOf returns the index of the worker a stream is pinned to, or -1:
// the tests' view of a pool's pinning, which nothing outside needs.
func (p *WorkerPool) workerOf(stream string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.workers {
		if p.streams[stream] == w {
			return i
		}
	}
	return -1
}
