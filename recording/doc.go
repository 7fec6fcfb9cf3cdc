// Package recording records devices' streams to files: per device, a
// recording joins the device as a viewer does (its H.264 output: the
// device's own stream in pass-through, the top rung's encoding
// otherwise; VP8 only where the configuration sends no H.264) and writes
// what the viewer would get into segment files through native.Muxer. It
// is pure Go; FFmpeg is reached only through package native, so without
// cgo every start fails with an error wrapping native.ErrUnavailable.
//
// # Files
//
// Each recording has a directory under Options.Dir named by its ID, with
// recording.json (what List says of it, rewritten as it goes) and its
// segments, segment-0001.mp4, segment-0002.mp4, ... (.webm for VP8).
// H.264 segments are fragmented MP4 (native's movflags
// frag_keyframe+empty_moov+default_base_moof), flushed every
// Options.FlushInterval, so that a file cut by a crash or SIGKILL plays up
// to its last fragment; VP8 segments are WebM, flushed by cluster.
//
// # Segments
//
// A segment starts at a keyframe. A new one starts at the first keyframe
// once the segment has lasted Options.Segment (asking the device for a
// keyframe when none comes), and at any keyframe whose SPS or PPS, or
// picture size, differs from the segment's: a screenrecord restart with
// the same parameters continues the segment; a rotation (a new size, a
// new SPS) starts a new one. The SPS and PPS go into the segment's avcC
// and are taken out of the samples. Times are the stream's PTS, from the
// segment's first keyframe: a still screen (no frame for a while) is one
// long sample, as it was seen.
//
// # Lifetime
//
// A recording holds its device as a viewer does (it keeps it running,
// and in a fleet counts as watched), without a viewer, with viewers
// coming and going. It ends when stopped (Stop), at Options.MaxDuration,
// when its device stops running here (Source.Running), when the recorder
// closes (service shutdown), or on a write error (a full disk, a
// directory that is not writable): that error ends that recording only —
// its state is "failed" with the error, Metrics.Failure counts it and
// Options.OnFailed is told — never the device or its viewers.
//
// Options.MaxRecordings bounds the recordings running at once;
// Options.MaxAge deletes recordings that ended longer ago, checked every
// Options.RetentionInterval. Recordings found in Options.Dir at start
// are listed again; one that was still recording then (the process
// died) is marked failed ("interrupted"), its files kept as they are.
package recording
