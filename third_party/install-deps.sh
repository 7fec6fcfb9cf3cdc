#!/usr/bin/env bash
# Installs what building, running or testing the service needs on Debian 12
# (or Ubuntu): Debian packages and, where none is present, the pinned Go
# toolchain. Idempotent: it installs only what is missing, and calls
# apt-get update at most once.
#
# Usage: third_party/install-deps.sh build|run|test
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

log() { echo "install-deps: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Build: a C toolchain and the libraries FFmpeg is configured with.
build_pkgs=(gcc libc6-dev make pkg-config nasm xz-utils curl ca-certificates unzip git
	libx264-dev libvpx-dev libva-dev libvpl-dev zlib1g-dev)
# Test: the ffmpeg program (oracle and benchmark baseline), the real adb
# server, Chromium for the viewer page's end-to-end test, and prometheus
# for promtool, which checks and unit-tests the alert rules in deploy/.
# The input agent (agent/): smali, dexdump, enjarify and a JDK. coturn
# (turnserver) for the viewer's relay-only test with TURN_SECRET.
test_pkgs=(ffmpeg adb chromium prometheus libsmali-java dexdump enjarify openjdk-17-jdk-headless coturn)

case "${1:-}" in
build) pkgs=("${build_pkgs[@]}") ;;
run) pkgs=("${build_pkgs[@]}" adb) ;;
test) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
*) die "usage: $0 build|run|test" ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || die "missing packages (${missing[*]}); run as root or install them"
		sudo=sudo
	fi
	log "installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Go: keep a toolchain that is new enough, else install the pinned one.
gobin=$(command -v go || true)
[ -z "$gobin" ] && [ -x /usr/local/go/bin/go ] && gobin=/usr/local/go/bin/go
need=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$here/../go.mod")
have=""
[ -n "$gobin" ] && have=$("$gobin" env GOVERSION 2>/dev/null | sed 's/^go//')
if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
	# The module proxy comes from the Go toolchain's own configuration
	# (GOPROXY, or "go env GOPROXY" of an older Go on the PATH); this
	# script names none.
	proxy=${GOPROXY:-$(${gobin:-false} env GOPROXY 2>/dev/null || true)}
	proxy=$(printf '%s' "$proxy" | tr '|' ',' | cut -d, -f1)
	case "$proxy" in
	http*) ;;
	*) die "Go $need or newer is needed and no Go module proxy is configured to fetch it from (found GOPROXY='${proxy:-}'): install Go, or set GOPROXY to a proxy URL" ;;
	esac
	zip="v0.0.1-go$GO_VERSION.linux-$(dpkg --print-architecture).zip"
	log "installing Go $GO_VERSION into /usr/local/go (found: ${have:-none}, need >= $need)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	curl -fsSL --retry 3 -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/$zip" || die "download Go toolchain $zip from $proxy"
	unzip -q "$tmp/go.zip" -d "$tmp"
	[ "$(id -u)" = 0 ] || die "installing Go into /usr/local/go needs root"
	rm -rf /usr/local/go
	mv "$tmp"/golang.org/toolchain@*/ /usr/local/go
	/usr/local/go/bin/go version >&2
fi
