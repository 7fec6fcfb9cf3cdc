// Package media is the vocabulary that every layer of the service shares:
// an encoded unit, the codecs and their formats, the capture modes, the
// encoder kinds, picture sizes, the device-ID and user-ID rules, and the
// errors more than one layer returns. It imports nothing of the project,
// so the WebRTC layer compiles without cgo and tests without a device.
package media
