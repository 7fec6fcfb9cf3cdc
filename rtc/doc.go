// Package rtc is the WebRTC side on Pion: the media engine, sessions,
// per-device fan-out to viewers, keyframe and bandwidth feedback, ICE
// settings and the input data channel.
package rtc
