package encoder

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudphone/media-service/media"

	"github.com/cloudphone/media-service/native"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	native.SetLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

const testW, testH = 160, 120

var quiet = slog.New(slog.DiscardHandler)

func needFFmpeg(t testing.TB) {
	t.Helper()
	if !native.Available {
		t.Skip("built without cgo: no FFmpeg encoders")
	}
}

// newPool returns a frame pool for the tests' frames.
func newPool(t testing.TB, n int) *native.FramePool {
	t.Helper()
	p, err := native.NewFramePool(testW, testH, native.PixelFormatYUV420P, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// frame returns frame number n of a moving gradient.
func frame(t testing.TB, pool *native.FramePool, n int) *native.Frame {
	t.Helper()
	var f *native.Frame
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if f, err = pool.Get(); err == nil {
			break
		}
		if !errors.Is(err, native.ErrPoolExhausted) || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		plane, stride := f.Plane(i), f.Stride(i)
		w, h := testW, testH
		if i > 0 {
			w, h = w/2, h/2
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				plane[y*stride+x] = byte(x*2 + y + n*4 + i*40)
			}
		}
	}
	f.PTS = time.Duration(n) * 33 * time.Millisecond
	return f
}

func x264Options() native.Options {
	return native.Options{Width: testW, Height: testH, Preset: "ultrafast", Threads: 1}
}

// fake is an Encoder that fails, hangs or works as its fields say, wrapping
// a real libx264 encoder for the frames it does encode.
type fake struct {
	name      string
	failAfter int           // Encode fails from this call on (0: never)
	hang      chan struct{} // Encode blocks until closed (nil: never)
	hangClose chan struct{} // Close blocks until closed
	real      *native.Encoder
	calls     atomic.Int64
	closed    atomic.Bool
}

func newFake(t testing.TB, name string) *fake {
	t.Helper()
	e, err := native.NewEncoder(x264Options())
	if err != nil {
		t.Fatal(err)
	}
	return &fake{name: name, real: e}
}

func (f *fake) Encode(fr *native.Frame, emit func(native.Packet) error) error {
	n := f.calls.Add(1)
	if f.hang != nil {
		<-f.hang
		fr.Release()
		return errors.New("fake: released after hanging")
	}
	if f.failAfter > 0 && n >= int64(f.failAfter) {
		fr.Release()
		return errors.New("fake: device lost")
	}
	return f.real.Encode(fr, emit)
}

func (f *fake) ForceKeyFrame() error     { return f.real.ForceKeyFrame() }
func (f *fake) SetBitRate(bps int) error { return f.real.SetBitRate(bps) }
func (f *fake) Name() string             { return f.name }
func (f *fake) Close() error {
	if f.hangClose != nil {
		<-f.hangClose
	}
	f.closed.Store(true)
	return f.real.Close()
}

// chainOf returns a Chain over fixed encoders; nil entries fail to open.
// Each opens once: a second open of the same candidate fails.
func chainOf(encs ...Encoder) Chain {
	var mu sync.Mutex
	opened := map[int]bool{}
	return Chain{Open: func(i int, _ media.Size) (Encoder, error) {
		if i >= len(encs) {
			return nil, ErrNoEncoder
		}
		mu.Lock()
		defer mu.Unlock()
		if encs[i] == nil || opened[i] {
			return nil, errors.New("open: no such device")
		}
		opened[i] = true
		return encs[i], nil
	}}
}

// chainFunc returns a Chain whose candidate i is made by makers[i] at
// every open, so a candidate can open again after it failed.
func chainFunc(makers ...func(size media.Size) (Encoder, error)) Chain {
	return Chain{Open: func(i int, size media.Size) (Encoder, error) {
		if i >= len(makers) {
			return nil, ErrNoEncoder
		}
		return makers[i](size)
	}}
}

// decodeUnits decodes H.264 units and returns how many pictures came out.
func decodeUnits(t testing.TB, units []media.Unit) int {
	t.Helper()
	dec, err := native.NewDecoder(native.DecoderH264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	n := 0
	for i, u := range units {
		if err := dec.Decode(u.Data, func(p *native.Picture) error {
			if p.Width != testW || p.Height != testH {
				t.Fatalf("picture %dx%d", p.Width, p.Height)
			}
			n++
			return nil
		}); err != nil {
			t.Fatalf("unit %d (%s, key=%v): %v", i, u.Encoder, u.KeyFrame, err)
		}
	}
	return n
}

// drain reads a pipeline's output until it closes.
func drain(p *Pipeline) (<-chan []media.Unit, *sync.WaitGroup) {
	res := make(chan []media.Unit, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		var units []media.Unit
		for u := range p.Output() {
			units = append(units, u)
		}
		res <- units
	})
	return res, &wg
}
