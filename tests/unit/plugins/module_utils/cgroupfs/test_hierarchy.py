"""cgroup hierarchy and memory controller detection, and cgroup paths (module_utils/cgroupfs/hierarchy.py)."""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import hierarchy
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS
from unit_helpers import FIXTURES as ALL_FIXTURES, fixture_reader, write

FIXTURES = os.path.join(ALL_FIXTURES, "cgroup")
fixture = fixture_reader("cgroup")


def fake_board(base, scenario, unified="/sys/fs/cgroup"):
    """A /proc and root tree for one of the fixture scenarios."""
    proc, root = str(base / "proc"), str(base / "root")
    write(os.path.join(proc, "self", "mountinfo"), fixture(scenario + ".mountinfo"))
    write(os.path.join(proc, "cgroups"), fixture(scenario + ".cgroups"))
    if os.path.exists(os.path.join(FIXTURES, scenario + ".controllers")):
        write(os.path.join(root, unified.lstrip("/"), "cgroup.controllers"), fixture(scenario + ".controllers"))
    return proc, root


def test_v2_debian12(tmp_path):
    proc, root = fake_board(tmp_path, "v2-debian12")
    found = hierarchy.detect(HostFS(root, proc=proc))
    assert found["version"] == "v2" and found["unified_mount"] == "/sys/fs/cgroup"
    assert found["v1_mounts"] == {} and "memory" in found["unified_controllers"]
    assert found["memory"]["available"] and found["memory"]["hierarchy"] == "v2"
    assert found["memory"]["mount"] == "/sys/fs/cgroup" and found["memory"]["kernel_enabled"] is True
    assert found["source"] == "mountinfo"


