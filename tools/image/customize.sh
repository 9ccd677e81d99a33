#!/usr/bin/env bash
# mmdebstrap customize hook: turns the bootstrapped bookworm arm64 tree ($1) into a rootfs
# that boots systemd as PID 1 in an unprivileged podman container under qemu-user.
# Runs on the build host; $ROCK5B_IMAGE_PUBKEY is the SSH public key for root.
set -euo pipefail
root=$1
sysdir=$root/etc/systemd/system

# --- systemd credentials -------------------------------------------------------------
# Setting up a unit's credentials (LoadCredential=/SetCredential=) fails under qemu-user
# (status=243/CREDENTIALS), which takes down systemd-journald, systemd-sysctl,
# systemd-tmpfiles-setup, systemd-sysusers and friends. An empty assignment resets the
# list. The units are found by grepping the unit files, so new ones are covered too.
for unit in "$root"/lib/systemd/system/*.service; do
    # regular files only: aliases (procps.service -> systemd-sysctl.service) follow them
    [ -f "$unit" ] && [ ! -L "$unit" ] || continue
    keys=$(grep -oE '^(LoadCredential|LoadCredentialEncrypted|SetCredential|SetCredentialEncrypted|ImportCredential)=' "$unit" | sort -u || true)
    [ -n "$keys" ] || continue
    name=$(basename "$unit")
    mkdir -p "$sysdir/$name.d"
    {
        echo "# Written by tools/image/customize.sh: credentials do not work under qemu-user."
        echo "[Service]"
        echo "$keys"
    } > "$sysdir/$name.d/10-rock5b-no-credentials.conf"
    echo "customize: credentials dropped for $name"
done

# --- units that make no sense in a container --------------------------------------------
# systemd-sysctl.service stays: the roles use it (it skips itself while /proc/sys is
# read-only, which is how these containers run).
mask=(
    getty.target getty@.service serial-getty@.service console-getty.service
    container-getty@.service getty-static.service
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket
    systemd-udev-trigger.service systemd-udev-settle.service systemd-hwdb-update.service
    systemd-binfmt.service proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount
    sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount
    sys-fs-fuse-connections.mount dev-hugepages.mount
    systemd-modules-load.service systemd-remount-fs.service systemd-firstboot.service
    systemd-machine-id-commit.service systemd-pstore.service systemd-journald-audit.socket
    apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service
    e2scrub_all.timer e2scrub_reap.service fstrim.timer
)
for u in "${mask[@]}"; do
    ln -sfn /dev/null "$sysdir/$u"
done
ln -sfn /lib/systemd/system/multi-user.target "$sysdir/default.target"

# --- SSH -------------------------------------------------------------------------------
install -d -m 0700 "$root/root/.ssh"
printf '%s\n' "$ROCK5B_IMAGE_PUBKEY" > "$root/root/.ssh/authorized_keys"
chmod 0600 "$root/root/.ssh/authorized_keys"
# pam_loginuid needs CAP_AUDIT_CONTROL, which an unprivileged container lacks: without
# this every SSH login is closed right after authentication.
sed -i 's/^session\s\+required\s\+pam_loginuid.so/session optional pam_loginuid.so/' "$root/etc/pam.d/sshd"
install -d "$sysdir/multi-user.target.wants"
ln -sfn /lib/systemd/system/ssh.service "$sysdir/multi-user.target.wants/ssh.service"
# Host keys are made per container at first boot (ssh.service's ExecStartPre only checks
# them); ed25519 only, since RSA key generation under qemu-user takes seconds.
rm -f "$root"/etc/ssh/ssh_host_*
cat > "$sysdir/rock5b-ssh-hostkeys.service" <<'EOF'
[Unit]
Description=Generate SSH host keys of this board
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=multi-user.target
EOF
ln -sfn ../rock5b-ssh-hostkeys.service "$sysdir/multi-user.target.wants/rock5b-ssh-hostkeys.service"

# --- small things ------------------------------------------------------------------------
# Volatile journal: nothing in the test bed needs logs across restarts.
install -d "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' > "$root/etc/systemd/journald.conf.d/10-rock5b.conf"
# No docs/man pages: smaller image.
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
# The image must not carry a machine id; podman/systemd make one per container.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
echo "rock5b-board" > "$root/etc/hostname"
