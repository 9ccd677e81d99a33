"""What differs between board generations is decided from facts read on the board (issue #16),
checked on every VM: bookworm (kernel 6.1, systemd 252) and trixie (kernel 6.12, systemd 257,
cgroup v2 only). Each test reads the fact itself and expects the behaviour that follows from it,
so the same test holds on both releases."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.feature("generation facts"), pytest.mark.vm_modes("v2", "v1")]

BOOT_FILES = "/etc/default/u-boot /boot/extlinux/extlinux.conf /boot/armbianEnv.txt /boot/dietpiEnv.txt /etc/kernel/cmdline"


def systemd_version(vm) -> int:
    out = vm.run("ls /usr/lib/*/systemd/libsystemd-shared-*.so /usr/lib/systemd/libsystemd-shared-*.so 2>/dev/null || true")
    versions = [int(v) for v in re.findall(r"libsystemd-shared-(\d+)\.so", out)]
    assert versions, "no libsystemd-shared-<N>.so on the VM: %r" % out
    return max(versions)


def test_a_cgroup_v1_boot_argument_is_refused_where_systemd_no_longer_boots_it(vm):
    """systemd 256+ does not run the cgroup v1 hierarchy (257 waits 30 s, then boots v2): kernel_cmdline must not write it."""
    before = vm.run(f"sha256sum {BOOT_FILES} 2>/dev/null || true")
    result = vm.module("rock5b.oom.kernel_cmdline", {"add": ["systemd.unified_cgroup_hierarchy=0"]}, check=True)
    after = vm.run(f"sha256sum {BOOT_FILES} 2>/dev/null || true")
    assert before == after
    if systemd_version(vm) >= 256:
        assert result.get("failed"), result
        assert "systemd %d on this board does not run the cgroup v1 hierarchy" % systemd_version(vm) in result["msg"]
        assert "nothing was written" in result["msg"]
    else:
        assert "does not run the cgroup v1 hierarchy" not in str(result.get("msg", ""))


def test_etc_sysctl_conf_counts_as_boot_drift_only_where_the_board_reads_it(vm):
    """trixie's procps no longer links /etc/sysctl.conf into sysctl.d: a value there is ignored
    at boot, so it is a note, not drift; on bookworm it overrides the profile."""
    linked = vm.run("test -e /etc/sysctl.d/99-sysctl.conf && echo linked || echo absent").strip() == "linked"
    had_conf = vm.run("test -e /etc/sysctl.conf && echo yes || echo no").strip() == "yes"
    vm.run("cp -a /etc/sysctl.conf /root/sysctl.conf.rock5b-test 2>/dev/null || true")
    try:
        vm.run("printf 'vm.panic_on_oom = 1\\n' >> /etc/sysctl.conf")
        result = vm.module("rock5b.oom.vm_sysctl", {"settings": {"vm.panic_on_oom": 0}, "apply_live": False}, check=True)
    finally:
        vm.run("if [ -e /root/sysctl.conf.rock5b-test ]; then mv /root/sysctl.conf.rock5b-test /etc/sysctl.conf;"
               " else rm -f /etc/sysctl.conf; fi")
    assert not result.get("failed"), result
    assert (vm.run("test -e /etc/sysctl.conf && echo yes || echo no").strip() == "yes") == had_conf
    if linked:
        assert any("vm.panic_on_oom" in item for item in result["boot_drift"]), result
        assert result["boot_ignored"] == []
    else:
        assert result["boot_drift"] == [], result
        assert any("/etc/sysctl.conf" in item and "vm.panic_on_oom" in item for item in result["boot_ignored"]), result


def test_the_monitor_unit_keeps_cap_sys_resource_for_its_1s_psi_triggers(vm):
    """Unprivileged PSI triggers (6.5+) only take 2 s windows; the default 1 s triggers keep
    the capability on every kernel, and the monitor arms them."""
    caps = vm.run("systemctl show -p CapabilityBoundingSet --value rock5b-oom-monitor.service")
    assert "cap_sys_resource" in caps, caps
    journal = vm.run("journalctl -b -u rock5b-oom-monitor.service --no-pager -o cat | grep -m1 'PSI trigger' || true")
    assert "armed" in journal and "widened" not in journal, journal


def test_the_monitor_unit_stays_hardened_on_this_systemd(vm):
    """systemd-analyze security's exposure of the monitor's unit, on each generation's systemd
    (printed for the feature table's run notes; docs/monitor.md says 1.2 on bookworm)."""
    last = vm.run("systemd-analyze security --no-pager rock5b-oom-monitor.service | tail -n 1")
    match = re.search(r"exposure level for rock5b-oom-monitor\.service:\s*([0-9.]+)", last)
    assert match, last
    print("%s: systemd %d, monitor exposure %s" % (vm.name, systemd_version(vm), match.group(1)))
    assert float(match.group(1)) <= 2.0, last
