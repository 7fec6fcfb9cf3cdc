package device

import (
	"testing"
	"time"

	"github.com/cloudphone/media-service/fanout"
	"github.com/cloudphone/media-service/media"
)

// fixedStageClock makes stageClock return what the test sets, for the
// test's duration.
func fixedStageClock(t *testing.T, now *time.Time) {
	t.Helper()
	prev := stageClock
	stageClock = func() time.Time { return *now }
	t.Cleanup(func() { stageClock = prev })
}

// TestPassthroughCaptureStage: a device unit handed to its output counts
// once in the capture stage, its arrival to now; one without an arrival
// time does not count, and nothing counts as encode.
func TestPassthroughCaptureStage(t *testing.T) {
	now := time.Unix(1000, 0)
	fixedStageClock(t, &now)
	o := newOutput("dev", outputKey{Codec: media.H264}, fanout.Rung{Scale: 1}, Config{}.withDefaults())
	defer o.close()
	o.deliver(media.Unit{Data: []byte{0, 0, 0, 1, 0x65}, KeyFrame: true, Codec: media.H264, Captured: now.Add(-4 * time.Millisecond)}, nil)
	o.deliver(media.Unit{Data: []byte{0, 0, 0, 1, 0x41}, Codec: media.H264}, nil) // no arrival time
	d := testDevice(o)
	st := d.stages()
	if st.Capture.Count() != 1 || st.Capture.Sum != 4*time.Millisecond {
		t.Errorf("capture: %d observations, sum %s; want 1, 4ms", st.Capture.Count(), st.Capture.Sum)
	}
	if st.Encode.Count() != 0 {
		t.Errorf("encode: %d observations for pass-through", st.Encode.Count())
	}
}

// TestEncodedStages: a unit from an output's encoder counts once in the
// encode stage (its picture went to the encoder → the unit out) and gets
// its capture time from the source's epoch and its PTS; a unit whose
// picture was not seen does not count.
func TestEncodedStages(t *testing.T) {
	now := time.Unix(2000, 0)
	fixedStageClock(t, &now)
	o := newOutput("dev", outputKey{Codec: media.H264}, fanout.Rung{Scale: 1}, Config{}.withDefaults())
	defer o.close()
	o.enc = &encodedSink{o: o, stop: func() {}}
	d := testDevice(o)
	epoch := now.Add(-time.Second)
	d.epoch.start(epoch)

	pts := 990*time.Millisecond + 1234*time.Nanosecond // the encoder keeps µs
	o.fed.put(pts, now.Add(-6*time.Millisecond))
	v, err := o.b.Subscribe("v", discard{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	d.deliverEncoded(o, media.Unit{Data: []byte{0, 0, 0, 1, 0x65}, KeyFrame: true, Codec: media.H264, PTS: pts.Truncate(time.Microsecond)})
	d.deliverEncoded(o, media.Unit{Data: []byte{0, 0, 0, 1, 0x41}, Codec: media.H264, PTS: 5 * time.Second})
	st := d.stages()
	if st.Encode.Count() != 1 || st.Encode.Sum != 6*time.Millisecond {
		t.Errorf("encode: %d observations, sum %s; want 1, 6ms", st.Encode.Count(), st.Encode.Sum)
	}
	if st.Capture.Count() != 0 {
		t.Errorf("capture: %d observations at delivery of encoded units; it counts when the picture goes to the encoder", st.Capture.Count())
	}
	if got, ok := o.fed.get(pts); !ok || !got.Equal(now.Add(-6*time.Millisecond)) {
		t.Errorf("fed.get = %v, %v", got, ok)
	}
	if at, ok := d.epoch.at(pts); !ok || !at.Equal(epoch.Add(pts)) {
		t.Errorf("epoch.at = %v, %v", at, ok)
	}
	var zero captureEpoch
	if _, ok := zero.at(time.Second); ok {
		t.Error("an epoch not started tells a time")
	}
}

// TestFedTimesMiss: a slot taken by another picture is a miss, not a
// wrong time.
func TestFedTimesMiss(t *testing.T) {
	var f fedTimes
	base := time.Unix(3000, 0)
	for i := range 1000 {
		f.put(time.Duration(i)*33*time.Millisecond, base.Add(time.Duration(i)*time.Millisecond))
	}
	hits := 0
	for i := range 1000 {
		if at, ok := f.get(time.Duration(i) * 33 * time.Millisecond); ok {
			hits++
			if want := base.Add(time.Duration(i) * time.Millisecond); !at.Equal(want) {
				t.Fatalf("picture %d: %v, want %v", i, at, want)
			}
		}
	}
	if hits == 0 || hits > len(f.slots) {
		t.Errorf("%d hits of 1000 pictures in %d slots", hits, len(f.slots))
	}
	if _, ok := f.get(999 * 33 * time.Millisecond); !ok {
		t.Error("the latest picture is not found")
	}
}

type discard struct{}

func (discard) WriteSample(fanout.Sample) error { return nil }

// testDevice is a device with one output, o, for the stage tests.
func testDevice(o *output) *Device {
	d := &Device{prim: o, outputs: map[outputKey]*output{o.key: o}, tally: newStageTally()}
	d.tally.Join(o, o.stages)
	return d
}
