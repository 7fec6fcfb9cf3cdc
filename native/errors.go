package native

import "errors"

var (
	// ErrUnavailable is returned by every constructor when the binary was
	// built without cgo, and so without FFmpeg.
	ErrUnavailable = errors.New("native: FFmpeg encoders unavailable: built without cgo (CGO_ENABLED=0)")
	// ErrClosed is returned when an encoder, decoder or frame pool is used
	// after Close.
	ErrClosed = errors.New("native: use after close")
	// ErrOddDimensions is returned for a width or height that 4:2:0 chroma
	// subsampling cannot represent.
	ErrOddDimensions = errors.New("native: width and height must be even for 4:2:0 pixel formats")
	// ErrInvalidOptions wraps every other option validation failure.
	ErrInvalidOptions = errors.New("native: invalid options")
	// ErrEncoderNotFound is returned when the named encoder is not compiled
	// into the linked FFmpeg.
	ErrEncoderNotFound = errors.New("native: encoder not compiled into FFmpeg")
	// ErrFrameMismatch is returned when a frame's size differs from the
	// encoder's. (A frame in the other planar pixel format is converted,
	// not refused.)
	ErrFrameMismatch = errors.New("native: frame size does not match the encoder's")
	// ErrPoolExhausted is returned by FramePool.Get when every frame is in
	// use and the pool is at its limit.
	ErrPoolExhausted = errors.New("native: frame pool exhausted")
	// ErrFrameReleased is returned when a frame is used after it was given
	// back to its pool.
	ErrFrameReleased = errors.New("native: frame already released")
	// ErrNeedKeyFrame is returned by VideoDecoder.Decode for an access
	// unit it dropped because its decoder (a replacement for a hardware
	// decoder that failed) must start at an IDR: ask the source for one.
	ErrNeedKeyFrame = errors.New("native: decoder needs a key frame")
)

// stageError is a failure of one step of opening or running an encoder
// ("open", "create VAAPI device /dev/dri/renderD128", "encode", ...). The
// prober reports it as "stage: cause".
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// atStage wraps err as a failure of stage; nil stays nil.
func atStage(stage string, err error) error {
	if err == nil {
		return nil
	}
	return &stageError{stage: stage, err: err}
}
