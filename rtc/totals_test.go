package rtc

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

// totalsOf returns a device's totals, failing if it has none.
func totalsOf(t *testing.T, m *Manager, dev string) DeviceTotals {
	t.Helper()
	for _, d := range m.Totals() {
		if d.DeviceID == dev {
			return d
		}
	}
	t.Fatalf("no totals for %s in %+v", dev, m.Totals())
	return DeviceTotals{}
}

// wentDown names the first counter of b below a's, or returns "".
func wentDown(a, b DeviceTotals) string {
	if b.SessionsOpened < a.SessionsOpened {
		return "SessionsOpened"
	}
	if b.SessionsClosed < a.SessionsClosed {
		return "SessionsClosed"
	}
	va, vb := reflect.ValueOf(a.Stats), reflect.ValueOf(b.Stats)
	for i := range va.NumField() {
		if va.Field(i).Kind() == reflect.Uint64 && vb.Field(i).Uint() < va.Field(i).Uint() {
			return va.Type().Field(i).Name
		}
	}
	return ""
}

// watchTotals reads the manager's totals over and over until the returned
// function is called, and fails the test if a counter ever goes down or a
// device disappears.
func watchTotals(t *testing.T, m *Manager) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		last := map[string]DeviceTotals{}
		for {
			now := m.Totals()
			if len(now) < len(last) {
				t.Errorf("devices left the totals: %+v, then %+v", last, now)
			}
			for _, d := range now {
				if f := wentDown(last[d.DeviceID], d); f != "" {
					t.Errorf("%s: %s went down: %+v, then %+v", d.DeviceID, f, last[d.DeviceID], d)
				}
				last[d.DeviceID] = d
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func TestTotalsKeepClosedSessions(t *testing.T) {
	r := newRig(t, testConfig(), 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	stop := watchTotals(t, r.m)
	t.Cleanup(stop)
	ctx := context.Background()

	// Sessions that Create refuses count nowhere.
	if _, _, err := r.m.Create(ctx, CreateRequest{DeviceID: "nope", UserID: "u", Offer: offerOf(t, clientOptions{plid: s264.plid})}); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unknown device: %v", err)
	}
	if _, _, err := r.m.Create(ctx, CreateRequest{DeviceID: "dev1", UserID: "u", Offer: offerOf(t, clientOptions{codecs: vp8Only})}); !errors.Is(err, ErrCodecUnsupported) {
		t.Fatalf("VP8 offer to an H.264 device: %v", err)
	}
	if tot := r.m.Totals(); len(tot) != 0 {
		t.Fatalf("totals after refused sessions: %+v", tot)
	}

	// A first session sends media and a PLI; its counters stay in the
	// totals once it is deleted.
	c1, s1, _ := connect(t, r.m, "dev1", "u", clientOptions{plid: s264.plid})
	eventually(t, "frames", func() bool { return c1.frames.Load() >= 3 })
	c1.sendPLI()
	eventually(t, "the PLI", func() bool { return s1.Info().Stats.PLIs >= 1 })
	open := totalsOf(t, r.m, "dev1")
	if open.SessionsOpened != 1 || open.SessionsClosed != 0 || open.Stats.BytesSent == 0 || open.Stats.PacketsSent == 0 || open.Stats.PLIs == 0 {
		t.Fatalf("totals with the session open: %+v", open)
	}
	if err := r.m.Delete(s1.ID()); err != nil {
		t.Fatal(err)
	}
	final1 := s1.counters()
	after1 := totalsOf(t, r.m, "dev1")
	if after1.SessionsOpened != 1 || after1.SessionsClosed != 1 {
		t.Errorf("sessions after Delete: opened %d, closed %d", after1.SessionsOpened, after1.SessionsClosed)
	}
	if after1.Stats != final1 {
		t.Errorf("totals after Delete %+v, the session's final counters %+v", after1.Stats, final1)
	}
	if f := wentDown(open, after1); f != "" {
		t.Errorf("%s went down at Delete: %+v, then %+v", f, open, after1)
	}
	if len(r.m.List()) != 0 {
		t.Errorf("sessions listed after Delete: %+v", r.m.List())
	}

	// A second session adds to them, open and closed (by its client
	// leaving: the sweep closes it).
	c2, s2, _ := connect(t, r.m, "dev1", "u", clientOptions{plid: s264.plid})
	eventually(t, "frames of the second session", func() bool { return c2.frames.Load() >= 3 })
	eventually(t, "bytes of the second session in the totals", func() bool {
		return totalsOf(t, r.m, "dev1").Stats.BytesSent > after1.Stats.BytesSent
	})
	if d := totalsOf(t, r.m, "dev1"); d.SessionsOpened != 2 || d.SessionsClosed != 1 {
		t.Errorf("sessions with the second open: opened %d, closed %d", d.SessionsOpened, d.SessionsClosed)
	}
	c2.close()
	waitDone(t, s2)
	want := final1
	want.add(s2.counters())
	after2 := totalsOf(t, r.m, "dev1")
	if after2.SessionsOpened != 2 || after2.SessionsClosed != 2 || after2.Stats != want {
		t.Errorf("totals after the second session: %+v, want 2 opened and closed and %+v", after2, want)
	}

	// A session that never connected, ended by the manager's Close.
	s3, _, err := r.m.Create(ctx, CreateRequest{DeviceID: "dev1", UserID: "u", Offer: offerOf(t, clientOptions{plid: s264.plid})})
	if err != nil {
		t.Fatal(err)
	}
	if d := totalsOf(t, r.m, "dev1"); d.SessionsOpened != 3 || d.SessionsClosed != 2 {
		t.Errorf("sessions with the third open: opened %d, closed %d", d.SessionsOpened, d.SessionsClosed)
	}
	if err := r.m.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, s3)
	want.add(s3.counters())
	if d := totalsOf(t, r.m, "dev1"); d.SessionsOpened != 3 || d.SessionsClosed != 3 || d.Stats != want {
		t.Errorf("totals after Close: %+v, want 3 opened and closed and %+v", d, want)
	}
	stop()
}

func TestSessionStatsAddCoversEveryCounter(t *testing.T) {
	var one SessionStats
	v := reflect.ValueOf(&one).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Uint64 {
			f.SetUint(1)
		}
	}
	var sum SessionStats
	sum.add(one)
	sum.add(one)
	s := reflect.ValueOf(sum)
	for i := range s.NumField() {
		if f := s.Field(i); f.Kind() == reflect.Uint64 && f.Uint() != 2 {
			t.Errorf("add leaves %s out", s.Type().Field(i).Name)
		}
	}
}

