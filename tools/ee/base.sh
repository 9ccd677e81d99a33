#!/usr/bin/env bash
# Builds localhost/rock5b-ee-base: the base image of the execution environment when no
# container registry is reachable (here). Debian bookworm for this host's architecture, from
# Debian packages (mmdebstrap), with what ansible-builder's scripts expect of a base: a
# Python whose ensurepip works (Debian's system python3 refuses ensurepip, so the EE's Python
# is a venv, /opt/ee-python, first on PATH: build with PYCMD=/opt/ee-python/bin/python3) and a
# $PKGMGR (tools/ee/ee-pkgmgr, since those scripts speak dnf).
# Real users build on the definition's default base instead (execution-environment.yml).
#
# The image trusts the certificate authorities this host added to its own trust store
# (/usr/local/share/ca-certificates): pip inside the EE build reaches PyPI through the same
# network as the host's pip.
#
# Cached by recipe hash (this directory + the host's added CAs); prints the tag on stdout.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${ROCK5B_CACHE:-/var/cache/rock5b-oom}
name=localhost/rock5b-ee-base
suite=bookworm
arch=$(dpkg --print-architecture)
log() { printf '[ee-base] %s\n' "$*" >&2; }

extra_cas=()
for ca in /usr/local/share/ca-certificates/*.crt; do [ -f "$ca" ] && extra_cas+=("$ca"); done

hash=$(
    {
        # contents only, not paths: every clone shares the cached image
        (cd "$here" && sha256sum base.sh ee-pkgmgr)
        [ "${#extra_cas[@]}" -eq 0 ] || cat "${extra_cas[@]}" | sha256sum
        printf 'suite=%s\narch=%s\n' "$suite" "$arch"
    } | sha256sum | cut -c1-16
)
tag="$name:$hash"
if [ "${ROCK5B_IMAGE_FORCE:-0}" != 1 ] && podman image exists "$tag"; then
    podman tag "$tag" "$name:latest"
    log "up to date: $tag"
    echo "$tag"
    exit 0
fi

# shellcheck source=tools/apt_mirrors.sh
source "$here/../apt_mirrors.sh"
start=$(date +%s)
work=$(mktemp -d /var/tmp/rock5b-ee-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
debs="$cache/apt/$suite-$arch-ee"
install -d "$debs" "$work/cas"
[ "${#extra_cas[@]}" -eq 0 ] || cp "${extra_cas[@]}" "$work/cas/"
log "building $tag from $mirror"
mmdebstrap \
    --quiet \
    --variant=apt \
    --include=python3,python3-venv,openssh-client,ca-certificates \
    --aptopt='Acquire::Retries "3"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --skip=download/empty \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
    --setup-hook="sync-in '$debs' /var/cache/apt/archives/" \
    --customize-hook='chroot "$1" apt-get -qq autoclean' \
    --customize-hook="sync-out /var/cache/apt/archives '$debs'" \
    --customize-hook="upload '$here/ee-pkgmgr' /usr/local/sbin/ee-pkgmgr" \
    --customize-hook='chmod 0755 "$1"/usr/local/sbin/ee-pkgmgr' \
    --customize-hook="copy-in '$work/cas' /usr/local/share/ca-certificates/" \
    --customize-hook='mv "$1"/usr/local/share/ca-certificates/cas/* "$1"/usr/local/share/ca-certificates/ 2>/dev/null || true; rmdir "$1"/usr/local/share/ca-certificates/cas' \
    --customize-hook='chroot "$1" update-ca-certificates >/dev/null' \
    --customize-hook='chroot "$1" python3 -m venv /opt/ee-python' \
    --customize-hook='chroot "$1" apt-get clean; rm -rf "$1"/var/lib/apt/lists/*' \
    "$suite" "$work/rootfs.tar" \
    "deb $mirror $suite main" \
    "deb $mirror $suite-updates main" \
    "deb $security $suite-security main" >&2
podman import --arch "$arch" --os linux \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/opt/ee-python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL org.rock5b.recipe=$hash" \
    --message "rock5b.oom EE base, Debian $suite $arch, recipe $hash" \
    "$work/rootfs.tar" "$tag" >/dev/null
podman tag "$tag" "$name:latest"
podman images --format '{{.Repository}}:{{.Tag}}' | grep "^$name:" |
    grep -vxF -e "$tag" -e "$name:latest" | xargs -r podman rmi >/dev/null 2>&1 || true
log "built $tag in $(( $(date +%s) - start ))s"
echo "$tag"
