"""The VM runs Debian's real arm64 kernel, booted in the mode its boot state says.

Modes (tools/vm/boot.sh): v2 = unified cgroup v2, v1 = legacy cgroup v1 hierarchy
(systemd.unified_cgroup_hierarchy=0), nopsi = cgroup v2 with psi=0.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.feature("real kernel in its boot mode")


def test_real_arm64_kernel(vm):
    assert vm.run("uname -m").strip() == "aarch64"
    release = vm.run("uname -r").strip()
    assert release.endswith("-arm64"), release  # Debian's linux-image-*-arm64
    # a real kernel, not qemu-user on the host's: the host is x86_64 and its kernel
    # release would show up here
    assert vm.host.file(f"/usr/lib/modules/{release}/modules.dep").exists
    assert "console=ttyAMA0" in vm.read("/proc/cmdline")


def test_boot_mode_on_command_line(vm):
    cmdline = vm.read("/proc/cmdline").split()
    assert ("systemd.unified_cgroup_hierarchy=0" in cmdline) == (vm.mode == "v1")
    assert ("psi=0" in cmdline) == (vm.mode == "nopsi")


def test_cgroup_hierarchy_matches_mode(vm):
    fstype = vm.run("stat -fc %T /sys/fs/cgroup").strip()
    if vm.mode == "v1":
        # legacy: tmpfs with one mount per v1 controller, memory among them
        assert fstype == "tmpfs", fstype
        mounts = vm.read("/proc/self/mounts").splitlines()
        memory = [m for m in mounts if m.split()[1] == "/sys/fs/cgroup/memory"]
        assert memory, "no cgroup v1 memory controller mount"
        fields = memory[0].split()
        assert fields[2] == "cgroup" and "memory" in fields[3].split(","), memory[0]
        assert vm.host.file("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists
        assert any(line.split(":")[1] == "memory" for line in vm.read("/proc/self/cgroup").splitlines())
    else:
        assert fstype == "cgroup2fs", fstype
        assert "memory" in vm.read("/sys/fs/cgroup/cgroup.controllers").split()
        assert vm.read("/proc/self/cgroup").startswith("0::/")


def test_psi_matches_mode(vm):
    if vm.mode == "nopsi":
        # psi=0: Debian's 6.1 creates neither /proc/pressure nor the cgroups'
        # memory.pressure files (older kernels had the files and failed reads with
        # EOPNOTSUPP; either way there is nothing to read)
        for path in ("/proc/pressure/memory", "/sys/fs/cgroup/system.slice/memory.pressure"):
            r = vm.host.run(f"cat {path}")
            assert r.rc != 0, f"{path} readable under psi=0: {r.stdout}"
            assert "No such file" in r.stderr or "not supported" in r.stderr, r.stderr
    else:
        res = vm.host.run("cat /proc/pressure/memory")
        assert res.rc == 0, res.stderr
        lines = res.stdout.splitlines()
        assert lines[0].startswith("some avg10="), lines
        assert lines[1].startswith("full avg10="), lines
        if vm.mode == "v2":
            cg = vm.read("/sys/fs/cgroup/system.slice/memory.pressure").splitlines()
            assert cg[0].startswith("some avg10="), cg
