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
	// ErrUnknownDevice is returned for a device that is not there: not
	// known, or not in state "device".
	ErrUnknownDevice = errors.New("unknown device")
	// ErrCodecUnsupported is returned when a viewer cannot receive any
	// codec the device's configuration sends.
	ErrCodecUnsupported = errors.New("the offer cannot receive the device's codec")
	// ErrNotController is returned for input from a viewer while another
	// viewer controls the device.
	ErrNotController = errors.New("another viewer controls this device")
	// ErrClosed is returned by a component that was closed (a registry, a
	// stream, a session manager).
	ErrClosed = errors.New("closed")
	// ErrUnavailable is returned for a device that cannot be served for
	// now: in a fleet, no member has room for it, or its owner does not
	// answer and its Lease has not expired yet. Try again later.
	ErrUnavailable = errors.New("unavailable")
)

// ElsewhereError says that a device runs on another instance of the
// fleet, which its requests go to.
type ElsewhereError struct {
	DeviceID string
	// Owner is the instance that holds the device.
	Owner string
}

func (e *ElsewhereError) Error() string {
	return "device " + e.DeviceID + " runs on instance " + e.Owner
}

// Is matches ErrUnavailable: served as is, the error asks to try again.
func (e *ElsewhereError) Is(target error) bool { return target == ErrUnavailable }
