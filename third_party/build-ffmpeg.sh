#!/usr/bin/env bash
# Builds the pinned FFmpeg (7.1 line) and nv-codec-headers into a prefix
# cached outside the clone, keyed by the exact FFmpeg version and the
# configure flags. A second run, a second clone and CI on the same machine
# reuse the prefix.
#
# Usage:
#   third_party/build-ffmpeg.sh            build if needed, print the prefix
#   third_party/build-ffmpeg.sh --prefix   print a cached prefix (exit 1 if none)
#   third_party/build-ffmpeg.sh --flags    print the configure flags
#
# Sources, tried in order:
#   1. FFMPEG_TARBALL (and NVCODEC_TARBALL): local tarballs;
#   2. Debian trixie's source packages through apt-get source, with a private
#      sources list derived from this machine's apt sources (the system's apt
#      configuration is not touched);
#   3. the upstream release tarballs (Docker builds with internet access).
# SHA-256 is verified wherever the exact file is known: the pin in
# versions.env, or the checksum apt publishes for the version trixie lists.
#
# Environment:
#   FFMPEG_CACHE      cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/media-service)
#   FFMPEG_TARBALL    path to ffmpeg-7.1.x.tar.xz
#   NVCODEC_TARBALL   path to nv-codec-headers-12.1.x tarball
#   FFMPEG_JOBS       parallel make jobs (default: nproc)
#   FFMPEG_NVENC      1 (default) to build NVENC support, 0 to leave it out
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache=${FFMPEG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/media-service}
jobs=${FFMPEG_JOBS:-$(nproc)}
nvenc=${FFMPEG_NVENC:-1}

log() { echo "build-ffmpeg: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Only what the service uses: H.264 encoders (libx264, NVENC, QSV, VA-API),
# VP8 (libvpx), the h264/png/vp8 decoders and the h264 parser, the hardware
# H.264 decoders (NVDEC through h264_cuvid and the h264_nvdec hwaccel, the
# h264_vaapi hwaccel, h264_qsv), swscale, and the bitstream filters that split
# or rewrite H.264, and for recordings the mp4 muxer (fragmented MP4, with
# the mov muxer it selects), the webm muxer (VP8) and the file protocol.
# go-astiav links every FFmpeg library, so avformat, avdevice, avfilter and
# swresample are built too, with no other components. The
# hardware runtimes (libcuda/libnvcuvid, libva, libvpl's dispatcher) are
# dlopened or linked as on a machine without the hardware: the build needs
# only their headers (ffnvcodec) or development packages (libva, libvpl).
configure_flags() {
	local f=(
		--enable-shared --disable-static --enable-pic
		--enable-gpl --enable-version3
		--disable-programs --disable-doc --disable-debug --disable-postproc
		--disable-autodetect --disable-everything
		--disable-network
		--enable-swscale --enable-swresample
		--enable-avformat --enable-avdevice --enable-avfilter
		--enable-libx264 --enable-libvpx
		--enable-encoder=libx264,libvpx_vp8
		--enable-decoder=h264,png,vp8
		--enable-parser=h264,vp8
		--enable-bsf=h264_mp4toannexb,h264_metadata,extract_extradata,dump_extradata
		--enable-filter=scale,format,null,hwupload
		--enable-muxer=mp4,webm --enable-protocol=file
		--enable-zlib
		--enable-vaapi --enable-encoder=h264_vaapi --enable-hwaccel=h264_vaapi
		--enable-libvpl --enable-encoder=h264_qsv --enable-decoder=h264_qsv
	)
	if [ "$nvenc" = 1 ]; then
		f+=(--enable-ffnvcodec --enable-nvenc --enable-encoder=h264_nvenc
			--enable-cuvid --enable-decoder=h264_cuvid
			--enable-nvdec --enable-hwaccel=h264_nvdec)
	fi
	printf '%s\n' "${f[@]}"
}

flags_hash() { configure_flags | sha256sum | cut -c1-12; }

# complete_prefix echoes the newest finished prefix for the series and flags,
# preferring the pinned version.
complete_prefix() {
	local h p
	h=$(flags_hash)
	p="$cache/ffmpeg-$FFMPEG_VERSION-$h"
	if [ -f "$p/BUILDINFO" ]; then echo "$p"; return 0; fi
	for p in $(ls -d "$cache"/ffmpeg-"$FFMPEG_SERIES".*-"$h" 2>/dev/null | sort -Vr); do
		if [ -f "$p/BUILDINFO" ]; then echo "$p"; return 0; fi
	done
	return 1
}

case "${1:-}" in
--prefix) complete_prefix; exit $? ;;
--flags) configure_flags; exit 0 ;;
"") ;;
*) die "unknown argument $1 (want --prefix, --flags or nothing)" ;;
esac

