"""Memory control files of one cgroup, v1 and v2 (cgroupfs/memory.py), on plain fake directories."""

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import hierarchy
from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import memory
from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs.memory import MAX

V1_UNLIMITED = "9223372036854771712"


def make(directory, files):
    os.makedirs(directory, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(directory, name), "w") as handle:
            handle.write(text)
    return str(directory)


def test_reads_v2_limits(tmp_path):
    directory = make(tmp_path / "app", {
        "memory.max": "536870912\n", "memory.high": "max\n", "memory.swap.max": "0\n",
        "memory.min": "0\n", "memory.low": "67108864\n", "memory.oom.group": "1\n",
    })
    assert memory.read_limits(directory, "v2") == {
        "memory_max": 536870912, "memory_high": MAX, "swap_max": 0, "memory_min": 0,
        "memory_low": 67108864, "oom_group": True, "oom_kill_disable": None,
    }


def test_v2_without_swap_accounting_has_no_swap_max(tmp_path):
    directory = make(tmp_path / "app", {"memory.max": "max\n"})
    limits = memory.read_limits(directory, "v2")
    assert limits["memory_max"] == MAX and limits["swap_max"] is None


def test_reads_v1_limits_with_memsw_as_swap(tmp_path):
    directory = make(tmp_path / "app", {
        "memory.limit_in_bytes": "536870912\n", "memory.soft_limit_in_bytes": V1_UNLIMITED + "\n",
        "memory.memsw.limit_in_bytes": "805306368\n",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
    })
    limits = memory.read_limits(directory, "v1")
    assert limits["memory_max"] == 536870912
    assert limits["memory_high"] == MAX  # the soft limit, unlimited
    assert limits["swap_max"] == 268435456  # memsw - limit
    assert limits["oom_kill_disable"] is False
    assert limits["memory_min"] is None and limits["oom_group"] is None


def test_v1_unlimited_with_64k_pages_is_max():
    assert memory.parse_kernel("9223372036854710272\n", v1=True) == MAX
    assert memory.parse_kernel("9223372036854710272\n", v1=False) == 9223372036854710272
    assert memory.parse_kernel(None) is None
    assert memory.parse_kernel("max\n") == MAX


def test_plan_v2_writes_only_differences():
    current = {"memory_max": MAX, "memory_high": MAX, "swap_max": MAX, "memory_min": 0, "memory_low": 0, "oom_group": False}
    writes = memory.plan_writes("v2", {"memory_max": 536870912, "memory_low": 0, "oom_group": True}, current)
    assert writes == [("memory.max", "536870912", "memory_max"), ("memory.oom.group", "1", "oom_group")]
    assert memory.plan_writes("v2", {"memory_max": MAX}, current) == []


def test_plan_v1_orders_memsw_and_limit():
    current = {"memory_max": 268435456, "swap_max": 0, "_memsw": 268435456, "memory_high": MAX}
    # Growing: memsw first, or the kernel refuses limit > memsw.
    grow = memory.plan_writes("v1", {"memory_max": 536870912, "swap_max": 0}, current)
    assert [name for name, _text, _key in grow] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    assert grow[0][1] == "536870912"
    # Shrinking: limit first.
    current = {"memory_max": 536870912, "swap_max": 0, "_memsw": 536870912, "memory_high": MAX}
    shrink = memory.plan_writes("v1", {"memory_max": 268435456, "swap_max": 0}, current)
    assert [name for name, _text, _key in shrink] == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    # Unlimited is -1 on v1.
    current = {"memory_max": 536870912, "swap_max": MAX, "_memsw": MAX, "memory_high": MAX}
    assert memory.plan_writes("v1", {"memory_max": MAX}, current) == [("memory.limit_in_bytes", "-1", "memory_max")]


# memory.memsw.limit_in_bytes must stay >= memory.limit_in_bytes, or the kernel answers EINVAL.
SWAP_0 = {"memory_max": 256 << 20, "swap_max": 0, "_memsw": 256 << 20, "memory_high": MAX}
SWAP_64M = {"memory_max": 256 << 20, "swap_max": 64 << 20, "_memsw": 320 << 20, "memory_high": MAX}


def apply_v1(current, writes):
    """The limit and memsw after ``writes``, as a v1 kernel takes them one by one (EINVAL when
    memsw would fall below the limit)."""
    limit, memsw = current["memory_max"], current["_memsw"]
    big = 1 << 63
    for name, text, _key in writes:
        value = big if text == "-1" else int(text)
        if name == "memory.limit_in_bytes":
            limit = value
        elif name == "memory.memsw.limit_in_bytes":
            memsw = value
        assert memsw >= limit, "EINVAL at %s=%s" % (name, text)
    return limit, memsw


@pytest.mark.parametrize("current", [SWAP_0, SWAP_64M])
@pytest.mark.parametrize("new_limit", [1 << 30, 128 << 20, 300 << 20])
def test_plan_v1_memory_max_alone_keeps_the_swap_allowance(current, new_limit):
    swap = current["swap_max"]
    writes = memory.plan_writes("v1", {"memory_max": new_limit}, current)
    assert apply_v1(current, writes) == (new_limit, new_limit + swap)


def test_plan_v1_memory_max_unchanged_writes_nothing():
    assert memory.plan_writes("v1", {"memory_max": 256 << 20}, SWAP_0) == []


def test_plan_v1_memory_max_alone_to_max_would_lift_the_swap_limit():
    with pytest.raises(ValueError) as caught:
        memory.plan_writes("v1", {"memory_max": MAX}, SWAP_0)
    assert "memory_max" in str(caught.value) and "swap_max: max" in str(caught.value)
    # Saying so lifts both, memsw first.
    writes = memory.plan_writes("v1", {"memory_max": MAX, "swap_max": MAX}, SWAP_0)
    assert [text for _name, text, _key in writes] == ["-1", "-1"]
    assert apply_v1(SWAP_0, writes) == (1 << 63, 1 << 63)


