// Package native is the only package of the service that links FFmpeg. It
// imports "C" and github.com/asticode/go-astiav; every other package stays
// pure Go and reaches libavcodec through the types here.
//
// # Encoders
//
// [NewEncoder] opens a libavcodec video encoder (libx264 today) configured
// for low latency: tune zerolatency, no B-frames, ABR rate control capped by
// a VBV, and a fixed keyframe interval. [Encoder.Encode] takes one frame and
// hands every access unit it produces to a callback, in Annex-B form, with
// its keyframe flag, PTS and duration. [Encoder.ForceKeyFrame] and
// [Encoder.SetBitRate] may be called from any goroutine; they take effect on
// the next frame the encoder's own goroutine submits.
//
// # Ownership
//
//   - A [FramePool] allocates AVFrames and their pixel buffers in C memory
//     once. [FramePool.Get] hands a [Frame] to one producer, which writes
//     pixels straight into its planes ([Frame.Plane], [Frame.WritePacked]).
//     The plane slices are views of C memory: they are valid from Get until
//     the frame is given to [Encoder.Encode] or [Frame.Release], and must not
//     be kept after that. Encode always takes ownership of the frame, on
//     error too, and returns it to its pool.
//   - A [Packet]'s Data is a view of the encoder's AVPacket. It is valid only
//     during the callback that receives it; copy it to keep it.
//   - Close is idempotent on every type. Using a closed encoder, pool or
//     decoder returns [ErrClosed]; it never touches freed memory.
//
// Without cgo the package builds from a stub: every constructor returns
// [ErrUnavailable], so pass-through streaming still works.
package native
