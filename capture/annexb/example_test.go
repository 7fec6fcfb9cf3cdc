package annexb_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/cloudphone/media-service/capture/annexb"
)

func ExampleParseSPS() {
	// The SPS x264 writes for 320x240 Constrained Baseline at 30 fps, as it
	// is in the stream: 00 00 03 is emulation prevention.
	nal, _ := hex.DecodeString("6742c00dd90141fb0110000003001000000303c0f142a480")
	sps, err := annexb.ParseSPS(nal)
	if err != nil {
		fmt.Println(err)
		return
	}
	fps, _ := sps.FrameRate()
	fmt.Printf("%dx%d profile-level-id=%s %g fps\n", sps.Width, sps.Height, sps.ProfileLevelID(), fps)
	// Output: 320x240 profile-level-id=42c00d 30 fps
}

func ExampleStream() {
	sps, _ := hex.DecodeString("000000016742c00dd90141fb0110000003001000000303c0f142a480")
	pps := []byte{0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33}
	p := []byte{0, 0, 0, 1, 0x41, 0x9a, 0x21, 0x6c}
	stream := bytes.Join([][]byte{sps, pps, idr, p}, nil)

	// A socket or an adb exec-out pipe in real use; here the stream ends, so
	// the last access unit is flushed at EOF.
	rc := io.NopCloser(bytes.NewReader(stream))
	err := annexb.Stream(rc, 0, annexb.Options{}, func(au annexb.AccessUnit) error {
		fmt.Printf("%d bytes, key frame %v, parameter sets %v\n", len(au.Data), au.KeyFrame, au.HasParams)
		return nil
	})
	fmt.Println(err)
	// Output:
	// 45 bytes, key frame true, parameter sets true
	// 8 bytes, key frame false, parameter sets false
	// <nil>
}
