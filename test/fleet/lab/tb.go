package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// runner stands in for a *testing.T where the Kubernetes test helpers
// (the embedded etcd, the kube-apiserver test server) want one, so that
// the lab runs in a program as well as in a test. Its cleanups run when
// the lab closes (cleanup), last registered first. Fatal and FailNow panic
// with a fatal value, which Start recovers into an error.
type runner struct {
	testing.TB // never set: only satisfies the interface's private method

	ctx  context.Context
	out  io.Writer // the API server's log
	dir  string    // TempDir makes folders under it
	name string

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	temps    int
	env      map[string]*string // Setenv's originals, nil when unset
}

// fatal is the panic value of runner.FailNow.
type fatal struct{ msg string }

func newRunner(ctx context.Context, name, dir string, out io.Writer) *runner {
	return &runner{ctx: ctx, out: out, dir: dir, name: name}
}

func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// cleanup runs the cleanups, last registered first, and restores what
// Setenv changed.
func (r *runner) cleanup() {
	for {
		r.mu.Lock()
		n := len(r.cleanups)
		if n == 0 {
			r.mu.Unlock()
			break
		}
		f := r.cleanups[n-1]
		r.cleanups = r.cleanups[:n-1]
		r.mu.Unlock()
		func() {
			defer func() {
				if v := recover(); v != nil {
					r.Logf("lab: a cleanup panicked: %v", v)
				}
			}()
			f()
		}()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range r.env {
		if v == nil {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, *v)
		}
	}
	r.env = nil
}

func (r *runner) Log(args ...any) { r.write(fmt.Sprintln(args...)) }

func (r *runner) Logf(format string, args ...any) { r.write(fmt.Sprintf(format, args...) + "\n") }

func (r *runner) write(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = io.WriteString(r.out, s)
}

func (r *runner) Error(args ...any) { r.Log(args...); r.Fail() }

func (r *runner) Errorf(format string, args ...any) { r.Logf(format, args...); r.Fail() }

func (r *runner) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}

func (r *runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *runner) FailNow() {
	r.Fail()
	panic(fatal{"FailNow"})
}

func (r *runner) Fatal(args ...any) {
	msg := fmt.Sprint(args...)
	r.Log(msg)
	r.Fail()
	panic(fatal{msg})
}

func (r *runner) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.Log(msg)
	r.Fail()
	panic(fatal{msg})
}

func (r *runner) Skip(args ...any)                 { r.Fatal(append([]any{"skip: "}, args...)...) }
func (r *runner) Skipf(format string, args ...any) { r.Fatalf("skip: "+format, args...) }
func (r *runner) SkipNow()                         { r.Fatal("skip") }
func (r *runner) Skipped() bool                    { return false }
func (r *runner) Helper()                          {}
func (r *runner) Name() string                     { return r.name }
func (r *runner) Attr(key, value string)           { r.Logf("=== ATTR %s %s", key, value) }
func (r *runner) Context() context.Context         { return r.ctx }
func (r *runner) Output() io.Writer                { return lockedWriter{r} }
func (r *runner) ArtifactDir() string              { return r.TempDir() }
func (r *runner) Chdir(string)                     { r.Fatal("lab: Chdir is not supported") }

// TempDir makes a new folder under the lab's; the lab's folder is
// removed with the lab when the lab made it.
func (r *runner) TempDir() string {
	r.mu.Lock()
	r.temps++
	dir := filepath.Join(r.dir, "tmp"+strconv.Itoa(r.temps))
	r.mu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		r.Fatalf("lab: TempDir: %v", err)
	}
	r.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (r *runner) Setenv(key, value string) {
	r.mu.Lock()
	if r.env == nil {
		r.env = map[string]*string{}
	}
	if _, saved := r.env[key]; !saved {
		if old, ok := os.LookupEnv(key); ok {
			r.env[key] = &old
		} else {
			r.env[key] = nil
		}
	}
	r.mu.Unlock()
	os.Setenv(key, value)
}

// lockedWriter is the runner's log as an io.Writer.
type lockedWriter struct{ r *runner }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.r.write(string(p))
	return len(p), nil
}

// catch turns a fatal panic of the runner into *err; other panics go on.
func catch(err *error) {
	v := recover()
	if v == nil {
		return
	}
	if f, ok := v.(fatal); ok {
		*err = fmt.Errorf("lab: %s", f.msg)
		return
	}
	panic(v)
}
