package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudphone/media-service/api"
	"github.com/cloudphone/media-service/devicesim"
	"github.com/cloudphone/media-service/internal/testutil"
)

// getSession reads GET /api/media/sessions/:id.
func getSession(base, id string) (api.SessionView, int, error) {
	req, err := http.NewRequest("GET", base+"/api/media/sessions/"+id, nil)
	if err != nil {
		return api.SessionView{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return api.SessionView{}, 0, err
	}
	defer resp.Body.Close()
	var v api.SessionView
	if resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(resp.Body).Decode(&v)
	}
	return v, resp.StatusCode, err
}

// TestSessionLimitsE2E runs the service with MAX_SESSION_DURATION=10s,
// SESSION_WARNING_BEFORE=3s and CONTROL_IDLE_TIMEOUT=2s, and the viewer
// page in headless Chromium: the page counts the time left down; a click
// takes control, which goes after 2 s without input and the page says so;
// the session ends no earlier than 10 s after it was created (and not
// much later), the page says "Session ended: time limit reached" and does
// not connect again by itself; GET /api/media/sessions/:id still
// describes the session, closed, with endReason max-duration, and the
// service's log line of the close carries the reason.
func TestSessionLimitsE2E(t *testing.T) {
	testutil.Deadline(t, 3*time.Minute)
	const w, h, limit = 360, 640, 10 * time.Second
	base, sim, logs := serviceWith(t, devicesim.Options{Width: w, Height: h, FPS: 15}, map[string]string{
		"MAX_SESSION_DURATION": limit.String(), "SESSION_WARNING_BEFORE": "3s", "CONTROL_IDLE_TIMEOUT": "2s",
	})
	p := openViewer(t, base, sim, w, h)
	var id string
	p.eval(`viewer.session`, &id)
	info, code, err := getSession(base, id)
	if err != nil || code != http.StatusOK || info.EndReason != "" {
		t.Fatalf("GET the session: %d %v %+v", code, err, info)
	}
	created := info.CreatedAt

	// The time left, counting down.
	p.waitJS("the page to show the time left", `viewer.limit && viewer.limit.reason === "max-duration" &&
		/^(Time left|Session ends in) \d+:\d\d \(time limit\)$/.test(document.getElementById("limit").textContent)`)
	var shown string
	p.eval(`document.getElementById("limit").textContent`, &shown)
	t.Logf("the page shows %q", shown)

	// A click takes control; 2 s without input release it.
	from := p.mark()
	p.mouse("mousePressed", 0.5, 0.5, 1, 0)
	p.mouse("mouseReleased", 0.5, 0.5, 0, 0)
	waitTouchUp(t, sim, from, "the click on the device")
	p.waitJS("the page to say control was released", `viewer.controlLimit && viewer.controlLimit.released &&
		document.getElementById("control-limit").textContent.startsWith("Control released: no input")`)

	// The end, by the time limit.
	p.waitJS("the page to say the session ended", `viewer.ended && viewer.ended.reason === "max-duration" &&
		document.getElementById("limit").textContent === "Session ended: time limit reached" &&
		document.getElementById("status").textContent.startsWith("Session ended: time limit reached")`)
	var endedAt int64
	p.eval(`viewer.ended.at`, &endedAt)
	// The page's clock and the service's are the machine's; the page's
	// ms and the JSON's rounding allow a few ms.
	if d := time.UnixMilli(endedAt).Sub(created); d < limit-20*time.Millisecond || d > limit+15*time.Second {
		t.Errorf("the page heard of the end %v after the session was created, want %v", d, limit)
	} else {
		t.Logf("ended %v after creation", d)
	}
	info, code, err = getSession(base, id)
	if err != nil || code != http.StatusOK || info.EndReason != "max-duration" || info.State != "closed" {
		t.Errorf("GET the ended session: %d %v %+v", code, err, info)
	}
	// The close's log line comes once the session has let its device go.
	testutil.Eventually(t, "the log line of the session's close with reason max-duration", 30*time.Second, func() bool {
		return closedWithReason(logs.String(), id, "max-duration")
	})

	// No session by itself: the device list comes every 5 s.
	time.Sleep(5500 * time.Millisecond)
	var state struct {
		Session    *string `json:"session"`
		Reconnects int     `json:"reconnects"`
		Ended      bool    `json:"ended"`
	}
	p.eval(`({session: viewer.session, reconnects: viewer.reconnects, ended: !!viewer.ended})`, &state)
	if state.Session != nil || state.Reconnects != 0 || !state.Ended {
		t.Errorf("after the end the page has session %v, %d reconnects, ended %v", state.Session, state.Reconnects, state.Ended)
	}
}

// closedWithReason reports whether the logs (JSON lines) hold the
// session's "rtc: session closed" line with the reason.
func closedWithReason(logs, id, reason string) bool {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if l["msg"] == "rtc: session closed" && l["session"] == id && fmt.Sprint(l["reason"]) == reason {
			return true
		}
	}
	return false
}
