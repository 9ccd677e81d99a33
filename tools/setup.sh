#!/usr/bin/env bash
# Prepares this machine (Debian 12, as root) for the rock5b.oom test bed. Idempotent and
# fast when nothing changed: every step checks before it acts.
#   1. Debian packages (podman, qemu-user/-system, mmdebstrap, promtool, chromium, ...); the
#      prometheus server Debian's package would start is kept stopped and disabled
#   2. binfmt_misc with the qemu-aarch64 handler (F flag, so it works inside containers)
#   3. .venv with requirements-dev.txt (reinstalled only when that file changes)
#   4. containers.podman, ansible.posix, community.general taken from PyPI's `ansible`
#      package into .cache/collections, and .cache/collections/.../rock5b/oom -> repo
# Env: ROCK5B_CACHE (default /var/cache/rock5b-oom) keeps downloads across clones.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${ROCK5B_CACHE:-/var/cache/rock5b-oom}
# PyPI's `ansible` release whose bundled collections are used (12.x goes with core 2.19).
ANSIBLE_BUNDLE=12.3.0
COLLECTIONS=(containers/podman ansible/posix community/general)

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    echo "tools/setup.sh must run as root (apt, binfmt_misc, rootful podman)" >&2
    exit 1
fi

# --- 1. Debian packages ---------------------------------------------------------------------
pkgs=(
    podman runc conmon containernetworking-plugins iptables catatonit
    fuse-overlayfs slirp4netns uidmap
    qemu-user-static binfmt-support arch-test mmdebstrap
    qemu-system-arm qemu-utils e2fsprogs kmod cpio
    openssh-client rsync zstd xz-utils git make ca-certificates shellcheck
    python3 python3-venv
    # promtool (tests/unit/test_prometheus_rules.py) comes with Debian's prometheus package;
    # chromium renders the fleet report page in its browser test.
    prometheus chromium
)
missing=()
for pkg in "${pkgs[@]}"; do
    dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # apt-get update only when the lists are missing or the install fails on stale lists.
    aptlog=$(mktemp)
    run_apt() { "$@" >>"$aptlog" 2>&1 || { cat "$aptlog" >&2; rm -f "$aptlog"; return 1; }; }
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        run_apt apt-get update
    fi
    # Only promtool is wanted from `prometheus`: a test host runs no Prometheus server. Its
    # postinst starts the service through invoke-rc.d, which asks policy-rc.d first; without a
    # policy of the host's own, a temporary one refuses that start (and only that one).
    policy=/usr/sbin/policy-rc.d
    if [[ " ${missing[*]} " == *" prometheus "* && ! -e "$policy" ]]; then
        # shellcheck disable=SC2016  # $1 is policy-rc.d's argument, written as is
        printf '#!/bin/sh\n# tools/setup.sh: no prometheus server on a test host\n[ "$1" = prometheus ] && exit 101\nexit 0\n' >"$policy"
        chmod 0755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    if ! run_apt apt-get install -y --no-install-recommends "${missing[@]}"; then
        log "install failed on stale package lists? updating them and retrying"
        aptlog=$(mktemp)
        run_apt apt-get update
        run_apt apt-get install -y --no-install-recommends "${missing[@]}"
    fi
    rm -f "$aptlog"
    if grep -q '^# tools/setup.sh: no prometheus' "$policy" 2>/dev/null; then
        rm -f "$policy"; trap - EXIT
    fi
    # The postinst also enables the unit for the next boot: undo that (and stop it, should a
    # policy of the host's own have let it start), only for the package installed just now, so a
    # server someone set up on purpose is left alone.
    if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
        log "disabling the prometheus server service (only promtool is used)"
        if [ -d /run/systemd/system ]; then
            systemctl disable --now prometheus.service >/dev/null 2>&1 ||
                log "WARNING: could not stop and disable prometheus.service"
        else
            systemctl disable prometheus.service >/dev/null 2>&1 ||
                log "WARNING: could not disable prometheus.service"
        fi
    fi
fi

