package api

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudphone/media-service/media"

	"github.com/labstack/echo/v4"
)

// GET /api/media/devices/:id/screenshot answers a picture of the
// device, PNG or JPEG, optionally scaled down for a thumbnail. Where the
// picture comes from, and how requests within a short window share one,
// is Deps.Screenshot's part (device.Registry.Screenshot). The caller must
// be allowed to open the device; a view-only token may take screenshots
// of the devices it may watch.

// Screenshot bounds of ?maxWidth=.
const (
	minScreenshotWidth = 16
	maxScreenshotWidth = 4096
)

// ScreenshotRequest is what a screenshot request asks for.
type ScreenshotRequest struct {
	// Format is "png" or "jpeg".
	Format string
	// MaxWidth is the largest width (16..4096), keeping the aspect ratio
	// and never scaling up; 0 for the device's size.
	MaxWidth int
}

// Screenshot is an encoded screenshot.
type Screenshot struct {
	Data        []byte
	ContentType string // image/png or image/jpeg
	// Source says where the picture came from: "picture" (the latest
	// picture of a device encoded here), "decoded" (its pass-through
	// stream, decoded), "capture" (a one-off screencap).
	Source string
	// Taken is when the picture was taken.
	Taken time.Time
}

// DeviceLocator is what a Fleet may also do for the requests about a
// running device (a screenshot): say which instance runs it now, without
// placing it anywhere. base is that instance's URL, "" when it runs here
// or nowhere.
type DeviceLocator interface {
	RunningAt(ctx context.Context, deviceID string) (base string, err error)
}

func (s *Server) screenshot(c echo.Context) error {
	if s.deps.Screenshot == nil {
		return errorJSON(c, http.StatusServiceUnavailable, "unavailable", "screenshots are not configured")
	}
	device := c.Param("id") // percent-decoded: unescapePathParams
	if err := media.CheckDeviceID(device); err != nil {
		return errorJSON(c, http.StatusBadRequest, "bad_request", "id: "+err.Error())
	}
	req, err := screenshotRequest(c.Request())
	if err != nil {
		return errorJSON(c, http.StatusBadRequest, "bad_request", err.Error())
	}
	if s.forbiddenDevice(c, device) {
		return nil
	}
	if s.screenshotElsewhere(c, device) {
		return nil
	}
	shot, err := s.deps.Screenshot(c.Request().Context(), device, req)
	if err != nil {
		status := http.StatusInternalServerError
		if s.deps.ErrorStatus != nil {
			status = s.deps.ErrorStatus(err)
		}
		if status >= 500 && status != http.StatusServiceUnavailable && c.Request().Context().Err() == nil {
			s.log.Error("screenshot", "device", device, "err", err)
		}
		code := codes[status]
		if code == "" {
			code = "error"
		}
		return errorJSON(c, status, code, err.Error())
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Screenshot-Source", shot.Source)
	ext := "png"
	if shot.ContentType == "image/jpeg" {
		ext = "jpg"
	}
	name := strings.ReplaceAll(device, ":", "_") + "-" + shot.Taken.UTC().Format("20060102-150405") + "." + ext
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": name}))
	return c.Blob(http.StatusOK, shot.ContentType, shot.Data)
}

// screenshotElsewhere forwards a client's screenshot request to the
// instance of the fleet that runs the device, and reports whether it
// answered. A device that runs nowhere, or whose instance does not
// answer, is captured here; so is a request that was forwarded already
// (it carries X-Fleet-Hops, vouched for or not: two instances whose
// views of a moving Lease differ never pass it back and forth).
func (s *Server) screenshotElsewhere(c echo.Context, device string) bool {
	loc, ok := s.deps.Fleet.(DeviceLocator)
	if !ok || c.Request().Header.Get(headerHops) != "" {
		return false
	}
	base, err := loc.RunningAt(c.Request().Context(), device)
	if err != nil || base == "" {
		if err != nil {
			s.log.Debug("fleet: where a device runs", "device", device, "err", err)
		}
		return false
	}
	err = s.forward(c, base, nil)
	if errors.Is(err, errNoAnswer) {
		s.log.Warn("fleet: the instance running the device does not answer; taking the screenshot here", "device", device, "owner", base, "err", err)
		return false
	}
	return true
}

// screenshotRequest reads the format (?format=, else Accept) and the
// width bound (?maxWidth=).
func screenshotRequest(r *http.Request) (ScreenshotRequest, error) {
	q := r.URL.Query()
	var req ScreenshotRequest
	if v, ok := q["format"]; ok {
		switch strings.ToLower(v[0]) {
		case "png":
			req.Format = "png"
		case "jpeg", "jpg":
			req.Format = "jpeg"
		default:
			return req, fmt.Errorf("format %s: want png or jpeg", strconv.QuoteToASCII(shortValue(v[0])))
		}
	} else {
		req.Format = acceptedImage(r.Header.Values(echo.HeaderAccept))
	}
	if v, ok := q["maxWidth"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < minScreenshotWidth || n > maxScreenshotWidth {
			return req, fmt.Errorf("maxWidth %s: want a width of %d to %d pixels", strconv.QuoteToASCII(shortValue(v[0])), minScreenshotWidth, maxScreenshotWidth)
		}
		req.MaxWidth = n
	}
	return req, nil
}

// acceptedImage picks the format by Accept: JPEG when it ranks image/jpeg
// above image/png (the most specific range that matches each gives its
// q), PNG otherwise, also when Accept names neither.
func acceptedImage(accept []string) string {
	if acceptQ(accept, "image/jpeg") > acceptQ(accept, "image/png") {
		return "jpeg"
	}
	return "png"
}

// acceptQ returns the q that Accept gives typ: that of the most specific
// range matching it (type/subtype, type/*, */*), 1 without an Accept,
// -1 when no range matches.
func acceptQ(accept []string, typ string) float64 {
	if len(accept) == 0 {
		return 1
	}
	major, _, _ := strings.Cut(typ, "/")
	best, q := -1, -1.0
	for _, line := range accept {
		for part := range strings.SplitSeq(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			rank := -1
			switch mt {
			case typ:
				rank = 2
			case major + "/*":
				rank = 1
			case "*/*":
				rank = 0
			}
			if rank < best || rank < 0 {
				continue
			}
			v := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f <= 1 {
					v = f
				}
			}
			if rank > best || v > q {
				best, q = rank, v
			}
		}
	}
	return q
}

// shortValue cuts a query value for an error message.
func shortValue(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
