// Package native is the only package of the service that links FFmpeg. It
// imports "C" and github.com/asticode/go-astiav; every other package stays
// pure Go and reaches libavcodec through the types here.
//
// # Encoders
//
// [NewEncoder] opens a libavcodec video encoder configured for low latency.
// [Options.Codec] selects the backend:
//
//   - libx264 ([CodecX264], the default): tune zerolatency, ABR capped by a
//     VBV, SPS/PPS before every IDR;
//   - h264_nvenc ([CodecNVENC]): preset p1..p4, tune ull, zerolatency,
//     delay 0, forced IDRs, CBR;
//   - h264_qsv ([CodecQSV]): system-memory NV12 frames, async_depth 1,
//     low_delay_brc, forced IDRs, CBR;
//   - h264_vaapi ([CodecVAAPI]): frames uploaded to a VAAPI frames context
//     on [Options.VAAPIDevice] (av_hwframe_transfer_data), async_depth 1,
//     CBR;
//   - libvpx ([CodecVP8]): VP8 with deadline realtime, fixed speed 6,
//     lag-in-frames 0, error resilience, CBR.
//
// All of them run without B-frames, with a fixed keyframe interval and on
// request, and emit each frame's packet from the Encode call that takes
// it (the hardware encoders as far as their drivers allow). [Encoder.Encode]
// takes one frame and hands every packet it produces to a callback: an
// H.264 access unit in Annex-B form, or a VP8 frame, with its keyframe
// flag, PTS and duration; [Encoder.MediaCodec] says which.
// [Encoder.ForceKeyFrame] and [Encoder.SetBitRate] may be called from any
// goroutine; they take effect on the next frame the encoder's own goroutine
// submits (VAAPI and VP8 cannot change their rate while open: they are
// reopened, and restart with a key frame).
//
// # Frame formats
//
// The capture sources fill frames of [CaptureFormat] (YUV420P), the default
// of [Options.PixelFormat]. Each backend declares the system-memory formats
// it takes ([InputFormats]: NV12 only for QSV and VAAPI, YUV420P only for
// VP8, both for libx264 and NVENC), which [Options.InputFormats] may narrow;
// the encoder is opened with one of them, [Encoder.InputFormat].
// [Encoder.Encode] takes a frame of either planar format whose size is the
// encoder's: one in the input format goes straight in, another is converted
// once by libswscale into an internal frame, and VAAPI then uploads it to a
// surface of its device. Only a frame of another size is refused
// ([ErrFrameMismatch]). The probe takes the same path.
//
// # Probing
//
// Which encoders work depends on the machine, not on what FFmpeg has
// compiled in. [ProbeEncoder] finds out for one encoder by really encoding
// a few small capture-format frames through [Encoder.Encode], the path the
// service's frames take, so that an encoder that passes can encode what
// the capture sources produce. A [Prober] probes each one that way, in the
// order of [H264Candidates], then VP8, with a timeout per encoder; it
// caches the results and reports, for each encoder that does not work, the
// failing step, libavcodec's error and what FFmpeg logged meanwhile
// ([ProbeResult.Reason]). [Prober.Best] is the first H.264 encoder that
// works.
//
// # Logging
//
// FFmpeg's log callback is process-wide. The package installs its own once
// (at the first [SetLogger] or probe) and routes each line: to the slog
// logger that SetLogger set, or else to FFmpeg's own stderr output; and,
// while a probe runs, also into that probe's result when the line comes
// from the probe's OS thread.
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
