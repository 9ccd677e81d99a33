"""Memory limits enforced by real kernels (rock5b.oom.cgroup_limits, rock5b.oom.cgroup_memory).

Runs once per VM booted in cgroup v2 or v1 mode (not on nopsi, which is v2 again). Needs site.yml to apply the cgroup_limits role
with the VM scenario's group_vars (molecule.yml):

    cgroup_limits_units:
      - unit: rock5b-untrusted.slice
        memory_max: 256M
        memory_high: 224M          # cgroup v1: a warning, systemd applies only MemoryMax there
    cgroup_limits_raw:
      - path: rock5b/raw-test
        memory_max: 128M

and vm.overcommit_memory 0 (the scenario sets it for the OOM drill): under strict overcommit a
hog gets ENOMEM before it reaches a cgroup limit.

What is checked: the slice's and the raw cgroup's limits are in the kernel's files; a process
that exceeds its group's limit is OOM-killed inside that group (memory.events oom_kill on v2,
memory.failcnt of the slice / memory.oom_control oom_kill of the raw cgroup on v1, and the
kernel log's "Memory cgroup out of memory" with oom_memcg=<the group>), while a process next
to it in the same group, a process outside and sshd survive; and the module applies a limit to a running service live, without restarting it, and a second run
changes nothing.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess
import time

import pytest

SLICE = "rock5b-untrusted.slice"
SLICE_LIMIT = 256 << 20
RAW = "rock5b/raw-test"
RAW_LIMIT = 128 << 20
REPO = pathlib.Path(__file__).resolve().parents[4]
HOG = r"""
import sys, time
chunks = []
while True:
    chunks.append(b"\x01" * (16 << 20))
    time.sleep(0.05)
"""
HOG_PATH = "/root/rock5b-cg-hog.py"
# The nopsi VM is cgroup v2 like v2: these tests would only repeat v2's, at v2's cost.
pytestmark = [pytest.mark.vm_modes("v2", "v1"), pytest.mark.feature("cgroup limits")]


def memory_dir(vm, relative):
    base = "/sys/fs/cgroup" if vm.mode != "v1" else "/sys/fs/cgroup/memory"
    return "%s/%s" % (base, relative.strip("/"))


def read_int(vm, path):
    return int(vm.read(path))


def kills(vm, directory):
    """OOM kills inside a memory cgroup (v2 memory.events, v1 memory.oom_control)."""
    name = "memory.events" if vm.mode != "v1" else "memory.oom_control"
    for line in vm.read("%s/%s" % (directory, name)).splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    raise AssertionError("no oom_kill in %s/%s" % (directory, name))


def limit_file(vm):
    return "memory.max" if vm.mode != "v1" else "memory.limit_in_bytes"


def unit_prop(vm, unit, prop):
    return vm.run("systemctl show -p %s --value %s" % (prop, unit)).strip()


@pytest.fixture(scope="module")
def hog(vm):
    vm.run("cat > %s <<'EOF'\n%s\nEOF" % (HOG_PATH, HOG))
    return HOG_PATH


def test_slice_drop_in_and_unit_file(vm):
    assert "MemoryMax=256M" in vm.read("/etc/systemd/system/%s.d/60-rock5b-memory.conf" % SLICE)
    assert vm.run("test -f /etc/systemd/system/%s && echo yes" % SLICE).strip() == "yes"
    assert unit_prop(vm, SLICE, "MemoryMax") == str(SLICE_LIMIT)


def test_raw_cgroup_has_its_limit(vm):
    directory = memory_dir(vm, RAW)
    assert read_int(vm, "%s/%s" % (directory, limit_file(vm))) == RAW_LIMIT


def test_process_over_the_slice_limit_is_killed_inside_the_slice(vm, hog):
    tag = str(int(time.time()))
    keeper, outside, hogunit = "rock5b-cg-keeper-%s" % tag, "rock5b-cg-outside-%s" % tag, "rock5b-cg-hog-%s" % tag
    sshd = unit_prop(vm, "ssh.service", "MainPID")
    vm.run("systemd-run --quiet --unit=%s --slice=%s /bin/sleep 3600" % (keeper, SLICE))
    vm.run("systemd-run --quiet --unit=%s /bin/sleep 3600" % outside)
    directory = memory_dir(vm, "rock5b.slice/%s" % SLICE)
    # The slice is active now: systemd realized its cgroup with the drop-in's limit.
    assert read_int(vm, "%s/%s" % (directory, limit_file(vm))) == SLICE_LIMIT
    before = kills(vm, directory)
    failcnt = read_int(vm, directory + "/memory.failcnt") if vm.mode == "v1" else None
    cursor = "/run/%s.cursor" % hogunit
    vm.run("journalctl -k -q -n 0 --cursor-file=%s >/dev/null" % cursor)
    vm.run("systemd-run --quiet --unit=%s --slice=%s /usr/bin/python3 %s" % (hogunit, SLICE, hog))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if unit_prop(vm, hogunit + ".service", "ActiveState") in ("failed", "inactive"):
            break
        time.sleep(2)
    result = unit_prop(vm, hogunit + ".service", "Result")
    log = vm.run("journalctl -k -q --no-pager --cursor-file=%s" % cursor)
    try:
        if vm.mode == "v1":
            # v1 counts oom_kill in the victim's own memcg only (the hog's service cgroup, gone
            # now); the slice counts hitting its limit.
            assert read_int(vm, directory + "/memory.failcnt") > failcnt
        else:
            # v2 memory.events are hierarchical: the slice counts the kill below it.
            assert kills(vm, directory) > before, "no OOM kill counted in the slice's cgroup"
        assert "Memory cgroup out of memory" in log, log[-2000:]
        # the kernel names the cgroup whose limit was hit
        assert "oom_memcg=/rock5b.slice/%s" % SLICE in log, log[-2000:]
        assert result in ("oom-kill", "signal"), result
        if vm.mode != "v1":
            assert result == "oom-kill"
        # Only the hog died: its neighbour in the slice, a process outside and sshd live on.
        assert unit_prop(vm, keeper + ".service", "ActiveState") == "active"
        assert unit_prop(vm, outside + ".service", "ActiveState") == "active"
        assert unit_prop(vm, "ssh.service", "MainPID") == sshd
    finally:
        vm.run("systemctl stop %s %s; systemctl reset-failed %s 2>/dev/null; true" % (keeper, outside, hogunit),
               check=False)


def test_process_over_the_raw_limit_is_killed_inside_the_raw_cgroup(vm, hog):
    directory = memory_dir(vm, RAW)
    before = kills(vm, directory)
    outside = vm.run("nohup sleep 3600 >/dev/null 2>&1 & echo $!").strip()
    # The seed's way: the process puts itself into the cgroup, then allocates. The outer shell
    # stays outside and reports how the inner one ended.
    inner = "echo $$ > %s/cgroup.procs && exec python3 %s" % (directory, hog)
    out = vm.run("sh -c %s; echo rc=$?" % shlex.quote(inner), check=False)
    assert "rc=137" in out, out[-500:]  # 128 + SIGKILL, from the OOM killer
    assert kills(vm, directory) > before
    assert vm.run("kill -0 %s && echo alive" % outside).strip() == "alive"
    vm.run("kill %s" % outside, check=False)


def run_module(vm, args, check=False):
    """rock5b.oom.cgroup_memory on the VM through ansible, as the role calls it; the result dict."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    command = [
        "ansible", "all", "-i", "127.0.0.1,", "-m", "rock5b.oom.cgroup_memory", "-a", json.dumps(args),
        "-e", "ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s ansible_python_interpreter=/usr/bin/python3"
        % (vm.port, vm.key),
        "-e", "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'",
    ] + (["--check"] if check else [])
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(REPO), timeout=600)
    data = json.loads(done.stdout)
    return data["plays"][0]["tasks"][0]["hosts"]["127.0.0.1"]


