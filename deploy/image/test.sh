#!/usr/bin/env bash
# Runs the image deploy/image/build.sh built, with podman on this host (no
# Docker engine): the version, GET /health (from the host and through the
# image's own health check), and a session from bin/devicesim through the
# container to a Pion viewer (deploy/image/viewer) that must receive
# frames. The container shares the host's network (--network=host), so the
# service reaches an adb server and a devicesim started here on free
# ports, and the viewer reaches its single UDP port. `make image-test` runs
# it as root after `make image`.
#
# Usage: deploy/image/test.sh [IMAGE]   (default localhost/media-service:$VERSION)
#
# Environment: VERSION (default: git describe), FRAMES (default 60),
# CAPTURE_MODE, VIDEO_ENCODER_TYPE (passed to the container when set).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
log() { echo "image-test: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

version=${VERSION:-$(git -C "$repo" describe --always --dirty 2>/dev/null || echo dev)}
image=${1:-${IMAGE:-localhost/media-service:$version}}
frames=${FRAMES:-60}
# This host (a container itself: cgroup v1 with an empty unified
# hierarchy, limits it may not raise) needs two changes to podman's
# defaults: no default ulimits (crun and runc fail to set RLIMIT_NOFILE),
# and runc (crun refuses cgroups in hybrid mode). Both are set for these
# runs only: a containers.conf of our own, and --runtime runc.
command -v runc >/dev/null || apt-get install -y -q runc >/dev/null || die "runc is missing: apt-get install runc"
conf=$(mktemp)
printf '[containers]\ndefault_ulimits = []\n' >"$conf"
export CONTAINERS_CONF=$conf
podman=(podman --cgroup-manager=cgroupfs --runtime runc)

[ "$(id -u)" = 0 ] || die "run as root (podman with the root storage build.sh wrote)"
command -v adb >/dev/null || die "adb is missing (Debian package adb)"
"${podman[@]}" image exists "$image" || die "no image $image: run make image"

tmp=$(mktemp -d)
name=media-service-test-$$
pids=()
cleanup() {
	"${podman[@]}" rm -f -t 5 "$name" >/dev/null 2>&1 || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp" "$conf"
}
trap cleanup EXIT

# free_port prints a port free for TCP and UDP on this host.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 30000))
		ss -Htuln "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
	die "no free port"
}

wait_for() { # seconds, description, command...
	local n=$1 what=$2
	shift 2
	for _ in $(seq $((n * 5))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	die "$what: not after ${n}s"
}

t0=$SECONDS
log "1. version"
"${podman[@]}" run --rm --network=host "$image" version | tee "$tmp/version" >&2
grep -q "^media-service " "$tmp/version" || die "version: no 'media-service' line"
grep -q "^FFmpeg 7\.1" "$tmp/version" || die "version: FFmpeg 7.1 not linked"
grep -q "libx264" "$tmp/version" || die "version: no libx264 encoder"

log "building bin/devicesim and the viewer"
make -C "$repo" --no-print-directory build >&2
(cd "$repo" && go build -o "$tmp/viewer" ./deploy/image/viewer)

adb_port=$(free_port)
sim_port=$(free_port)
svc_port=$(free_port)
mkdir -p "$tmp/home"
HOME=$tmp/home adb -P "$adb_port" nodaemon server >"$tmp/adb.log" 2>&1 &
pids+=($!)
"$repo/bin/devicesim" --addr "127.0.0.1:$sim_port" >"$tmp/devicesim.log" 2>&1 &
pids+=($!)
wait_for 20 "adb server on $adb_port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$adb_port"
wait_for 20 "devicesim on $sim_port" bash -c "exec 3<>/dev/tcp/127.0.0.1/$sim_port"
log "adb server on $adb_port, devicesim on $sim_port, the service on $svc_port (tcp and udp)"

env=(-e PORT="$svc_port" -e ADB_SERVER="127.0.0.1:$adb_port" -e ADB_DEVICES="127.0.0.1:$sim_port"
	-e AUTH_DISABLED=true -e LOG_LEVEL=info)
[ -n "${CAPTURE_MODE:-}" ] && env+=(-e CAPTURE_MODE="$CAPTURE_MODE")
[ -n "${VIDEO_ENCODER_TYPE:-}" ] && env+=(-e VIDEO_ENCODER_TYPE="$VIDEO_ENCODER_TYPE")
# --health-interval=disable: no systemd timer (this host's podman runs
# with cgroupfs); `podman healthcheck run` below runs the image's check.
"${podman[@]}" run -d --name "$name" --network=host --health-interval=disable "${env[@]}" "$image" >/dev/null
base=http://127.0.0.1:$svc_port

log "2. GET /health"
wait_for 30 "GET $base/health" curl -fsS "$base/health"
curl -fsS "$base/health" >&2
echo >&2
"${podman[@]}" healthcheck run "$name" >&2 || die "the image's HEALTHCHECK (media-service healthcheck) failed"
log "the image's HEALTHCHECK passes"

log "3. a devicesim session to a Pion viewer ($frames frames)"
device=127.0.0.1:$sim_port
devices_online() { curl -fsS "$base/api/media/devices" | grep -q "\"$device\""; }
wait_for 60 "device $device listed by GET /api/media/devices" devices_online
t1=$SECONDS
if ! "$tmp/viewer" -url "$base" -device "$device" -frames "$frames" -timeout 90s >&2; then
	log "the container's log:"
	"${podman[@]}" logs --tail 60 "$name" >&2 || true
	die "the viewer received no $frames frames"
fi
curl -fsS "$base/api/media/stats" >"$tmp/stats" && log "stats: $(head -c 600 "$tmp/stats")"
log "PASS: version, /health, HEALTHCHECK and a session of $frames frames ($((SECONDS - t1)) s for the session, $((SECONDS - t0)) s in all)"
