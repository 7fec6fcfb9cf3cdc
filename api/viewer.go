package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

//go:embed web/index.html
var viewerPage []byte

// viewer serves the embedded viewer page.
func (s *Server) viewer(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; media-src 'self' blob:")
	return c.Blob(http.StatusOK, "text/html; charset=utf-8", viewerPage)
}
