package capture

import "errors"

var (
	// ErrInvalidSerial is returned for a device serial that could carry
	// anything but a serial (see ValidSerial).
	ErrInvalidSerial = errors.New("capture: invalid device serial")
	// ErrInvalidArgument is returned for a size, number or address that is
	// not what it claims to be.
	ErrInvalidArgument = errors.New("capture: invalid argument")
	// ErrDeviceNotFound is returned when the adb server does not know the
	// device, or knows it in a state other than "device".
	ErrDeviceNotFound = errors.New("capture: device not found")
	// ErrADB wraps a failure that the adb server reported.
	ErrADB = errors.New("capture: adb")
	// ErrClosed is returned by a closed source or input shell.
	ErrClosed = errors.New("capture: closed")
)