if p=$(complete_prefix); then
	log "cached: $p"
	echo "$p"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ffmpeg-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

verify() { # file sha256
	local got
	got=$(sha256sum "$1" | cut -d' ' -f1)
	[ "$got" = "$2" ] || die "$1: sha256 $got, want $2"
	log "sha256 ok: $(basename "$1")"
}

ffmpeg_src="" ffmpeg_ver="" nvcodec_src="" nvcodec_ver="" origin=""

# 1. Local tarballs.
if [ -n "${FFMPEG_TARBALL:-}" ]; then
	[ -f "$FFMPEG_TARBALL" ] || die "FFMPEG_TARBALL=$FFMPEG_TARBALL does not exist"
	ffmpeg_ver=$(basename "$FFMPEG_TARBALL" | sed -nE 's/^ffmpeg[-_]([0-9.]+)(\.orig)?\.tar\..*/\1/p')
	[ -n "$ffmpeg_ver" ] || die "cannot read a version from $FFMPEG_TARBALL (want ffmpeg-7.1.x.tar.xz)"
	case "$ffmpeg_ver" in "$FFMPEG_SERIES".*) ;; *) die "FFMPEG_TARBALL is $ffmpeg_ver, want $FFMPEG_SERIES.x" ;; esac
	[ "$ffmpeg_ver" = "$FFMPEG_VERSION" ] && verify "$FFMPEG_TARBALL" "$FFMPEG_SHA256"
	ffmpeg_src=$FFMPEG_TARBALL origin="FFMPEG_TARBALL"
	if [ -n "${NVCODEC_TARBALL:-}" ]; then
		[ -f "$NVCODEC_TARBALL" ] || die "NVCODEC_TARBALL=$NVCODEC_TARBALL does not exist"
		nvcodec_src=$NVCODEC_TARBALL
		nvcodec_ver=$(basename "$NVCODEC_TARBALL" | sed -nE 's/^nv-codec-headers[-_]n?([0-9.]+)(\.orig)?\.tar\..*/\1/p')
		[ "$nvcodec_ver" = "$NVCODEC_VERSION" ] && verify "$NVCODEC_TARBALL" "$NVCODEC_SHA256"
	fi
fi

