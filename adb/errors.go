package adb

import (
	"errors"

	"github.com/cloudphone/media-service/media"
)

var (
	// ErrInvalidSerial is returned for a device serial that could carry
	// anything but a serial (media.CheckDeviceID): it is
	// media.ErrInvalidDeviceID.
	ErrInvalidSerial = media.ErrInvalidDeviceID
	// ErrInvalidArgument is returned for a size, number or address that is
	// not what it claims to be: it is media.ErrInvalidArgument.
	ErrInvalidArgument = media.ErrInvalidArgument
	// ErrDeviceNotFound is returned when the adb server does not know the
	// device, or knows it in a state other than "device".
	ErrDeviceNotFound = errors.New("adb: device not found")
	// ErrADB wraps a failure that the adb server reported.
	ErrADB = errors.New("adb: server")
	// ErrClosed is returned by a closed input shell.
	ErrClosed = errors.New("adb: closed")
)
