package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// ErrorResponse is the body of every error answer: a stable code and a
// human message.
type ErrorResponse struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// errorJSON answers an error. A 429 or 503 carries Retry-After: the
// condition (a limit, a drain, a dependency down) is expected to pass.
func errorJSON(c echo.Context, status int, code, msg string) error {
	setRetryAfter(c, status)
	return c.JSON(status, ErrorResponse{Error: code, Message: msg})
}

// setRetryAfter sets Retry-After on a 429 or 503 that has none yet (the
// rate limiter sets its own).
func setRetryAfter(c echo.Context, status int) {
	h := c.Response().Header()
	if (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && h.Get("Retry-After") == "" {
		h.Set("Retry-After", retryAfter)
	}
}

// codes names the statuses the API answers with.
var codes = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusNotAcceptable:         "not_acceptable",
	http.StatusRequestTimeout:        "timeout",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnprocessableEntity:   "unprocessable",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusTooManyRequests:       "rate_limited",
	http.StatusBadGateway:            "bad_gateway",
	http.StatusServiceUnavailable:    "unavailable",
	http.StatusInternalServerError:   "internal",
}

// errorHandler answers every error, Echo's own included, with an
// ErrorResponse.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := http.StatusInternalServerError, "internal error"
		var he *echo.HTTPError
		if errors.As(err, &he) {
			status = he.Code
			if m, ok := he.Message.(string); ok {
				msg = strings.ToLower(m)
			} else {
				msg = strings.ToLower(http.StatusText(status))
			}
		} else {
			log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
		}
		code := codes[status]
		if code == "" {
			code = "error"
		}
		setRetryAfter(c, status)
		if c.Request().Method == http.MethodHead {
			c.NoContent(status)
			return
		}
		c.JSON(status, ErrorResponse{Error: code, Message: msg})
	}
}