def test_plan_v1_memsw_cap_without_memory_limit():
    # Someone capped memory + swap only: a memory_max below the cap keeps it, one above is refused.
    current = {"memory_max": MAX, "swap_max": 512 << 20, "_memsw": 512 << 20, "memory_high": MAX}
    writes = memory.plan_writes("v1", {"memory_max": 256 << 20}, current)
    assert writes == [("memory.limit_in_bytes", str(256 << 20), "memory_max")]
    with pytest.raises(ValueError, match="memory_max.*swap_max"):
        memory.plan_writes("v1", {"memory_max": 1 << 30}, current)


def test_plan_v1_swap_needs_a_memory_limit():
    with pytest.raises(ValueError, match="needs a memory_max"):
        memory.plan_writes("v1", {"swap_max": 0}, {"memory_max": MAX, "_memsw": MAX})


def test_plan_v1_high_is_the_soft_limit_and_oom_control():
    current = {"memory_max": MAX, "memory_high": MAX, "_memsw": MAX, "oom_kill_disable": False}
    writes = memory.plan_writes("v1", {"memory_high": 402653184, "oom_kill_disable": True}, current)
    assert writes == [("memory.soft_limit_in_bytes", "402653184", "memory_high"),
                      ("memory.oom_control", "1", "oom_kill_disable")]


def test_write_control_truncates_like_a_shell(tmp_path):
    directory = make(tmp_path / "app", {"memory.max": "max\n"})
    memory.write_control(directory, "memory.max", "4096")
    assert open(os.path.join(directory, "memory.max")).read() == "4096\n"


def test_write_control_errors_explain(tmp_path):
    with pytest.raises(memory.CgroupError) as caught:
        memory.write_control(str(tmp_path), "memory.swap.max", "0")
    assert caught.value.errno == errno.ENOENT
    assert "no such file" in str(caught.value)


def test_stats_v2_and_v1(tmp_path):
    v2 = make(tmp_path / "v2", {"memory.current": "1236992\n",
                                "memory.events": "low 0\nhigh 4\nmax 9\noom 2\noom_kill 1\n"})
    assert memory.read_stats(v2, "v2") == {"usage": 1236992, "oom": 2, "oom_kill": 1, "failcnt": None}
    v1 = make(tmp_path / "v1", {"memory.usage_in_bytes": "4096\n", "memory.failcnt": "17\n",
                                "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"})
    assert memory.read_stats(v1, "v1") == {"usage": 4096, "oom": 0, "oom_kill": 2, "failcnt": 17}


def test_process_cgroup_per_hierarchy():
    text = "12:memory:/rock5b/app\n1:name=systemd:/system.slice/ssh.service\n0::/system.slice/ssh.service\n"
    assert hierarchy.process_cgroup(text, "v1") == "/rock5b/app"
    assert hierarchy.process_cgroup(text, "v2") == "/system.slice/ssh.service"
    assert hierarchy.process_cgroup("4:cpu,memory:/x\n", "v1") == "/x"
    assert hierarchy.process_cgroup("1:name=systemd:/\n", "v2") is None


def test_paths_inside_a_container_without_cgroup_namespace():
    mounts = [{"mount_point": "/sys/fs/cgroup/memory", "root": "/libpod_parent/libpod-1", "fstype": "cgroup",
               "options": ["rw", "memory"]}]
    root = hierarchy.mount_root(mounts, "/sys/fs/cgroup/memory")
    assert root == "/libpod_parent/libpod-1"
    assert hierarchy.relative_path("/libpod_parent/libpod-1/system.slice/x.service", root) == "/system.slice/x.service"
    assert hierarchy.relative_path("/libpod_parent/libpod-1", root) == "/"
    assert hierarchy.relative_path("/other", root) is None
    assert hierarchy.relative_path("/rock5b/app", "/") == "/rock5b/app"


def test_subtree_control(tmp_path):
    assert memory.subtree_has_memory(make(tmp_path / "a", {"cgroup.subtree_control": "cpu memory pids\n"}))
    assert not memory.subtree_has_memory(make(tmp_path / "b", {"cgroup.subtree_control": "cpu\n"}))
    assert not memory.subtree_has_memory(str(tmp_path / "missing"))


def test_render_writes_a_value_back_per_hierarchy():
    assert memory.render("v2", "memory_max", MAX) == "max" and memory.render("v2", "oom_group", True) == "1"
    assert memory.render("v1", "memory_max", MAX) == "-1" and memory.render("v1", "swap_max", 4096) == "4096"
    assert memory.render("v1", "oom_kill_disable", False) == "0"


def test_defaults_of_a_new_cgroup():
    assert memory.defaults("v2")["memory_min"] == 0 and memory.defaults("v2")["oom_kill_disable"] is None
    assert memory.defaults("v1")["memory_min"] is None and memory.defaults("v1")["oom_kill_disable"] is False


def test_probe_directory_finds_a_cgroup_that_shows_the_files(tmp_path):
    mount = str(tmp_path / "cg")
    make(tmp_path / "cg" / "system.slice", {"memory.max": "max\n"})
    assert memory.probe_directory(mount, os.path.join(mount, "rock5b", "app")) == os.path.join(mount, "system.slice")
    make(tmp_path / "cg" / "rock5b", {})
    assert memory.probe_directory(mount, os.path.join(mount, "rock5b", "app")) == os.path.join(mount, "rock5b")
