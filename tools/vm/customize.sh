#!/bin/sh
# mmdebstrap --customize-hook for the VM root file system: $1 is the root directory.
# Runs on the host. Env from build.sh: VM_WORK, VM_PUBKEY, VM_DIR_TOOLS;
# MMDEBSTRAP_APT_CONFIG is mmdebstrap's (arm64) apt configuration.
set -eu
root=$1

# --- kernel and busybox-static: downloaded with the chroot's apt config but by the
#     host's apt, unpacked by the host's dpkg-deb (no maintainer scripts, no mkinitramfs)
mkdir -p "$VM_WORK/debs"
kpkg=$(APT_CONFIG=$MMDEBSTRAP_APT_CONFIG apt-cache depends linux-image-arm64 |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || { echo "customize: cannot resolve linux-image-arm64" >&2; exit 1; }
(cd "$VM_WORK/debs" && APT_CONFIG=$MMDEBSTRAP_APT_CONFIG apt-get download -q "$kpkg" busybox-static)
dpkg-deb -x "$VM_WORK"/debs/linux-image-*.deb "$VM_WORK/kernel"
dpkg-deb -x "$VM_WORK"/debs/busybox-static_*.deb "$VM_WORK/busybox"
# bookworm's kernel package puts its modules in /lib/modules, trixie's in /usr/lib/modules
mods=$VM_WORK/kernel/lib/modules
[ -d "$mods" ] || mods=$VM_WORK/kernel/usr/lib/modules
kver=$(ls "$mods")
# copy rather than extract over $root: both releases are merged-/usr (/lib -> usr/lib)
mkdir -p "$root/usr/lib/modules" "$root/boot"
cp -a "$mods/$kver" "$root/usr/lib/modules/"
cp -a "$VM_WORK/kernel/boot/." "$root/boot/"
depmod -b "$root" "$kver"
echo "$kver" >"$VM_WORK/kver"
rm -rf "$VM_WORK/kernel" "$VM_WORK/debs"

# --- static configuration files (fstab, network, sshd, journald, ...) ----------------------
cp -a "$VM_DIR_TOOLS/rootfs/." "$root/"
echo rock5b-vm >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\trock5b-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# QEMU user networking's DNS forwarder
echo 'nameserver 10.0.2.3' >"$root/etc/resolv.conf"

# --- root: key-only SSH; empty password for the serial console only (sshd refuses empty
#     passwords, and the forwarded port listens on the host's loopback only)
install -d -m 700 "$root/root/.ssh"
install -m 600 "$VM_PUBKEY" "$root/root/.ssh/authorized_keys"
chroot "$root" passwd -d root >/dev/null

# --- units: networkd for DHCP on the virtio NIC; nothing that slows boot or wakes up
#     during a measurement
chroot "$root" systemctl enable -q systemd-networkd.service
chroot "$root" systemctl set-default -q multi-user.target
for u in systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-timesyncd.service \
    getty@tty1.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount; do
    chroot "$root" systemctl mask -q "$u"
done
