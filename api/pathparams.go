package api

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// unescapePathParams percent-decodes every route's path parameters, once,
// before any handler reads or checks them.
//
// Echo matches routes on the request's RawPath when it has one (so that
// an encoded slash, %2F, stays inside its segment) and then hands out the
// parameters as they were sent: POST /whep/127.0.0.1%3A5555, as
// encodeURIComponent writes it, would reach the device-ID check as
// "127.0.0.1%3A5555". net/url keeps RawPath only when it differs from
// the default encoding of Path; without it Echo matched on Path, whose
// parameters are decoded already and must not be decoded twice
// ("%2525" is "%25", not "%").
//
// A malformed escape answers 400. net/http refuses such a request line
// before it reaches the handler; this covers what calls the handler
// directly.
func unescapePathParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		vals := c.ParamValues()
		if len(vals) == 0 || c.Request().URL.RawPath == "" {
			return next(c)
		}
		names := c.ParamNames()
		out := make([]string, len(vals))
		for i, v := range vals {
			u, err := url.PathUnescape(v)
			if err != nil {
				name := "parameter"
				if i < len(names) {
					name = names[i]
				}
				return errorJSON(c, http.StatusBadRequest, "bad_request", fmt.Sprintf("path %s: malformed percent-encoding", name))
			}
			out[i] = u
		}
		c.SetParamValues(out...)
		return next(c)
	}
}
