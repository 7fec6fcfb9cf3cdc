package api

import (
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// registerPprof puts the standard pprof endpoints on the service's own
// mux: the index, cmdline, profile, symbol, trace and the named profiles
// (allocs, block, goroutine, heap, mutex, threadcreate).
func (s *Server) registerPprof(e *echo.Echo, m ...echo.MiddlewareFunc) {
	e.GET("/debug/pprof/", echo.WrapHandler(http.HandlerFunc(pprof.Index)), m...)
	e.GET("/debug/pprof/cmdline", echo.WrapHandler(http.HandlerFunc(pprof.Cmdline)), m...)
	e.GET("/debug/pprof/profile", s.longWrite(pprof.Profile, 30*time.Second), m...)
	e.GET("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)), m...)
	e.POST("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)), m...)
	e.GET("/debug/pprof/trace", s.longWrite(pprof.Trace, time.Second), m...)
	for _, name := range []string{"allocs", "block", "goroutine", "heap", "mutex", "threadcreate"} {
		e.GET("/debug/pprof/"+name, s.longWrite(pprof.Handler(name).ServeHTTP, 0), m...)
	}
}

// maxProfile bounds how far a profile's ?seconds= extends the write
// deadline.
const maxProfile = time.Hour

// longWrite serves a handler that writes after ?seconds= (def without
// it): the write deadline is extended by that.
func (s *Server) longWrite(h http.HandlerFunc, def time.Duration) echo.HandlerFunc {
	return func(c echo.Context) error {
		d := def
		if sec, err := strconv.ParseFloat(c.QueryParam("seconds"), 64); err == nil && sec > 0 {
			d = min(time.Duration(sec*float64(time.Second)), maxProfile)
		}
		if d > 0 {
			_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Now().Add(d + s.t.write))
		}
		h(c.Response(), c.Request())
		return nil
	}
}
