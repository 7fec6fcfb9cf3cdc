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
// # Decoding
//
// [NewVideoDecoder] opens an H.264 decoder for a device's stream (Annex-B
// access units, Constrained Baseline or Main, whose size may change
// mid-stream when the device rotates). [DecoderOptions.Backend] selects
// the backend:
//
//   - nvdec ([BackendNVDEC]): libavcodec's h264 decoder with the nvdec
//     hwaccel on a CUDA device; pictures stay in GPU memory ("cuda"
//     hardware frames);
//   - cuvid ([BackendCUVID]): the h264_cuvid decoder, NVDEC through its own
//     parser, low-delay (no display delay); "cuda" hardware frames. Only
//     when named;
//   - qsv ([BackendQSV]): h264_qsv with async_depth 1, an internal oneVPL
//     session, system-memory nv12 pictures;
//   - vaapi ([BackendVAAPI]): the h264 decoder with the vaapi hwaccel on
//     the DRM render node [DecoderOptions.VAAPIDevice] ("vaapi" hardware
//     frames, 8 surfaces beyond what decoding needs for the consumers);
//   - software ([BackendSoftware]): the h264 decoder on the CPU, slice
//     threads only (frame threading would delay every picture);
//   - auto ([BackendAuto], the default): the first of [DecoderBackends]
//     that works, in the order nvdec, qsv, vaapi, software.
//
// A hardware backend is told to output its hardware format and nothing
// else (get_format), so it fails rather than fall back to software
// decoding inside libavcodec. The auto decoder falls back along the chain
// itself: at open (NVDEC and VA-API fail there without their device) and
// when a backend fails mid-stream (QSV finds out at its first access
// unit). The replacement decodes the failing access unit again when it
// holds an IDR (after the last SPS and PPS seen); otherwise
// [VideoDecoder.Decode] returns [ErrNeedKeyFrame] for it and for the
// access units it drops until the next IDR: the caller asks the device
// for one. Invalid data is the stream's fault, not the backend's: it is
// returned without a switch. [ProbeDecoder] and [Prober.Decoders] find out
// which backends work by decoding a small stream that libx264 encodes
// in-process, with the same timeout, log capture and reasons as the
// encoder probes; [Prober.BestDecoder] is the first that works.
//
// Zero copy. [VideoDecoder.Decode] hands each picture over as a [Frame]
// that references the decoder's buffer (av_frame_move_ref: no pixel is
// copied), with its access unit's PTS and its own size and format, which
// follow the stream's. The receiver owns it: it releases it or gives it
// to [Encoder.Encode], which takes it as it is when its size is the
// encoder's and its format the encoder's input format (yuv420p for
// libx264 and libvpx), so that decoder and encoder share the picture. One
// decode feeds several encoders (one per rung or codec) through
// [Frame.Ref]: each consumer gets its own reference, released on its own,
// and the picture is freed with the last. Shared pictures are read-only.
// libswscale runs only when something must change: [Scaler.Scale] makes
// a pooled frame of another size or format (a lower rung), a same-size
// same-format frame coming back as a reference; Encode converts a frame in
// another format, or a full-range one (yuvj420p, which some Android
// encoders signal), into its input format in limited range.
//
// Hardware frames. A frame from NVDEC or VA-API is a hardware frame
// ([Frame.Hardware] says "cuda" or "vaapi"); it has no planes. Encode
// passes a "cuda" frame to h264_nvenc, and a "vaapi" frame to h264_vaapi,
// as it is: the encoder reopens on the frame's frames context (the
// decoder's device) and the picture never leaves the GPU. Every other
// consumer downloads it (av_hwframe_transfer_data, nv12), once for all
// the references to the picture: [Frame.Download], which Encode and Scale
// call when they need system memory. Should an encoder fail to take
// hardware frames, it downloads them from then on.
//
// What has run where. These machines have no GPU: the software backend
// runs in the tests and the benchmark; the hardware backends are compiled
// in (h264_cuvid, h264_qsv and the h264 decoder's nvdec and vaapi
// hwaccels: [VideoDecoders], [HardwareAccels]), opened and probed, and
// fail with their reason (no CUDA driver, no render node, no oneVPL
// runtime). The hardware paths (hardware frames, their download and
// reference counting, NVENC and VAAPI taking decoder frames as they are)
// have not run on hardware.
//
// # Frame formats
//
// The capture sources fill frames of [CaptureFormat] (YUV420P), the default
// of [Options.PixelFormat]. Each backend declares the system-memory formats
// it takes ([InputFormats]: NV12 only for QSV and VAAPI, YUV420P only for
// VP8, both for libx264 and NVENC), which [Options.InputFormats] may narrow;
// the encoder is opened with one of them, [Encoder.InputFormat].
// [Encoder.Encode] takes a frame of either planar format whose size is the
// encoder's (a decoded frame's own size, which follows its stream): one in
// the input format, in limited range, goes straight in; another (the other
// planar format, a decoder's full-range yuvj420p or any format libswscale
// reads) is converted once by libswscale into an internal frame, and VAAPI
// then uploads it to a surface of its device. Only a frame of another size
// is refused ([ErrFrameMismatch]). The probe takes the same path.
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
//   - A decoded frame ([VideoDecoder.Decode]), a reference ([Frame.Ref])
//     or a scaled frame ([Scaler.Scale]) belongs to whoever received it,
//     until it goes to Encode or Release; it outlives its decoder or
//     scaler. Its planes are read-only views, valid until then.
//   - A [Packet]'s Data is a view of the encoder's AVPacket. It is valid only
//     during the callback that receives it; copy it to keep it.
//   - Close is idempotent on every type. Using a closed encoder, pool or
//     decoder returns [ErrClosed]; it never touches freed memory.
//
// Without cgo the package builds from a stub: every constructor returns
// [ErrUnavailable], so pass-through streaming still works.
package native
