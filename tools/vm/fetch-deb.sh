#!/usr/bin/env bash
# Prints the path of Debian's arm64 .deb of a package, downloaded once into
# ${ROCK5B_CACHE}/debs and checked against the release's signed-by-mirror Packages index
# (SHA256). For tools the benchmark and the fault tests put on a VM without rebuilding its
# image (earlyoom, dosfstools).
#
#   tools/vm/fetch-deb.sh <package> [release]        (release: bookworm by default)
set -euo pipefail
package=${1:?usage: fetch-deb.sh <package> [release]}
release=${2:-bookworm}
cache="${ROCK5B_CACHE:-/var/cache/rock5b-oom}/debs"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$cache"
index="$cache/Packages-$release-arm64.xz"
if ! [[ -s $index ]]; then
    curl -fsSL -o "$index.tmp" "$mirror/dists/$release/main/binary-arm64/Packages.xz"
    mv "$index.tmp" "$index"
fi
# awk reads to the end (no early exit): xz killed by SIGPIPE would fail the pipeline.
stanza=$(xz -dc "$index" | awk -v want="Package: $package" '$0 == want && !done {p=1} p && /^$/ {p=0; done=1} p')
file=$(awk '/^Filename:/ {print $2}' <<<"$stanza")
sum=$(awk '/^SHA256:/ {print $2}' <<<"$stanza")
[[ -n $file && -n $sum ]] || { echo "fetch-deb: no arm64 package $package in $release" >&2; exit 1; }
deb="$cache/$(basename "$file")"
[[ -s $deb ]] || curl -fsSL -o "$deb" "$mirror/$file"
echo "$sum  $deb" | sha256sum -c --quiet - >&2 || { rm -f "$deb"; echo "fetch-deb: checksum mismatch: $deb" >&2; exit 1; }
echo "$deb"
