#!/usr/bin/env bash
# Runs a command with the pinned FFmpeg visible to cgo: builds the FFmpeg
# prefix if the cache lacks it, then sets PKG_CONFIG_PATH for go-astiav and
# an rpath so that binaries and test binaries run without LD_LIBRARY_PATH.
#
# Usage: third_party/with-ffmpeg.sh go test ./...
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=$("$here/build-ffmpeg.sh")
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export CGO_LDFLAGS="-Wl,-rpath,$prefix/lib${CGO_LDFLAGS:+ $CGO_LDFLAGS}"
export CGO_ENABLED=1
exec "$@"
