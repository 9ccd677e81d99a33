#!/usr/bin/env bash
# Builds the Debian bookworm arm64 "board" image (systemd as PID 1) for the podman test
# bed, from Debian packages only: mmdebstrap (arm64 via qemu-user binfmt) -> podman import.
# ROCK5B_IMAGE_ARCH=amd64 builds the same recipe natively as localhost/rock5b-board-amd64,
# for the fleet benchmark's scale curve and the self-healing test (bench/build_amd64_image.sh):
# 25 arm64 boards under qemu-user would measure the emulator, not Ansible.
#
# Cached: the tag is a hash of this recipe (tools/image/*) and the lab's SSH public key,
# e.g. localhost/rock5b-board:3f2a...; localhost/rock5b-board:latest always points to the
# current recipe. Re-running with an unchanged recipe only re-tags (seconds). The tag is
# printed on stdout; everything else goes to stderr.
#
# Env: ROCK5B_CACHE (default /var/cache/rock5b-oom) holds the SSH key pair (ssh/) and the
#      downloaded .debs (apt/); ROCK5B_APT_MIRROR / ROCK5B_APT_SECURITY_MIRROR override the
#      mirrors found in the host's apt sources; ROCK5B_IMAGE_FORCE=1 rebuilds.
# Only bookworm: Debian 13's systemd 257 runs no unit in a container on these cgroup v1 hybrid
# hosts (it needs cgroup v2; every unit fails with Result=resources, ControlGroup empty), and
# under qemu-user its units' credential set-up (a fork with CLONE_NEWNS) fails too. Debian 13
# is tested in the VM test bed instead (tools/vm, VM_SUITE=trixie).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${ROCK5B_CACHE:-/var/cache/rock5b-oom}
arch=${ROCK5B_IMAGE_ARCH:-arm64}
case $arch in
    arm64) name=localhost/rock5b-board ;;
    amd64) name=localhost/rock5b-board-amd64 ;;
    *) echo "ROCK5B_IMAGE_ARCH=$arch: arm64 or amd64" >&2; exit 2 ;;
esac
suite=bookworm

log() { printf '[image] %s\n' "$*" >&2; }

# --- SSH key pair of the lab --------------------------------------------------------------
install -d -m 0700 "$cache/ssh"
if [ ! -s "$cache/ssh/id_ed25519" ]; then
    ssh-keygen -q -t ed25519 -N '' -C rock5b-oom-lab -f "$cache/ssh/id_ed25519"
    log "generated SSH key $cache/ssh/id_ed25519"
fi
pubkey=$(cat "$cache/ssh/id_ed25519.pub")

# --- recipe hash --------------------------------------------------------------------------
hash=$(
    cd "$here"
    {
        find . -type f ! -name '*~' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
        printf 'suite=%s\narch=%s\npubkey=%s\n' "$suite" "$arch" "$pubkey"
    } | sha256sum | cut -c1-16
)
tag="$name:$hash"

if [ "${ROCK5B_IMAGE_FORCE:-0}" != 1 ] && podman image exists "$tag"; then
    podman tag "$tag" "$name:latest"
    log "up to date: $tag (= $name:latest)"
    echo "$tag"
    exit 0
fi

# --- apt mirrors: whatever this host uses ----------------------------------------------
# shellcheck source=tools/apt_mirrors.sh
source "$here/../apt_mirrors.sh"
log "building $tag from $mirror, $security"

# --- qemu-user for a foreign architecture -----------------------------------------------
if ! arch-test "$arch" >/dev/null 2>&1; then
    echo "$arch binaries do not run here (binfmt_misc qemu-user): run tools/setup.sh" >&2
    exit 1
fi

# --- build ------------------------------------------------------------------------------------
start=$(date +%s)
work=$(mktemp -d /var/tmp/rock5b-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
debs="$cache/apt/$suite-$arch"
install -d "$debs"
include=$(grep -v '^\s*#' "$here/packages.txt" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')

# The .debs are kept in $debs between builds (sync-in/sync-out), so a recipe change
# rebuilds without downloading everything again (autoclean drops superseded versions).
export ROCK5B_IMAGE_PUBKEY="$pubkey"
mmdebstrap \
    --quiet \
    --architectures="$arch" \
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
    --customize-hook="'$here/customize.sh' \"\$1\"" \
    "$suite" "$work/rootfs.tar" \
    "deb $mirror $suite main" \
    "deb $mirror $suite-updates main" \
    "deb $security $suite-security main" >&2

previous=$(podman image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
podman import \
    --arch "$arch" --os linux \
    --change 'CMD ["/sbin/init"]' \
    --change 'ENV container=podman' \
    --change 'STOPSIGNAL 39' \
    --change "LABEL org.rock5b.recipe=$hash" \
    --message "rock5b board image, Debian $suite $arch, recipe $hash" \
    "$work/rootfs.tar" "$tag" >/dev/null
podman tag "$tag" "$name:latest"

# Drop the images of older recipes and the one a forced rebuild replaced (big, never used
# again); images still used by a container stay.
podman images --format '{{.Repository}}:{{.Tag}}' | grep "^$name:" |
    grep -vxF -e "$tag" -e "$name:latest" | xargs -r podman rmi >/dev/null 2>&1 || true
if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect -f '{{.Id}}' "$tag")" ]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
fi

log "built $tag (= $name:latest) in $(( $(date +%s) - start ))s"
echo "$tag"
