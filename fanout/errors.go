package fanout

import "github.com/cloudphone/media-service/media"

// ErrClosed is returned by Subscribe on a closed Stream.
var ErrClosed = media.ErrClosed