# --- 2. binfmt_misc + qemu-aarch64 ---------------------------------------------------------
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
    log "mounting binfmt_misc"
    mount -t binfmt_misc binfmt_misc "$binfmt"
fi
aarch64_ok() { [ -e "$binfmt/qemu-aarch64" ] && grep -q '^enabled' "$binfmt/qemu-aarch64" &&
    grep -qE '^flags: .*F' "$binfmt/qemu-aarch64"; }
if ! aarch64_ok; then
    log "registering the qemu-aarch64 binfmt handler (flags F: usable inside containers)"
    # A handler without F (interpreter opened lazily, so missing inside containers) is replaced.
    [ -e "$binfmt/qemu-aarch64" ] && echo -1 > "$binfmt/qemu-aarch64"
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    if ! aarch64_ok; then
        [ -e "$binfmt/qemu-aarch64" ] && echo -1 > "$binfmt/qemu-aarch64"
        conf=/usr/lib/binfmt.d/qemu-aarch64.conf
        line=$(grep -v '^#' "$conf" | head -n1)
        case "${line##*:}" in *F*) ;; *) line="${line}F" ;; esac
        printf '%s' "$line" > "$binfmt/register"
    fi
fi
if ! arch-test arm64 >/dev/null 2>&1; then
    echo "arm64 binaries still do not run (see $binfmt/qemu-aarch64)" >&2
    exit 1
fi

# --- 3. Python virtualenv -----------------------------------------------------------------
venv=$repo/.venv
req=$repo/requirements-dev.txt
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    /usr/bin/python3 -m venv "$venv"
fi
if [ "$(cat "$venv/.requirements-dev.sha256" 2>/dev/null || true)" != "$want" ]; then
    log "installing requirements-dev.txt into .venv"
    piplog=$(mktemp)
    if ! { "$venv/bin/python" -m pip install --upgrade pip &&
           "$venv/bin/python" -m pip install -r "$req"; } >"$piplog" 2>&1; then
        cat "$piplog" >&2; rm -f "$piplog"; exit 1
    fi
    rm -f "$piplog"
    echo "$want" > "$venv/.requirements-dev.sha256"
fi

# --- 4. collections -----------------------------------------------------------------------
coll=$repo/.cache/collections/ansible_collections
stamp="ansible==$ANSIBLE_BUNDLE ${COLLECTIONS[*]}"
if [ "$(cat "$coll/.rock5b-stamp" 2>/dev/null || true)" != "$stamp" ]; then
    dl=$cache/pypi
    install -d "$dl"
    if ! compgen -G "$dl/ansible-${ANSIBLE_BUNDLE}[-.]*" >/dev/null; then
        log "downloading ansible==$ANSIBLE_BUNDLE from PyPI (for its bundled collections)"
        "$venv/bin/python" -m pip download -q --no-deps --only-binary=:all: -d "$dl" "ansible==$ANSIBLE_BUNDLE"
    fi
    archive=$(compgen -G "$dl/ansible-${ANSIBLE_BUNDLE}[-.]*" | head -n1)
    log "extracting ${COLLECTIONS[*]} from $(basename "$archive")"
    for c in "${COLLECTIONS[@]}"; do rm -rf "${coll:?}/$c"; done
    "$venv/bin/python" - "$archive" "$repo/.cache/collections" "${COLLECTIONS[@]}" <<'EOF'
import sys, zipfile
archive, dest, *colls = sys.argv[1:]
prefixes = tuple(f"ansible_collections/{c}/" for c in colls)
with zipfile.ZipFile(archive) as z:
    members = [m for m in z.namelist() if m.startswith(prefixes)]
    if not members:
        sys.exit(f"none of {colls} in {archive}")
    z.extractall(dest, members)
EOF
    echo "$stamp" > "$coll/.rock5b-stamp"
fi
# The collection itself, from the working tree (relative: survives moving the clone).
install -d "$coll/rock5b"
if [ "$(readlink "$coll/rock5b/oom" 2>/dev/null || true)" != "../../../.." ]; then
    ln -sfn ../../../.. "$coll/rock5b/oom"
fi

log "ok"