# 2. Debian trixie source packages.
apt_src() {
	command -v apt-get >/dev/null || return 1
	local uri
	uri=$( (grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
		grep -rhE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -oE 'https?://[^ ]+/debian/?( |$)') |
		grep -v security | head -n1 | tr -d ' ')
	[ -n "$uri" ] || { log "no Debian mirror in this machine's apt sources"; return 1; }
	local d="$work/apt"
	mkdir -p "$d/lists/partial" "$d/dl"
	echo "deb-src ${uri%/} trixie main" >"$d/sources.list"
	local o=(-o Dir::Etc::SourceList="$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::State::Lists="$d/lists" -o APT::Sandbox::User=root -qq)
	apt-get "${o[@]}" update >&2 || { log "apt-get update of trixie sources failed"; return 1; }
	local show ver sha
	show=$(apt-cache "${o[@]}" showsrc ffmpeg) || return 1
	ver=$(echo "$show" | sed -nE 's/^Version: ([0-9]+:)?([0-9.]+)-.*/\2/p' | sort -V | tail -n1)
	case "$ver" in "$FFMPEG_SERIES".*) ;; *) log "trixie lists ffmpeg $ver, want $FFMPEG_SERIES.x"; return 1 ;; esac
	sha=$(echo "$show" | sed -nE "s/^ ([0-9a-f]{64}) [0-9]+ ffmpeg_${ver//./\\.}\.orig\.tar\.xz$/\1/p" | head -n1)
	[ -n "$sha" ] || { log "no SHA-256 for ffmpeg_$ver.orig.tar.xz"; return 1; }
	# apt-get source may fail to fetch a .debian.tar.xz while the orig tarball
	# arrives: judge by the orig tarball and its checksum, not the exit status.
	(cd "$d/dl" && apt-get "${o[@]}" source --download-only "ffmpeg=$(echo "$show" | sed -nE "s/^Version: (([0-9]+:)?${ver//./\\.}-.*)/\1/p" | head -n1)" >&2) || true
	[ -f "$d/dl/ffmpeg_$ver.orig.tar.xz" ] || { log "ffmpeg_$ver.orig.tar.xz did not arrive"; return 1; }
	verify "$d/dl/ffmpeg_$ver.orig.tar.xz" "$sha"
	[ "$ver" = "$FFMPEG_VERSION" ] && verify "$d/dl/ffmpeg_$ver.orig.tar.xz" "$FFMPEG_SHA256"
	ffmpeg_src="$d/dl/ffmpeg_$ver.orig.tar.xz" ffmpeg_ver=$ver origin="debian trixie source package"

	if [ -z "$nvcodec_src" ] && [ "$nvenc" = 1 ]; then
		show=$(apt-cache "${o[@]}" showsrc nv-codec-headers) || return 1
		ver=$(echo "$show" | sed -nE 's/^Version: ([0-9]+:)?([0-9.]+)-.*/\2/p' | sort -V | tail -n1)
		case "$ver" in "$NVCODEC_SERIES".*) ;; *) log "trixie lists nv-codec-headers $ver, want $NVCODEC_SERIES.x"; return 1 ;; esac
		sha=$(echo "$show" | sed -nE "s/^ ([0-9a-f]{64}) [0-9]+ nv-codec-headers_${ver//./\\.}\.orig\.tar\.xz$/\1/p" | head -n1)
		(cd "$d/dl" && apt-get "${o[@]}" source --download-only nv-codec-headers >&2) || true
		[ -f "$d/dl/nv-codec-headers_$ver.orig.tar.xz" ] || { log "nv-codec-headers_$ver.orig.tar.xz did not arrive"; return 1; }
		verify "$d/dl/nv-codec-headers_$ver.orig.tar.xz" "$sha"
		nvcodec_src="$d/dl/nv-codec-headers_$ver.orig.tar.xz" nvcodec_ver=$ver
	fi
}

# 3. Upstream release tarballs.
upstream_src() {
	command -v curl >/dev/null || { log "curl missing"; return 1; }
	local d="$work/up"
	mkdir -p "$d"
	if [ -z "$ffmpeg_src" ]; then
		curl -fsSL --retry 3 -o "$d/ffmpeg-$FFMPEG_VERSION.tar.xz" \
			"https://ffmpeg.org/releases/ffmpeg-$FFMPEG_VERSION.tar.xz" || return 1
		verify "$d/ffmpeg-$FFMPEG_VERSION.tar.xz" "$FFMPEG_SHA256"
		ffmpeg_src="$d/ffmpeg-$FFMPEG_VERSION.tar.xz" ffmpeg_ver=$FFMPEG_VERSION origin="upstream release tarball"
	fi
	if [ -z "$nvcodec_src" ] && [ "$nvenc" = 1 ]; then
		# GitHub's release archive is not byte-identical to Debian's orig
		# tarball, so no pinned checksum applies to it.
		curl -fsSL --retry 3 -o "$d/nv-codec-headers-$NVCODEC_VERSION.tar.gz" \
			"https://github.com/FFmpeg/nv-codec-headers/releases/download/n$NVCODEC_VERSION/nv-codec-headers-$NVCODEC_VERSION.tar.gz" || return 1
		nvcodec_src="$d/nv-codec-headers-$NVCODEC_VERSION.tar.gz" nvcodec_ver=$NVCODEC_VERSION
	fi
}

