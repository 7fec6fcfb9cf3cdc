package chromium

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudphone/media-service/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPageEvalAndClick(t *testing.T) {
	testutil.Deadline(t, 2*time.Minute)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><body style="margin:0"><div id="box" style="width:200px;height:200px;background:#333"></div>
<script>window.clicks=[];document.getElementById("box").addEventListener("click",e=>window.clicks.push([e.clientX,e.clientY]));</script>`)
	}))
	defer srv.Close()
	b := Launch(t)
	if err := b.Navigate(srv.URL); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyErr(t, "the page to load", testutil.Generous, func() (bool, error) {
		var n int
		err := b.Eval(`Array.isArray(window.clicks) ? window.clicks.length : -1`, &n)
		return err == nil && n == 0, err
	})
	if err := b.Click(50, 60); err != nil {
		t.Fatal(err)
	}
	var clicks [][2]int
	if err := b.Eval(`window.clicks`, &clicks); err != nil {
		t.Fatal(err)
	}
	if len(clicks) != 1 || clicks[0] != [2]int{50, 60} {
		t.Fatalf("clicks %v, want one at 50,60", clicks)
	}
	if err := b.Eval(`(() => { throw new Error("boom") })()`, nil); err == nil {
		t.Fatal("a page exception was not reported")
	}

	// Close returns once every process of the browser's has exited, its
	// sockets with it; a second Close does nothing.
	b.Close()
	if groupAlive(b.cmd.Process.Pid) {
		t.Error("a process of the browser's is still running after Close")
	}
	b.Close()
}
