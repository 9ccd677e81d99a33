"""The board containers themselves: what every role test relies on.

They must be arm64 Debian with systemd as PID 1, python3 for Ansible, and (the safety
net of the whole test bed) a read-only /proc/sys, because vm.* sysctls are not
namespaced: a write inside a container would change the CI host.
"""

import pytest


def test_arch_is_aarch64(host):
    assert host.check_output("uname -m") == "aarch64"
    assert host.system_info.distribution == "debian"
    assert host.system_info.codename == "bookworm"


def test_systemd_is_pid_1(host):
    # Under qemu-user /proc/1/exe is the qemu interpreter and argv[0] may be too, so check
    # the command name and that /sbin/init (-> systemd) is what it runs.
    assert host.check_output("cat /proc/1/comm") == "systemd"
    assert "/sbin/init" in host.check_output("tr '\\0' ' ' < /proc/1/cmdline").split()
    assert host.file("/sbin/init").linked_to == "/usr/lib/systemd/systemd"


def test_systemd_is_up(host):
    # "degraded" is fine in a container as long as the boot finished and the units the
    # tests use are up; "starting"/"initializing"/"offline" are not.
    state = host.run("systemctl is-system-running --wait").stdout.strip()
    assert state in ("running", "degraded"), state
    assert host.service("dbus").is_running
    assert host.service("systemd-journald").is_running
    assert host.check_output("systemctl show -p ActiveState --value multi-user.target") == "active"


def test_no_unit_failed_on_credentials(host):
    # status=243/CREDENTIALS is the qemu-user credentials failure the image works around.
    failed = host.check_output("systemctl list-units --failed --plain --no-legend")
    assert "CREDENTIALS" not in host.run("journalctl -b --no-pager -p err").stdout
    assert "systemd-journald" not in failed
    assert "systemd-tmpfiles-setup" not in failed


def test_systemd_sysctl_unit_present(host):
    # The roles restart/inspect it; in the container it is skipped (read-only /proc/sys).
    assert host.run("systemctl cat systemd-sysctl.service").rc == 0
    assert host.check_output("systemctl is-enabled systemd-sysctl.service") in ("static", "enabled")


def test_python3_present(host):
    assert host.exists("python3")
    assert host.check_output("python3 -c 'import sys; print(sys.version_info[0])'") == "3"


def test_sshd_running(host):
    assert host.service("ssh").is_running
    assert host.socket("tcp://0.0.0.0:22").is_listening or host.socket("tcp://:::22").is_listening


def test_not_privileged(host):
    # No CAP_SYS_ADMIN in the bounding set of PID 1.
    cap_bnd = int(host.check_output("awk '/^CapBnd/ {print $2}' /proc/1/status"), 16)
    assert not cap_bnd & (1 << 21), hex(cap_bnd)


@pytest.mark.parametrize("key", ["vm/min_free_kbytes", "vm/overcommit_memory", "vm/swappiness"])
def test_proc_sys_is_read_only(host, key):
    """SAFETY: a vm.* write from inside must fail, or the role tests would tune the host."""
    assert host.check_output("uname -m") == "aarch64", "not inside a board container"
    assert host.mount_point("/proc/sys").exists
    assert "ro" in host.mount_point("/proc/sys").options
    path = f"/proc/sys/{key}"
    current = host.file(path).content_string.strip()
    # Write the value it already has: even if the write went through, nothing would change.
    result = host.run(f"echo {current} > {path}")
    assert result.rc != 0
    assert "Read-only file system" in result.stderr
    assert host.file(path).content_string.strip() == current
