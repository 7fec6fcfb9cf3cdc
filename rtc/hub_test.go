package rtc

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestHubSharesAndLingers(t *testing.T) {
	src := newFakeSource(10 * time.Millisecond)
	src.add("dev1", syntheticStreamH264())
	cfg := testConfig()
	cfg.Linger = time.Hour
	h := NewHub(src, cfg)
	ctx := context.Background()

	d1, b1, rel1, err := h.Acquire(ctx, "dev1")
	if err != nil {
		t.Fatal(err)
	}
	d2, b2, rel2, err := h.Acquire(ctx, "dev1")
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 || b1 != b2 || src.starts.Load() != 1 {
		t.Fatalf("two viewers did not share one pipeline (%d starts)", src.starts.Load())
	}
	rel1()
	rel1() // idempotent
	rel2()
	// Within the linger the pipeline stays, and a new viewer joins it.
	_, b3, rel3, err := h.Acquire(ctx, "dev1")
	if err != nil {
		t.Fatal(err)
	}
	if b3 != b1 || src.starts.Load() != 1 || src.stops.Load() != 0 {
		t.Fatalf("a viewer within the linger got a new pipeline")
	}
	rel3()
	if st := h.Stats(); len(st) != 1 || st[0].DeviceID != "dev1" {
		t.Errorf("stats %+v", st)
	}
	if _, _, _, err := h.Acquire(ctx, "nope"); !errors.Is(err, ErrUnknownDevice) {
		t.Errorf("unknown device: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if src.stops.Load() != 1 {
		t.Errorf("Close stopped %d pipelines", src.stops.Load())
	}
	if _, _, _, err := h.Acquire(ctx, "dev1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Acquire after Close: %v", err)
	}
}

func TestHubStopsAfterLingerAndRestarts(t *testing.T) {
	src := newFakeSource(10 * time.Millisecond)
	src.add("dev1", syntheticStreamH264())
	cfg := testConfig()
	cfg.Linger = 10 * time.Millisecond
	h := NewHub(src, cfg)
	defer h.Close()
	ctx := context.Background()
	for i := range 3 {
		_, b, rel, err := h.Acquire(ctx, "dev1")
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "units", func() bool { return b.Stats().UnitsIn > 0 })
		rel()
		eventually(t, "the stop after the linger", func() bool { return src.stops.Load() == int64(i+1) })
		if src.starts.Load() != int64(i+1) {
			t.Fatalf("%d starts after %d rounds", src.starts.Load(), i+1)
		}
	}
}

// slowSource is a MediaSource whose Start waits for its context.
type slowSource struct{ started chan struct{} }

func (s slowSource) Start(ctx context.Context, id string, out *Broadcaster) (Device, error) {
	close(s.started)
	<-ctx.Done()
	return nil, ctx.Err()
}

func (s slowSource) Stop(string) {}

func TestHubAcquireCanceled(t *testing.T) {
	src := slowSource{started: make(chan struct{})}
	h := NewHub(src, testConfig())
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-src.started
		cancel()
	}()
	if _, _, _, err := h.Acquire(ctx, "dev1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire: %v, want context.Canceled", err)
	}
	if st := h.Stats(); len(st) != 0 {
		t.Errorf("a failed start left %+v", st)
	}
}

// syntheticStreamH264 is a short synthetic H.264 stream.
func syntheticStreamH264() *stream { return syntheticStream("h264", 30, 10) }

func TestHubConcurrentViewers(t *testing.T) {
	src := newFakeSource(time.Millisecond)
	src.add("dev1", syntheticStreamH264())
	src.add("dev2", syntheticStreamH264())
	cfg := testConfig()
	cfg.Linger = -1 // stop at once: the most churn
	h := NewHub(src, cfg)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				id := "dev1"
				if (g+i)%2 == 1 {
					id = "dev2"
				}
				_, b, rel, err := h.Acquire(ctx, id)
				if err != nil {
					t.Error(err)
					return
				}
				var s sink
				v, err := b.Subscribe("v", &s)
				if err == nil {
					v.Close()
				}
				rel()
			}
		})
	}
	wg.Wait()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if st, sp := src.starts.Load(), src.stops.Load(); st != sp || st == 0 {
		t.Errorf("%d starts, %d stops", st, sp)
	}
}