def test_v1_legacy(tmp_path):
    proc, root = fake_board(tmp_path, "v1-legacy")
    found = hierarchy.detect(HostFS(root, proc=proc))
    assert found["version"] == "v1" and found["unified_mount"] is None
    assert found["v1_mounts"]["memory"] == "/sys/fs/cgroup/memory"
    assert found["v1_mounts"]["cpu"] == found["v1_mounts"]["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert found["v1_mounts"]["name=systemd"] == "/sys/fs/cgroup/systemd"
    assert found["memory"] == {
        "available": True, "hierarchy": "v1", "mount": "/sys/fs/cgroup/memory", "kernel_enabled": True,
        "reason": "the memory controller is mounted as a cgroup v1 hierarchy at /sys/fs/cgroup/memory",
    }


def test_hybrid_ubuntu2004(tmp_path):
    proc, root = fake_board(tmp_path, "hybrid-ubuntu2004", unified="/sys/fs/cgroup/unified")
    found = hierarchy.detect(HostFS(root, proc=proc))
    assert found["version"] == "hybrid" and found["unified_mount"] == "/sys/fs/cgroup/unified"
    assert found["unified_controllers"] == []
    assert found["memory"]["hierarchy"] == "v1" and found["memory"]["mount"] == "/sys/fs/cgroup/memory"


def test_v2_with_memory_disabled_at_boot(tmp_path):
    proc, root = fake_board(tmp_path, "v2-nomemory")
    found = hierarchy.detect(HostFS(root, proc=proc))
    assert found["version"] == "v2"
    assert not found["memory"]["available"] and found["memory"]["kernel_enabled"] is False
    assert "cgroup_disable=memory" in found["memory"]["reason"]


def test_v2_without_memory_in_kernel(tmp_path):
    proc, root = fake_board(tmp_path, "v2-nomemory")
    text = "".join(line for line in fixture("v2-nomemory.cgroups").splitlines(True) if not line.startswith("memory"))
    write(os.path.join(proc, "cgroups"), text)
    found = hierarchy.detect(HostFS(root, proc=proc))
    assert not found["memory"]["available"] and "built without the memory controller" in found["memory"]["reason"]


def test_v1_without_a_memory_hierarchy(tmp_path):
    proc, root = fake_board(tmp_path, "v1-legacy")
    text = "".join(line for line in fixture("v1-legacy.mountinfo").splitlines(True) if "cgroup/memory" not in line)
    write(os.path.join(proc, "self", "mountinfo"), text)
    found = hierarchy.detect(HostFS(root, proc=proc))
    assert found["version"] == "v1" and not found["memory"]["available"]
    assert "memory" not in found["v1_mounts"]


def test_memory_controller_only_in_cgroup_controllers(tmp_path):
    # Linux 6.x without CONFIG_MEMCG_V1 may leave memory out of /proc/cgroups.
    proc, root = fake_board(tmp_path, "v2-debian12")
    text = "".join(line for line in fixture("v2-debian12.cgroups").splitlines(True) if not line.startswith("memory"))
    write(os.path.join(proc, "cgroups"), text)
    found = hierarchy.detect(HostFS(root, proc=proc))
    assert found["memory"]["available"] and found["memory"]["kernel_enabled"] is True


def test_proc_mounts_fallback(tmp_path):
    proc, root = fake_board(tmp_path, "v2-debian12")
    shutil.rmtree(os.path.join(proc, "self"))
    write(os.path.join(proc, "mounts"), fixture("mounts-v2"))
    found = hierarchy.detect(HostFS(root, proc=proc))
    assert found["source"] == "mounts" and found["version"] == "v2" and found["memory"]["available"]


def test_no_cgroup_mounted(tmp_path):
    proc, root = str(tmp_path / "proc"), str(tmp_path / "root")
    write(os.path.join(proc, "self", "mountinfo"), "22 1 179:2 / / rw,relatime shared:1 - ext4 /dev/root rw\n")
    found = hierarchy.detect(HostFS(root, proc=proc))
    assert found["version"] == "none" and found["memory"]["kernel_enabled"] is None
    assert found["memory"]["reason"] == "no cgroup file system is mounted"


def test_mountinfo_escapes_and_optional_fields():
    mounts = hierarchy.parse_mountinfo(
        "40 33 0:36 / /srv/my\\040cgroups rw,relatime shared:18 master:3 - cgroup2 cgroup2 rw,nsdelegate\n")
    assert mounts == [{"mount_point": "/srv/my cgroups", "root": "/", "fstype": "cgroup2",
                       "options": ["rw", "nsdelegate"]}]


def test_cgroup_dir_stays_inside_the_hierarchy(tmp_path):
    assert hierarchy.cgroup_dir(HostFS("/r"), "/sys/fs/cgroup", "/system.slice/docker.service/") == \
        "/r/sys/fs/cgroup/system.slice/docker.service"
    assert hierarchy.cgroup_dir(HostFS("/r"), "/sys/fs/cgroup", "/") == "/r/sys/fs/cgroup"
    with pytest.raises(ValueError, match="inside"):
        hierarchy.cgroup_dir(HostFS("/r"), "/sys/fs/cgroup", "system.slice/../../etc")


def test_clean_path():
    assert hierarchy.clean_path("rock5b/./app/") == "/rock5b/app"
    assert hierarchy.clean_path("") == "/" and hierarchy.clean_path("/") == "/"
    with pytest.raises(ValueError):
        hierarchy.clean_path("a/../..")
    for bad in ("a\x00b", "a/b\nc", "a\tb", "a/\x7f", "a/" + "\u00e9" * 128):
        with pytest.raises(ValueError):
            hierarchy.clean_path(bad)
    assert hierarchy.clean_path("a/" + "x" * 255) == "/a/" + "x" * 255
    assert hierarchy.clean_path("system-getty.slice/getty@tty1.service") == "/system-getty.slice/getty@tty1.service"


def test_memory_dir_and_a_process_cgroup_through_hostfs(tmp_path):
    proc, root = fake_board(tmp_path, "v2-debian12")
    fs = HostFS(root, proc=proc)
    info = hierarchy.detect(fs)
    assert hierarchy.memory_dir(fs, info, "/system.slice/x.service") == os.path.join(
        root, "sys/fs/cgroup/system.slice/x.service")
    assert hierarchy.memory_dir(fs, info, "") is None
    write(os.path.join(proc, "42", "cgroup"), "0::/user.slice/session-3.scope\n")
    assert hierarchy.memory_cgroup_of(fs, 42, "v2", "/") == "/user.slice/session-3.scope"
    assert hierarchy.memory_cgroup_of(fs, 43, "v2", "/") is None
    unavailable = dict(info, memory=dict(info["memory"], available=False))
    assert hierarchy.memory_dir(fs, unavailable, "/system.slice/x.service") is None