def test_running_service_gets_a_limit_live_without_restart(vm):
    unit = "rock5b-cg-live.service"
    vm.run("printf '[Service]\\nExecStart=/bin/sleep infinity\\n' > /etc/systemd/system/%s && "
           "systemctl daemon-reload && systemctl restart %s" % (unit, unit))
    pid = unit_prop(vm, unit, "MainPID")
    try:
        predicted = run_module(vm, {"unit": unit, "memory_max": "64M"}, check=True)
        assert predicted["changed"] and predicted["live_changed"] == ["MemoryMax"], predicted
        result = run_module(vm, {"unit": unit, "memory_max": "64M"})
        assert result["changed"] and not result.get("failed"), result
        assert result["kernel"]["memory_max"] == 64 << 20, result
        directory = memory_dir(vm, "system.slice/" + unit)
        assert read_int(vm, "%s/%s" % (directory, limit_file(vm))) == 64 << 20
        assert unit_prop(vm, unit, "MainPID") == pid, "the service was restarted"
        again = run_module(vm, {"unit": unit, "memory_max": "64M"})
        assert not again["changed"], again
    finally:
        run_module(vm, {"unit": unit, "state": "absent"})
        vm.run("systemctl stop %s; rm -f /etc/systemd/system/%s; systemctl daemon-reload" % (unit, unit), check=False)


def test_hierarchy_is_reported(vm):
    result = run_module(vm, {"state": "query"})
    # systemd.unified_cgroup_hierarchy=0 gives systemd 252's hybrid layout: v1 controllers plus a
    # controller-less cgroup2 tree at /sys/fs/cgroup/unified; memory is in v1 either way.
    assert result["cgroup"]["version"] in (("v1", "hybrid") if vm.mode == "v1" else ("v2",))
    assert result["hierarchy"] == ("v1" if vm.mode == "v1" else "v2")
    assert result["cgroup"]["memory"]["available"]
