#!/usr/bin/env bash
# Builds the CPU image (Dockerfile) with buildah on a Debian host with no
# Docker engine and no image registry: the base image is made here with
# debootstrap (bookworm, minbase) from the Debian mirror this machine's apt
# uses, and cached. `make image` runs it as root.
#
# Usage: deploy/image/build.sh [--base-only]
#
# Environment:
#   IMAGE      the tag (default localhost/media-service:$VERSION)
#   VERSION    the version baked into the binary (default: git describe)
#   DOCKERFILE default Dockerfile (the CPU one); Dockerfile.cuda needs a
#              registry with the CUDA base images, which this host lacks
#   BASE_IMAGE use this base instead of making one (skips debootstrap)
#   GOPROXY    the Go module proxy for the build (default: go env GOPROXY)
#   CA_CERTIFICATES  the CA bundle the build's downloads trust (default:
#              this host's, /etc/ssl/certs/ca-certificates.crt, so that a
#              TLS-inspecting proxy this host trusts is trusted there too);
#              a build secret, in no layer
#
# Needs: buildah, podman, debootstrap (Debian packages), root. The rootfs
# tarball is cached in ${XDG_CACHE_HOME:-~/.cache}/media-service/image and
# imported into containers-storage once; later runs reuse both, and
# buildah's --layers reuses the FFmpeg and Go module layers while
# third_party/, go.mod and go.sum are unchanged.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
log() { echo "image: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (buildah --isolation chroot and debootstrap need it)"
for p in buildah podman debootstrap; do
	command -v "$p" >/dev/null || die "$p is missing: apt-get install buildah podman debootstrap"
done

suite=bookworm
cache=${XDG_CACHE_HOME:-$HOME/.cache}/media-service/image

# mirror prints the Debian mirror apt uses for $suite (its main archive,
# not security or updates), from apt's own configuration.
mirror() {
	apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
		awk -v s="$suite" '$2 == s { print $1; exit }'
}

# make_base imports (making it first if the cache lacks it) the minbase
# rootfs as $base.
make_base() {
	local m tag tarball root
	m=$(mirror)
	[ -n "$m" ] || die "no $suite archive in this machine's apt sources (apt-get indextargets)"
	tag=$(printf '%s' "$m" | sha256sum | cut -c1-8)
	base=localhost/debian-$suite-minbase:$tag
	if podman image exists "$base"; then
		log "base: $base (in containers-storage)"
		return
	fi
	tarball=$cache/debian-$suite-minbase-$tag.tar
	if [ ! -f "$tarball" ]; then
		mkdir -p "$cache"
		root=$(mktemp -d "$cache/rootfs.XXXXXX")
		log "debootstrap --variant=minbase $suite from $m"
		local t0=$SECONDS
		debootstrap --variant=minbase "$suite" "$root" "$m" >"$cache/debootstrap.log" 2>&1 ||
			{ tail -n 30 "$cache/debootstrap.log" >&2; rm -rf "$root"; die "debootstrap failed"; }
		# debootstrap wrote "deb $m $suite main" to the rootfs's sources.list:
		# build-ffmpeg.sh derives its private trixie deb-src list from it.
		# Add the matching deb-src line for bookworm too, for apt-get source.
		echo "deb-src $m $suite main" >>"$root/etc/apt/sources.list"
		rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
		tar --numeric-owner -C "$root" -cf "$tarball.partial" .
		mv "$tarball.partial" "$tarball"
		rm -rf "$root"
		log "rootfs: $tarball ($(du -h "$tarball" | cut -f1), $((SECONDS - t0)) s)"
	fi
	podman import -q \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["bash"]' "$tarball" "$base" >/dev/null
	log "base: $base (imported from $tarball)"
}

base=${BASE_IMAGE:-}
[ -n "$base" ] || make_base
[ "${1:-}" = --base-only ] && { echo "$base"; exit 0; }

version=${VERSION:-$(git -C "$repo" describe --always --dirty 2>/dev/null || echo dev)}
image=${IMAGE:-localhost/media-service:$version}
proxy=${GOPROXY:-$(go env GOPROXY 2>/dev/null || true)}
case "$proxy" in http*) ;; *) die "no Go module proxy (GOPROXY='$proxy'): the build fetches Go and the modules through one" ;; esac

log "building $image from ${DOCKERFILE:-Dockerfile} on $base"
t0=$SECONDS
buildah bud --isolation chroot --network host --layers --format docker \
	--build-arg BUILD_IMAGE="$base" --build-arg RUNTIME_IMAGE="$base" \
	--build-arg GOPROXY="$proxy" --build-arg VERSION="$version" \
	--build-arg FFMPEG_JOBS="$(nproc)" \
	--secret id=ca-certificates,src="${CA_CERTIFICATES:-/etc/ssl/certs/ca-certificates.crt}" \
	-f "$repo/${DOCKERFILE:-Dockerfile}" -t "$image" "$repo" >&2
log "built $image in $((SECONDS - t0)) s, $(podman image inspect --format '{{.Size}}' "$image" | numfmt --to=iec) uncompressed"
echo "$image"
