#!/usr/bin/env bash
# Builds a native amd64 variant of the lab's board image, for the benchmark's scale curve
# (25 arm64 boards under qemu-user measure the emulator, not Ansible).
#
# Same recipe as tools/image/build.sh (tools/image/packages.txt and customize.sh, the lab's SSH
# key), only --architectures=amd64 and no qemu. Cached: the tag is a hash of that recipe and
# this script, localhost/rock5b-board-amd64:<hash>; :latest points at the current one.
#
# Env: ROCK5B_CACHE (default /var/cache/rock5b-oom), ROCK5B_APT_MIRROR, ROCK5B_IMAGE_FORCE=1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
recipe=$here/../tools/image
cache=${ROCK5B_CACHE:-/var/cache/rock5b-oom}
name=localhost/rock5b-board-amd64
suite=bookworm

log() { printf '[bench-image] %s\n' "$*" >&2; }

if [ ! -s "$cache/ssh/id_ed25519.pub" ]; then
    echo "no lab SSH key in $cache/ssh: run tools/image/build.sh (make image) first" >&2
    exit 1
fi
pubkey=$(cat "$cache/ssh/id_ed25519.pub")

hash=$(
    {
        (cd "$recipe" && find . -type f ! -name '*~' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
        sha256sum < "$here/build_amd64_image.sh"
        printf 'suite=%s\narch=amd64\npubkey=%s\n' "$suite" "$pubkey"
    } | sha256sum | cut -c1-16
)
tag="$name:$hash"

if [ "${ROCK5B_IMAGE_FORCE:-0}" != 1 ] && podman image exists "$tag"; then
    podman tag "$tag" "$name:latest"
    log "up to date: $tag"
    echo "$tag"
    exit 0
fi

mirror=${ROCK5B_APT_MIRROR:-}
if [ -z "$mirror" ]; then
    mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
        head -n1 | tr -d ' ' | sed 's:/$::' || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
security=${mirror%/debian}/debian-security
[ -n "${ROCK5B_APT_SECURITY_MIRROR:-}" ] && security=$ROCK5B_APT_SECURITY_MIRROR
log "building $tag from $mirror"

start=$(date +%s)
work=$(mktemp -d /var/tmp/rock5b-image-amd64.XXXXXX)
trap 'rm -rf "$work"' EXIT
debs="$cache/apt/$suite-amd64"
install -d "$debs"
include=$(grep -v '^\s*#' "$recipe/packages.txt" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')

export ROCK5B_IMAGE_PUBKEY="$pubkey"
mmdebstrap \
    --quiet \
    --architectures=amd64 \
    --variant=apt \
    --include="$include" \
    --aptopt='Acquire::Retries "3"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --skip=essential/unlink \
    --skip=download/empty \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
    --setup-hook="sync-in '$debs' /var/cache/apt/archives/" \
    --customize-hook='chroot "$1" apt-get -qq autoclean' \
    --customize-hook="sync-out /var/cache/apt/archives '$debs'" \
    --customize-hook="'$recipe/customize.sh' \"\$1\"" \
    "$suite" "$work/rootfs.tar" \
    "deb $mirror $suite main" \
    "deb $mirror $suite-updates main" \
    "deb $security $suite-security main" >&2

podman import \
    --arch amd64 --os linux \
    --change 'CMD ["/sbin/init"]' \
    --change 'ENV container=podman' \
    --change 'STOPSIGNAL 39' \
    --change "LABEL org.rock5b.recipe=$hash" \
    --message "rock5b board image (bench), Debian $suite amd64, recipe $hash" \
    "$work/rootfs.tar" "$tag" >/dev/null
podman tag "$tag" "$name:latest"
# Older bench images (not used by a container) go.
podman images --format '{{.Repository}}:{{.Tag}}' | grep "^$name:" |
    grep -vxF -e "$tag" -e "$name:latest" | xargs -r podman rmi >/dev/null 2>&1 || true
log "built $tag in $(( $(date +%s) - start ))s"
echo "$tag"
