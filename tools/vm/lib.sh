# Shared paths and helpers for the real-kernel arm64 VM test bed (sourced, not run).
# Everything lives under ${ROCK5B_CACHE}/vm:
#   ssh/id_ed25519            key baked into every image's /root/.ssh/authorized_keys
#   <recipe-hash>/            vmlinuz, initrd.img, base.qcow2, kver, suite (one per recipe)
#   current-<release> -> <recipe-hash>  the image build.sh made last for that release
#   run/<instance>/           state of a booted VM: state (shell vars), overlay.qcow2,
#                             console.log, qemu.pid
# shellcheck shell=bash

ROCK5B_CACHE=${ROCK5B_CACHE:-/var/cache/rock5b-oom}
VM_DIR_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_CACHE="${ROCK5B_CACHE}/vm"
VM_KEY="${VM_CACHE}/ssh/id_ed25519"
VM_RUN="${VM_CACHE}/run"
# The Debian release of the image and of the VMs booted from it: bookworm (kernel 6.1,
# systemd 252) or trixie (kernel 6.12, systemd 257, cgroup v2 only). Each release has its own
# image (the recipe hash covers the release); `current-<release>` points at the newest.
VM_SUITE=${VM_SUITE:-bookworm}
case $VM_SUITE in
    bookworm | trixie) ;;
    *) printf 'VM_SUITE=%s: bookworm or trixie\n' "$VM_SUITE" >&2; exit 2 ;;
esac
VM_MIRRORS=(
    "deb http://deb.debian.org/debian $VM_SUITE main"
    "deb http://deb.debian.org/debian $VM_SUITE-updates main"
    "deb http://deb.debian.org/debian-security $VM_SUITE-security main"
)

# The pid of instance $1's qemu, or nothing: a pidfile left by a machine or session that
# ended may name a pid the kernel has since given to another process, which stop.sh must
# never signal. Ours is the process whose command line names the instance's run directory.
vm_live_pid() {
    local pidfile="$VM_RUN/$1/qemu.pid" pid
    [[ -f $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$VM_RUN/$1/" && printf '%s\n' "$pid"
    return 0
}

vm_log() { printf '[vm %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
vm_die() { vm_log "ERROR: $*"; exit 1; }

# Files whose content defines the image: any change to one of them gives a new hash and
# so a rebuild. The SSH public key is part of the recipe because it is baked in.
vm_recipe_files() {
    printf '%s\n' "$VM_DIR_TOOLS/build.sh" "$VM_DIR_TOOLS/customize.sh" "$VM_DIR_TOOLS/packages.txt" \
        "$VM_DIR_TOOLS/initramfs-init" "$VM_KEY.pub"
    find "$VM_DIR_TOOLS/rootfs" -type f | LC_ALL=C sort
}

vm_recipe_hash() {
    local f
    {
        printf 'suite=%s\n' "$VM_SUITE"
        vm_recipe_files | while read -r f; do
            printf '%s\n' "${f#"$VM_DIR_TOOLS"/}"
            cat "$f"
        done
    } | sha256sum | cut -c1-16
}

vm_ensure_key() {
    if [[ ! -f $VM_KEY ]]; then
        mkdir -p "$(dirname "$VM_KEY")"
        ssh-keygen -q -t ed25519 -N '' -C rock5b-oom-vm -f "$VM_KEY"
    fi
    chmod 600 "$VM_KEY"
}

# Image of the current recipe (what build.sh makes); fails if it isn't built.
vm_image_dir() {
    local d
    d="$VM_CACHE/$(vm_recipe_hash)"
    [[ -f $d/base.qcow2 ]] || vm_die "no VM image for this recipe at $d: run tools/vm/build.sh (make vm-image)"
    printf '%s\n' "$d"
}

VM_SSH_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
    -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=5 -o ServerAliveInterval=5
    -o ServerAliveCountMax=6)

# vm_ssh <instance> [command...]  (reads the instance's state file)
vm_ssh() {
    local inst=$1; shift
    local state="$VM_RUN/$inst/state"
    [[ -f $state ]] || vm_die "instance $inst is not running (no $state)"
    # shellcheck disable=SC1090
    ( source "$state"; exec ssh "${VM_SSH_OPTS[@]}" -i "$VM_SSH_KEY" -p "$VM_SSH_PORT" root@127.0.0.1 "$@" )
}
