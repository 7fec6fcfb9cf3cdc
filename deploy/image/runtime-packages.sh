#!/usr/bin/env bash
# Prints, one per line, the Debian packages that own the shared libraries
# the given ELF files link against (ldd, then dpkg -S), leaving out what
# the files' own directories provide. The images' build stage runs it so
# that the runtime stage installs exactly those packages, whatever the base
# (Debian's libvpx7 is Ubuntu 24.04's libvpx9).
#
# Usage: deploy/image/runtime-packages.sh FILE...
set -euo pipefail

owner() { # library path -> package, trying the path as ldd gives it, its
	# real path, and each with and without the /usr prefix (merged /usr)
	local p c pkg
	for p in "$1" "$(readlink -f "$1")"; do
		for c in "$p" "/usr$p" "${p#/usr}"; do
			pkg=$(dpkg -S "$c" 2>/dev/null | head -n1 | cut -d: -f1) || true
			[ -n "$pkg" ] && { echo "$pkg"; return 0; }
		done
	done
	echo "runtime-packages: no package owns $1" >&2
	return 1
}

dirs=()
for f in "$@"; do dirs+=("$(dirname "$(readlink -f "$f")")"); done
ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
	while read -r lib; do
		for d in "${dirs[@]}"; do [ "$(dirname "$(readlink -f "$lib")")" = "$d" ] && continue 2; done
		owner "$lib"
	done | sort -u
