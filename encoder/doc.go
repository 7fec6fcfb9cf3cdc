// Package encoder is the pure-Go side of encoding: the encoder interface,
// pass-through of H.264 that arrives encoded, the factory that picks an
// encoder for a capture format, the worker pool and the pipeline with its
// timeouts and drop accounting. The libavcodec backends live in native.
package encoder