// TestTotalsPrunedAfterRetention: a device with sessions keeps its
// totals; one with none for Config.TotalsRetention is forgotten.
func TestTotalsPrunedAfterRetention(t *testing.T) {
	cfg := testConfig()
	cfg.TotalsRetention = time.Hour
	r := newRig(t, cfg, 10*time.Millisecond)
	s264 := testH264(t)
	r.p.add("dev1", s264)
	r.p.add("dev2", s264)
	c1, s1, _ := connect(t, r.m, "dev1", "u1", clientOptions{plid: s264.plid})
	defer c1.close()
	c2, s2, _ := connect(t, r.m, "dev2", "u2", clientOptions{plid: s264.plid})
	defer c2.close()
	if err := r.m.Delete(s2.ID()); err != nil {
		t.Fatal(err)
	}
	before := totalsOf(t, r.m, "dev2")
	if before.SessionsOpened != 1 || before.SessionsClosed != 1 {
		t.Fatalf("dev2's totals after its session closed: %+v", before)
	}
	r.m.pruneTotals(time.Now()) // within the retention: kept
	totalsOf(t, r.m, "dev2")
	r.m.pruneTotals(time.Now().Add(2 * time.Hour))
	for _, d := range r.m.Totals() {
		if d.DeviceID == "dev2" {
			t.Fatalf("dev2 kept its totals past the retention: %+v", d)
		}
	}
	if d := totalsOf(t, r.m, "dev1"); d.SessionsOpened != 1 || d.SessionsClosed != 0 {
		t.Fatalf("dev1, with a session open, was pruned or changed: %+v", d)
	}
	_ = s1
}
