package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openapiDocument is the OpenAPI 3.1 document of every route, served at
// GET /api/openapi.json. It is written by hand and kept true by the tests
// (openapi_test.go): see the package documentation.
//
//go:embed openapi.json
var openapiDocument []byte

// openapi serves the OpenAPI document. It is public: it describes the
// routes and their bodies, nothing secret.
func (s *Server) openapi(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openapiDocument)
}
