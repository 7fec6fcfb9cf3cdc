#!/usr/bin/env bash
# Assembles the on-device agent from smali/ into media-agent.dex (or into
# the file named by the first argument): smali assemble -a 21, so that
# Android 5 (API 21) and later load it. The dex is committed and embedded
# by go:embed, so building the service never needs Java; run this (make
# agent) after editing smali/, and commit the result. TestDexIsFresh runs
# it too, into a temporary file, and fails when the committed dex differs.
#
# The build is deterministic: one thread (-j 1: with several, smali may
# lay the classes out in another order from one run to the next), and it
# assembles twice and fails unless both give the same bytes.
#
# Needs smali (Debian: libsmali-java).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/media-agent.dex}

command -v smali >/dev/null || {
	echo "build.sh: smali not found (Debian: apt-get install libsmali-java)" >&2
	exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in 1 2; do
	smali assemble -j 1 -a 21 -o "$tmp/$i.dex" "$here/smali"
done
cmp -s "$tmp/1.dex" "$tmp/2.dex" || {
	echo "build.sh: two builds of smali/ differ: the dex would not be reproducible" >&2
	exit 1
}
mv "$tmp/1.dex" "$out"
