package media

import "errors"

// Errors that more than one layer returns. Wrap them with
// fmt.Errorf("%w: ...") to add detail.
var (
	// ErrInvalidDeviceID is returned for a device ID that breaks
	// CheckDeviceID: it could carry something other than a serial.
	ErrInvalidDeviceID = errors.New("invalid device ID")
	// ErrInvalidUserID is returned for a user ID that breaks CheckUserID.
	ErrInvalidUserID = errors.New("invalid user ID")
	// ErrInvalidArgument is returned for a size, number or address that is
	// not what it claims to be.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnsupported is returned for a control a stream cannot honour (the
	// bit rate of the device's own H.264, say).
	ErrUnsupported = errors.New("not supported")
	// ErrConfig is returned for a configuration that cannot work (an
	// encoder kind that the capture mode cannot feed).
	ErrConfig = errors.New("invalid configuration")
)
