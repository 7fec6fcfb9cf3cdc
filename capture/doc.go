// Package capture reaches Android devices over ADB: device discovery, the
// screenrecord, screencap and raw-frames sources, H.264 Annex-B framing
// into access units, and input injection.
package capture
