package annexb

import (
	"errors"
	"fmt"
)

// ErrTooLarge reports a pending access unit larger than
// [Options.MaxAccessUnit]. The framer drops it and resynchronises at the
// next access unit.
var ErrTooLarge = errors.New("annexb: access unit too large")

// ErrMalformed reports input that is not valid H.264 Annex-B: a NAL unit with
// forbidden_zero_bit set, a slice header too short to read, too many bytes
// without a start code, or a parameter set with out-of-range values.
var ErrMalformed = errors.New("annexb: malformed")

// ErrTruncated reports a NAL unit that ends before its syntax does. It wraps
// [ErrMalformed], so errors.Is(err, ErrMalformed) holds for it too.
var ErrTruncated error = truncatedError{}

// ErrNotSPS reports a NAL unit given to [ParseSPS] that is not a sequence
// parameter set (nal_unit_type 7).
var ErrNotSPS = errors.New("annexb: not a sequence parameter set")

// truncatedError is the type of ErrTruncated.
type truncatedError struct{}

func (truncatedError) Error() string { return "annexb: truncated" }
func (truncatedError) Unwrap() error { return ErrMalformed }

// wrapMalformed returns an error wrapping ErrMalformed with a description.
func wrapMalformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
