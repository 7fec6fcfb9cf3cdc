package native

import (
	"bytes"
	"fmt"
	"sync"
	"time"
)

// probeDecodeFrames is the length of the probe stream: an IDR (with SPS
// and PPS) and P-frames.
const probeDecodeFrames = 3

// The probe stream: a small H.264 stream that libx264 encodes in-process
// at the first decoder probe, kept for the life of the process.
var probeStreamOnce struct {
	sync.Once
	aus [][]byte
	err error
}

func probeStream() ([][]byte, error) {
	probeStreamOnce.Do(func() {
		probeStreamOnce.aus, probeStreamOnce.err = makeProbeStream()
	})
	return probeStreamOnce.aus, probeStreamOnce.err
}

// makeProbeStream encodes probeDecodeFrames frames of the probe pattern at
// the probe size with libx264 (Constrained Baseline, as the devices send).
func makeProbeStream() (_ [][]byte, err error) {
	enc, err := NewEncoder(Options{Codec: CodecX264, Width: probeWidth, Height: probeHeight, BitRate: 500_000, Threads: 1})
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	pool, err := NewFramePool(probeWidth, probeHeight, CaptureFormat, 2)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	var aus [][]byte
	emit := func(p Packet) error { aus = append(aus, bytes.Clone(p.Data)); return nil }
	for i := range probeDecodeFrames {
		f, err := pool.Get()
		if err != nil {
			return nil, err
		}
		fillProbeFrame(f, i)
		if err := enc.Encode(f, emit); err != nil {
			return nil, err
		}
	}
	if err := enc.Flush(emit); err != nil {
		return nil, err
	}
	if len(aus) == 0 {
		return nil, fmt.Errorf("libx264 produced no access unit from %d frames", probeDecodeFrames)
	}
	return aus, nil
}

// probeDecoder is the Prober's decoder probe: ProbeDecoder with the named
// backend.
func probeDecoder(backend, vaapiDevice string) error {
	return ProbeDecoder(DecoderOptions{Backend: backend, VAAPIDevice: vaapiDevice})
}

// ProbeDecoder finds out whether the decoder that o describes works on
// this machine by decoding: it opens it (for a hardware backend, creating
// its device), decodes a small H.264 stream that libx264 encodes
// in-process (256x144, an IDR with SPS and PPS, then P-frames, made once
// per process), and checks that the pictures come out at that size and
// reach system memory (a hardware frame is downloaded, as an encoder of
// another device would). It returns nil or the error of the step that
// failed ("create cuda device: ...", "decode: ...").
//
// ProbeDecoder has no timeout and captures no FFmpeg log: [Prober] adds
// both. With BackendAuto it probes whichever backend the chain ends up
// on. Without cgo it returns [ErrUnavailable].
func ProbeDecoder(o DecoderOptions) error {
	aus, err := probeStream()
	if err != nil {
		return atStage("encode the probe stream", err)
	}
	d, err := NewVideoDecoder(o)
	if err != nil {
		return err
	}
	defer d.Close()
	pictures := 0
	check := func(f *Frame) error {
		defer f.Release()
		pictures++
		if f.Width() != probeWidth || f.Height() != probeHeight {
			return fmt.Errorf("picture %d is %dx%d, want %dx%d", pictures, f.Width(), f.Height(), probeWidth, probeHeight)
		}
		if err := f.Download(); err != nil {
			return atStage("download", err)
		}
		if len(f.Plane(0)) < probeWidth {
			return fmt.Errorf("picture %d (%s) has no luma plane", pictures, f.Format())
		}
		return nil
	}
	for i, au := range aus {
		if err := d.DecodeAt(au, time.Duration(i)*33*time.Millisecond, check); err != nil {
			return atStage("decode", err)
		}
	}
	if err := d.Flush(check); err != nil {
		return atStage("flush", err)
	}
	if pictures != len(aus) {
		return fmt.Errorf("decode: %d pictures from %d access units", pictures, len(aus))
	}
	return nil
}
