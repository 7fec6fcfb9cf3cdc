package device

// bitRateStep is the least relative change worth a SetBitRate call (1/20:
// 5%).
const bitRateStep = 20

// NextBitRate returns the rate to set on a device from its viewers'
// bandwidth estimates: the lowest estimate (every viewer must keep up with
// the one shared encoder), clamped to minBps..maxBps. ok is false when
// there is no estimate, or the result is within 5% of last (the rate set
// before; 0 for none). Estimates of 0 or less are ignored.
func NextBitRate(estimates []int, last, minBps, maxBps int) (bps int, ok bool) {
	lowest := 0
	for _, e := range estimates {
		if e > 0 && (lowest == 0 || e < lowest) {
			lowest = e
		}
	}
	if lowest == 0 {
		return 0, false
	}
	bps = min(max(lowest, minBps), maxBps)
	if last > 0 {
		diff := bps - last
		if diff < 0 {
			diff = -diff
		}
		if diff*bitRateStep < last {
			return last, false
		}
	}
	return bps, true
}
