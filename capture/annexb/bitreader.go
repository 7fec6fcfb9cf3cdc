package annexb

// bitReader reads bits, most significant first, from an RBSP (a NAL unit
// payload with emulation prevention removed). A read past the end sets
// fail and returns zero; once fail is set every later read returns zero, so
// a parser can read a whole structure and check once.
type bitReader struct {
	b    []byte
	pos  int // bit position
	fail readFailure
}

// readFailure says why a bitReader stopped. It is not an error value, so
// that reporting one does not make the reader's buffer escape to the heap.
type readFailure uint8

const (
	readOK        readFailure = iota
	readExhausted             // the data ended
	readTooLong               // an exp-Golomb code of more than 32 bits
)

// left returns the number of unread bits.
func (r *bitReader) left() int { return len(r.b)*8 - r.pos }

// u reads an n-bit unsigned integer, n <= 32 (u(n) in the spec).
func (r *bitReader) u(n int) uint32 {
	if r.fail != readOK {
		return 0
	}
	if n > r.left() {
		r.fail = readExhausted
		r.pos = len(r.b) * 8
		return 0
	}
	var v uint32
	for n > 0 {
		byteIdx, bitIdx := r.pos>>3, r.pos&7
		avail := 8 - bitIdx
		take := min(avail, n)
		bits := uint32(r.b[byteIdx]>>(avail-take)) & (1<<take - 1)
		v = v<<take | bits
		n -= take
		r.pos += take
	}
	return v
}

// flag reads one bit as a boolean (u(1)).
func (r *bitReader) flag() bool { return r.u(1) == 1 }

// ue reads an unsigned exp-Golomb code (ue(v)). Codes of more than 31
// leading zero bits (values above 2^32-2) fail with readTooLong.
func (r *bitReader) ue() uint32 {
	if r.fail != readOK {
		return 0
	}
	zeros := 0
	for {
		if r.left() == 0 {
			r.fail = readExhausted
			return 0
		}
		if r.u(1) == 1 {
			break
		}
		zeros++
		if zeros > 31 {
			r.fail = readTooLong
			return 0
		}
	}
	if zeros == 0 {
		return 0
	}
	rest := r.u(zeros)
	if r.fail != readOK {
		return 0
	}
	return uint32(1)<<zeros - 1 + rest
}

// se reads a signed exp-Golomb code (se(v)): 0, 1, -1, 2, -2, ...
func (r *bitReader) se() int32 {
	k := r.ue()
	if k&1 == 1 {
		return int32(k>>1) + 1
	}
	return -int32(k >> 1)
}
