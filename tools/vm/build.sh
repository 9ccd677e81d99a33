#!/usr/bin/env bash
# Build the arm64 VM image used by the real-kernel test bed (make vm-image): Debian bookworm,
# or trixie with VM_SUITE=trixie.
#
# Output (cached): ${ROCK5B_CACHE}/vm/<hash of the recipe files>/{vmlinuz,initrd.img,
# base.qcow2,kver}. The recipe is this script, customize.sh, packages.txt,
# initramfs-init, rootfs/** and the SSH public key; an unchanged recipe returns at once.
# VM_REBUILD=1 forces a rebuild.
#
# Why it is fast: nothing kernel-related runs under qemu-user. The Debian arm64 kernel
# .deb is downloaded and unpacked on the host (dpkg-deb -x), modules.dep is made by the
# host's depmod, and the initramfs is a hand-made cpio (busybox-static + virtio/ext4
# modules, see initramfs-init) instead of mkinitramfs. Only the userland packages are
# configured under emulation (mmdebstrap --variant=apt, dpkg wrapped in eatmydata, no
# docs/man/locales).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in mmdebstrap qemu-img mke2fs depmod cpio ssh-keygen dpkg-deb; do
    command -v "$tool" >/dev/null || vm_die "$tool not found (apt-get install mmdebstrap qemu-utils e2fsprogs kmod cpio openssh-client)"
done
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] ||
    vm_die "qemu-aarch64 binfmt handler not registered (tools/setup.sh does it: mount binfmt_misc; update-binfmts --enable qemu-aarch64)"

vm_ensure_key
hash=$(vm_recipe_hash)
out="$VM_CACHE/$hash"
if [[ -f $out/base.qcow2 && -z ${VM_REBUILD:-} ]]; then
    ln -sfn "$hash" "$VM_CACHE/current-$VM_SUITE"
    vm_log "image up to date: $out (kernel $(cat "$out/kver"))"
    exit 0
fi

mkdir -p "$VM_CACHE"
work=$(mktemp -d "$VM_CACHE/build.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
T0=$SECONDS
declare -a TIMES=()
phase() { TIMES+=("$(printf '%-10s %4ds' "$1" $((SECONDS - PSTART)))"); PSTART=$SECONDS; }
PSTART=$SECONDS

mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$VM_DIR_TOOLS/packages.txt")
include=$(IFS=,; echo "${pkgs[*]}")

# --- 1. root file system (userland under qemu-user; kernel + busybox fetched on the host
#        by customize.sh into $VM_WORK/debs and unpacked) ---------------------------------
export VM_WORK="$work" VM_PUBKEY="$VM_KEY.pub" VM_DIR_TOOLS
vm_log "mmdebstrap $VM_SUITE arm64 (${#pkgs[@]} packages) ..."
mmdebstrap --mode=root --variant=apt --architectures=arm64 \
    --include="$include" \
    --hook-dir=/usr/share/mmdebstrap/hooks/eatmydata \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="$VM_DIR_TOOLS/customize.sh" \
    "$VM_SUITE" "$work/root" "${VM_MIRRORS[@]}" >"$work/mmdebstrap.log" 2>&1 ||
    { tail -40 "$work/mmdebstrap.log" >&2; vm_die "mmdebstrap failed"; }
phase rootfs
kver=$(cat "$work/kver")

# --- 2. initramfs: busybox-static + virtio/ext4 modules and their deps ------------------
vm_log "initramfs for $kver ..."
ird="$work/initrd"
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,lib/modules/"$kver"}
# busybox-static: /bin/busybox in bookworm's package, /usr/bin/busybox in trixie's
busybox=$work/busybox/bin/busybox
[[ -f $busybox ]] || busybox=$work/busybox/usr/bin/busybox
cp "$busybox" "$ird/bin/busybox"
cp "$VM_DIR_TOOLS/initramfs-init" "$ird/init"
chmod 755 "$ird/init" "$ird/bin/busybox"
# Modules go in uncompressed: trixie's kernel ships them as .ko.xz, which busybox's modprobe
# does not read.
modprobe -d "$work/root" -S "$kver" --show-depends -a virtio_pci virtio_blk virtio_net crc32c_generic ext4 |
    awk '$1 == "insmod" {print $2}' | sort -u | while read -r ko; do
        rel=${ko#"$work/root"}
        rel=${rel#/usr}
        mkdir -p "$ird$(dirname "$rel")"
        case $ko in
            *.ko.xz) xz -dc "$ko" >"$ird${rel%.xz}" ;;
            *.ko.zst) zstd -qdc "$ko" >"$ird${rel%.zst}" ;;
            *) cp "$ko" "$ird$rel" ;;
        esac
    done
cp "$work/root/usr/lib/modules/$kver/modules.order" "$work/root/usr/lib/modules/$kver/modules.builtin"* "$ird/lib/modules/$kver/"
depmod -b "$ird" "$kver"
(cd "$ird" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$work/initrd.img"
cp "$work/root/boot/vmlinuz-$kver" "$work/vmlinuz"
phase initramfs

# --- 3. disk: ext4 populated straight from the directory, then qcow2 --------------------
vm_log "disk image ..."
mke2fs -q -t ext4 -L root -d "$work/root" "$work/root.raw" 4G
qemu-img convert -O qcow2 "$work/root.raw" "$work/base.qcow2"
rm -f "$work/root.raw"
phase disk

rm -rf "$work/root" "$ird" "$work/busybox"
mkdir -p "$out.new"
mv "$work/vmlinuz" "$work/initrd.img" "$work/base.qcow2" "$work/kver" "$work/mmdebstrap.log" "$out.new/"
echo "$VM_SUITE" >"$out.new/suite"
rm -rf "$out"
mv "$out.new" "$out"
ln -sfn "$hash" "$VM_CACHE/current-$VM_SUITE"
# drop images of older recipes of the same release (~600 MB each; an image without a suite
# file is an old bookworm one), except those a running VM's overlay is backed by
in_use=$(cat "$VM_RUN"/*/state 2>/dev/null | sed -n 's/^VM_IMAGE=//p' || true)
for d in "$VM_CACHE"/*/; do
    d=${d%/}; b=${d##*/}
    [[ $b =~ ^[0-9a-f]{16}$ && $b != "$hash" ]] || continue
    [[ $(cat "$d/suite" 2>/dev/null || echo bookworm) == "$VM_SUITE" ]] || continue
    grep -qxF "$d" <<<"$in_use" && continue
    rm -rf "$d"
done
vm_log "built $out in $((SECONDS - T0))s (kernel $kver):"
printf '  %s\n' "${TIMES[@]}" >&2
