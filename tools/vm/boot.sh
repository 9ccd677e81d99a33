#!/usr/bin/env bash
# Boot one arm64 VM from the cached image on a throw-away qcow2 overlay.
#
#   [VM_SUITE=bookworm|trixie] tools/vm/boot.sh <instance> [v2|v1|nopsi]
#
#   v2     (default) unified cgroup v2 hierarchy, PSI on (Debian's kernel default)
#   v1     legacy cgroup v1 hierarchy: systemd.unified_cgroup_hierarchy=0 (systemd 252
#          in bookworm still supports it without SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE)
#   nopsi  cgroup v2 with psi=0: Debian's 6.1 then creates neither /proc/pressure nor the
#          cgroups' *.pressure files (older kernels kept them and failed reads with EOPNOTSUPP)
#
# TCG, not KVM: this host's /dev/kvm is a paravirtual nested KVM that stock kernels do
# not boot on. cortex-a76 is about twice as fast as -cpu max under TCG.
# SSH is forwarded from 127.0.0.1:<free port> only. State goes to
# ${ROCK5B_CACHE}/vm/run/<instance>/state (shell) and state.json; the serial console to
# console.log beside it. Env: VM_MEM (MiB, 2048), VM_SMP (2), VM_BOOT_TIMEOUT (s, 300),
# VM_APPEND (extra kernel arguments),
# VM_DRIVE_CACHE (qemu's cache mode of the disk, default unsafe: fast, but qemu ignores the
#   guest's flushes and a killed qemu may lose qcow2 metadata; writeback honours every flush,
#   so a `kill -9` of qemu is a power cut: what the guest synced survives, the rest may not),
# VM_KEEP_OVERLAY=1 (boot again on the instance's existing overlay, e.g. after a power cut,
#   instead of a fresh one; give the mode and VM_DRIVE_CACHE again).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

inst=${1:?usage: boot.sh <instance> [v2|v1|nopsi]}
mode=${2:-v2}
[[ $inst =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ ]] || vm_die "bad instance name: $inst"
case $mode in
    v2) mode_args="" ;;
    v1) mode_args="systemd.unified_cgroup_hierarchy=0" ;;
    nopsi) mode_args="psi=0" ;;
    *) vm_die "unknown mode $mode (v2, v1, nopsi)" ;;
esac
command -v qemu-system-aarch64 >/dev/null || vm_die "qemu-system-aarch64 not found (apt-get install qemu-system-arm)"

img=$(vm_image_dir)
rundir="$VM_RUN/$inst"
running=$(vm_live_pid "$inst")
if [[ -n $running ]]; then
    vm_die "instance $inst is already running (pid $running); tools/vm/stop.sh $inst first"
fi
cache=${VM_DRIVE_CACHE:-unsafe}
case $cache in
    unsafe | writeback | none | writethrough | directsync) ;;
    *) vm_die "VM_DRIVE_CACHE=$cache: unsafe, writeback, none, writethrough or directsync" ;;
esac
if [[ ${VM_KEEP_OVERLAY:-0} == 1 ]]; then
    [[ -f $rundir/overlay.qcow2 ]] || vm_die "VM_KEEP_OVERLAY=1 but $inst has no overlay ($rundir/overlay.qcow2)"
    # the console of every earlier boot stays readable beside the new one
    [[ -f $rundir/console.log ]] && cat "$rundir/console.log" >>"$rundir/console.prev.log"
    rm -f "$rundir/state" "$rundir/state.json" "$rundir/qemu.pid" "$rundir/qmp.sock" "$rundir/console.log"
else
    rm -rf "$rundir"
    mkdir -p "$rundir"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
[[ ${VM_KEEP_OVERLAY:-0} == 1 ]] || qemu-img create -q -f qcow2 -b "$img/base.qcow2" -F qcow2 "$rundir/overlay.qcow2"

append="console=ttyAMA0 root=/dev/vda rw rootfstype=ext4 fsck.mode=skip systemd.hostname=$inst"
append+=" net.ifnames=0 $mode_args ${VM_APPEND:-}"

t0=$EPOCHREALTIME
qemu-system-aarch64 \
    -name "rock5b-vm-$inst" \
    -M virt -cpu cortex-a76 -smp "${VM_SMP:-2}" -m "${VM_MEM:-2048}" \
    -accel tcg,thread=multi \
    -display none -monitor none -serial "file:$rundir/console.log" \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" -append "$append" \
    -drive "if=none,id=hd0,file=$rundir/overlay.qcow2,format=qcow2,cache=$cache,discard=unmap" \
    -device virtio-blk-pci,drive=hd0 \
    -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:22" \
    -device virtio-net-pci,netdev=net0,romfile= \
    -device virtio-rng-pci \
    -qmp "unix:$rundir/qmp.sock,server=on,wait=off" \
    -pidfile "$rundir/qemu.pid" -daemonize
pid=$(cat "$rundir/qemu.pid")

cat >"$rundir/state" <<STATE
VM_INSTANCE=$inst
VM_MODE=$mode
VM_SUITE=$VM_SUITE
VM_SSH_HOST=127.0.0.1
VM_SSH_PORT=$port
VM_SSH_USER=root
VM_SSH_KEY=$VM_KEY
VM_PID=$pid
VM_OVERLAY=$rundir/overlay.qcow2
VM_CONSOLE=$rundir/console.log
VM_IMAGE=$img
VM_DRIVE_CACHE=$cache
STATE
printf '{"instance": "%s", "suite": "'"$VM_SUITE"'", "mode": "%s", "host": "127.0.0.1", "port": %s, "user": "root", "key": "%s", "pid": %s, "console": "%s"}\n' \
    "$inst" "$mode" "$port" "$VM_KEY" "$pid" "$rundir/console.log" >"$rundir/state.json"

vm_log "booting $inst ($VM_SUITE, mode $mode, cache $cache$([[ ${VM_KEEP_OVERLAY:-0} == 1 ]] && echo ', same overlay'), pid $pid, ssh 127.0.0.1:$port) ..."
deadline=$((SECONDS + ${VM_BOOT_TIMEOUT:-300}))
until vm_ssh "$inst" true 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -30 "$rundir/console.log" >&2 || true
        vm_die "qemu for $inst exited during boot"
    fi
    if grep -q 'initramfs: cannot mount' "$rundir/console.log" 2>/dev/null; then
        tail -30 "$rundir/console.log" >&2 || true
        vm_die "$inst: the initramfs could not mount the root disk"
    fi
    if ((SECONDS > deadline)); then
        tail -30 "$rundir/console.log" >&2 || true
        vm_die "no SSH on $inst after ${VM_BOOT_TIMEOUT:-300}s (console: $rundir/console.log)"
    fi
    sleep 2
done
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
echo "VM_BOOT_SECONDS=$secs" >>"$rundir/state"
vm_log "$inst up: boot-to-SSH ${secs}s (mode $mode, kernel $(vm_ssh "$inst" uname -r))"