if [ -z "$ffmpeg_src" ] || { [ -z "$nvcodec_src" ] && [ "$nvenc" = 1 ]; }; then
	apt_src || { log "Debian source packages unavailable; trying upstream"; upstream_src; } ||
		die "no FFmpeg source: set FFMPEG_TARBALL, or reach Debian's or FFmpeg's servers"
fi

prefix="$cache/ffmpeg-$ffmpeg_ver-$(flags_hash)"
if [ -f "$prefix/BUILDINFO" ]; then
	log "cached: $prefix"
	echo "$prefix"
	exit 0
fi
log "building FFmpeg $ffmpeg_ver ($origin) into $prefix with $jobs jobs"
mkdir -p "$cache"
staging="$prefix.partial.$$"
rm -rf "$staging"

if [ "$nvenc" = 1 ]; then
	mkdir -p "$work/nv"
	tar -xf "$nvcodec_src" -C "$work/nv" --strip-components=1
	make -C "$work/nv" PREFIX="$prefix" DESTDIR="$staging/destdir" install >&2
fi

mkdir -p "$work/ffmpeg"
tar -xf "$ffmpeg_src" -C "$work/ffmpeg" --strip-components=1
mapfile -t flags < <(configure_flags)
(
	cd "$work/ffmpeg"
	# nv-codec-headers are found through the staging tree's pkg-config file,
	# which names the final prefix; point pkg-config at it explicitly.
	export PKG_CONFIG_PATH="$staging/destdir$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
	export PKG_CONFIG_SYSROOT_DIR=""
	./configure --prefix="$prefix" "${flags[@]}" \
		--extra-cflags="-I$staging/destdir$prefix/include" \
		--extra-ldflags="-Wl,-rpath,$prefix/lib" >"$work/configure.log" 2>&1 ||
		{ tail -n 40 "$work/ffbuild/config.log" "$work/configure.log" >&2 2>/dev/null; tail -n 40 ffbuild/config.log >&2; die "configure failed"; }
	make -j"$jobs" >"$work/make.log" 2>&1 || { tail -n 40 "$work/make.log" >&2; die "make failed"; }
	make install DESTDIR="$staging/destdir" >"$work/install.log" 2>&1 || { tail -n 40 "$work/install.log" >&2; die "make install failed"; }
)
# Move the staged tree into place at once, so an interrupted build never
# leaves a prefix that looks complete.
mkdir -p "$prefix.tmp.$$"
cp -a "$staging/destdir$prefix/." "$prefix.tmp.$$/"
{
	echo "ffmpeg_version=$ffmpeg_ver"
	echo "ffmpeg_source=$origin"
	echo "ffmpeg_sha256=$(sha256sum "$ffmpeg_src" | cut -d' ' -f1)"
	[ "$nvenc" = 1 ] && echo "nv_codec_headers_version=$nvcodec_ver"
	echo "flags_hash=$(flags_hash)"
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "configure:"
	configure_flags | sed 's/^/  /'
} >"$prefix.tmp.$$/BUILDINFO"
rm -rf "$prefix" "$staging"
mv "$prefix.tmp.$$" "$prefix"
log "done: $prefix"
echo "$prefix"
