package fanout

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/media"
)

// tagged makes a unit of stream tag (its first data byte) numbered n.
func tagged(tag byte, n int, key bool) media.Unit {
	return media.Unit{Data: []byte{tag, byte(n)}, KeyFrame: key, PTS: time.Duration(n) * 33 * time.Millisecond}
}

// TestReaderMovesAtTheNewStreamsKeyframe: a reader moving between two
// streams of a device writes the old one's units until the new one's
// keyframe and the new one's only from it, through one writer; the old
// stream forgets it, and the callback runs once.
func TestReaderMovesAtTheNewStreamsKeyframe(t *testing.T) {
	var askedB atomic.Int64
	a := New(Config{DeviceID: "d", Log: testLog()})
	b := New(Config{DeviceID: "d", Log: testLog(), RequestKeyFrame: func() { askedB.Add(1) }})
	defer a.Close()
	defer b.Close()
	a.Write(tagged('a', 0, true))
	var s sink
	r, err := a.Subscribe("v", &s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	movedFrom := make(chan *Stream, 1)
	if err := r.Move(b, func(from *Stream) { movedFrom <- from }); err != nil {
		t.Fatal(err)
	}
	if askedB.Load() == 0 {
		t.Fatal("the move did not ask the new stream for a keyframe")
	}
	if err := r.Move(b, nil); err == nil {
		t.Fatal("a second move while one is in progress was accepted")
	}
	a.Write(tagged('a', 1, false))
	b.Write(tagged('b', 1, false)) // before b's keyframe: not the reader's
	a.Write(tagged('a', 2, false))
	b.Write(tagged('b', 2, true))  // the switch
	a.Write(tagged('a', 3, false)) // after it: dropped
	b.Write(tagged('b', 3, false))
	eventually(t, "the units after the switch", func() bool { return len(s.got()) == 5 })
	want := []string{"a0", "a1", "a2", "b2", "b3"}
	for i, smp := range s.got() {
		if got := string(smp.Unit.Data[0]) + string('0'+smp.Unit.Data[1]); got != want[i] {
			t.Errorf("sample %d is %s, want %s", i, got, want[i])
		}
	}
	select {
	case from := <-movedFrom:
		if from != a {
			t.Fatal("the callback named another stream than the one left")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the move's callback did not run")
	}
	eventually(t, "the old stream forgets the reader", func() bool { return a.Viewers() == 0 && b.Viewers() == 1 })
	if st := r.Stats(); st.Switches != 1 || st.Sent != 5 {
		t.Fatalf("stats %+v, want 1 switch and 5 sent", st)
	}
}

// TestReaderCancelMove: a move given up before the new stream's keyframe
// leaves the reader where it was.
func TestReaderCancelMove(t *testing.T) {
	a := New(Config{DeviceID: "d", Log: testLog()})
	b := New(Config{DeviceID: "d", Log: testLog()})
	defer a.Close()
	defer b.Close()
	a.Write(tagged('a', 0, true))
	var s sink
	r, err := a.Subscribe("v", &s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Move(b, func(*Stream) { t.Error("a cancelled move finished") }); err != nil {
		t.Fatal(err)
	}
	if got := r.CancelMove(); got != b {
		t.Fatal("CancelMove did not return the stream moved to")
	}
	b.Write(tagged('b', 1, true))
	a.Write(tagged('a', 1, false))
	eventually(t, "the old stream's units", func() bool { return len(s.got()) == 2 })
	if got := s.got()[1].Unit.Data[0]; got != 'a' {
		t.Fatalf("after the cancel the reader wrote stream %c", got)
	}
	if r.CancelMove() != nil {
		t.Fatal("a second CancelMove found a move")
	}
}

// TestStreamCloseEndsItsReadersOnly: closing a stream stops the readers
// that watch it and gives up the moves to it.
func TestStreamCloseEndsItsReadersOnly(t *testing.T) {
	a := New(Config{DeviceID: "d", Log: testLog()})
	b := New(Config{DeviceID: "d", Log: testLog()})
	defer a.Close()
	var sa, sb sink
	ra, err := a.Subscribe("on-a", &sa)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := b.Subscribe("on-b", &sb)
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.Move(b, nil); err != nil {
		t.Fatal(err)
	}
	b.Close() // rb ends; ra's move is given up
	if err := ra.Move(b, nil); err == nil {
		t.Fatal("a move to a closed stream was accepted")
	}
	a.Write(tagged('a', 0, true))
	eventually(t, "the reader on the open stream", func() bool { return len(sa.got()) == 1 })
	rb.Close() // idempotent after the stream stopped it
	if _, err := b.Subscribe("late", &sb); err == nil {
		t.Fatal("Subscribe on a closed stream succeeded")
	}
}
