#!/usr/bin/env bash
# Builds the execution environment localhost/rock5b-oom-ee (execution-environment.yml) with
# ansible-builder and podman, on the locally built Debian base (tools/ee/base.sh), from the
# collection tarball `ansible-galaxy collection build` makes of this working tree.
# Prints the image name on stdout; the build log goes to .cache/ee/build.log.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
[ -n "${ROCK5B_ROOT:-}" ] || source tools/env.sh
image=localhost/rock5b-oom-ee
work=$repo/.cache/ee
log() { printf '[ee] %s\n' "$*" >&2; }

start=$(date +%s)
base=$(bash tools/ee/base.sh)

# The collection as users install it: built with galaxy.yml's build_ignore, at the fixed
# name execution-environment.yml expects.
rm -rf "$work/collection" "$work/context"
mkdir -p "$work/collection"
ansible-galaxy collection build --force --output-path "$work/collection" . >/dev/null
tarball=$(ls "$work"/collection/rock5b-oom-*.tar.gz)
version=$(basename "$tarball" .tar.gz)
version=${version#rock5b-oom-}
mv "$tarball" "$work/collection/rock5b-oom.tar.gz"
log "collection $version built; building $image:$version on $base"

if ! ansible-builder build -f execution-environment.yml --context "$work/context" \
        --container-runtime podman -v 3 \
        -t "$image:$version" -t "$image:latest" \
        --build-arg EE_BASE_IMAGE="$base" \
        --build-arg PKGMGR=/usr/local/sbin/ee-pkgmgr \
        --build-arg PYCMD=/opt/ee-python/bin/python3 \
        --build-arg PYPKG=python3 >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    log "ansible-builder failed; full log: $work/build.log"
    exit 1
fi
log "built $image:$version in $(( $(date +%s) - start ))s ($(podman image inspect -f '{{.Size}}' "$image:$version" | numfmt --to=iec) )"
echo "$image:$version"
