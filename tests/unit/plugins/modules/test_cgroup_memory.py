"""rock5b.oom.cgroup_memory against fake cgroup v1 and v2 trees and a fake systemd.

FakeKernel stands in for cgroupfs: mkdir fills a cgroup with its control files, writes are
parsed as the kernel parses them (pages, ``max``/``-1``, memsw >= limit, +memory, moving a pid).
FakeSystemd answers ``systemctl`` from the drop-ins in the fake file system.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys

import pytest

from ansible.module_utils import basic
from ansible_collections.rock5b.oom.plugins.module_utils import raw_cgroup, selection, unit_limits
from ansible_collections.rock5b.oom.plugins.module_utils import systemd as systemd_layer
from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import memory as memcg
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import sizes
from ansible_collections.rock5b.oom.plugins.modules import cgroup_memory
from unit_helpers import fixture_reader, write

fixture = fixture_reader("cgroup", comment="#")
PAGE = 4096
V1_MAX = 9223372036854771712
M = 1 << 20


def read(path):
    with open(path) as handle:
        return handle.read()


class FakeKernel:
    def __init__(self, host, hierarchy, swap=True, memory=True):
        self.host, self.hierarchy, self.swap = host, hierarchy, swap
        self.mount = host.path("/sys/fs/cgroup" if hierarchy == "v2" else "/sys/fs/cgroup/memory")
        self.writes = []
        if hierarchy == "v2":
            write(os.path.join(host.proc, "self", "mountinfo"), fixture(
                "v2-debian12.mountinfo" if memory else "v2-nomemory.mountinfo"))
            write(os.path.join(host.proc, "cgroups"), fixture(
                "v2-debian12.cgroups" if memory else "v2-nomemory.cgroups"))
            write(os.path.join(self.mount, "cgroup.controllers"), "cpuset cpu io memory pids\n" if memory else "cpu io pids\n")
            write(os.path.join(self.mount, "cgroup.subtree_control"), "cpu io memory pids\n" if memory else "cpu io pids\n")
        else:
            write(os.path.join(host.proc, "self", "mountinfo"), fixture("v1-legacy.mountinfo"))
            write(os.path.join(host.proc, "cgroups"), fixture("v1-legacy.cgroups"))
        write(os.path.join(self.mount, "cgroup.procs"), "1\n")
        self.create(os.path.join(self.mount, "system.slice"))

    def path(self, relative):
        return os.path.join(self.mount, relative.strip("/"))

    def create(self, path):
        os.mkdir(path)
        if self.hierarchy == "v2":
            files = {"memory.max": "max", "memory.high": "max", "memory.min": "0", "memory.low": "0",
                     "memory.oom.group": "0", "memory.current": "0", "cgroup.subtree_control": "",
                     "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0"}
            if self.swap:
                files["memory.swap.max"] = "max"
        else:
            files = {"memory.limit_in_bytes": str(V1_MAX), "memory.soft_limit_in_bytes": str(V1_MAX),
                     "memory.usage_in_bytes": "0", "memory.failcnt": "0",
                     "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0"}
            if self.swap:
                files["memory.memsw.limit_in_bytes"] = str(V1_MAX)
        files["cgroup.procs"] = ""
        for name, text in files.items():
            write(os.path.join(path, name), text + "\n")

    def value(self, text):
        if text in ("max", "-1"):
            return "max" if self.hierarchy == "v2" else str(V1_MAX)
        return str(int(text) // PAGE * PAGE)

    def write_control(self, directory, name, text):
        self.writes.append((os.path.relpath(directory, self.mount), name, text))
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            raise memcg.CgroupError("no such file %s" % path, OSError(errno.ENOENT, "No such file"))
        if name == "cgroup.subtree_control":
            if directory != self.mount and memcg.read_procs(directory):
                raise memcg.CgroupError("busy", OSError(errno.EBUSY, "Device or resource busy"))
            current = read(path).split()
            write(path, " ".join(sorted(set(current) | {text.lstrip("+")})) + "\n")
        elif name == "cgroup.procs":
            pid = int(text)
            for top, _dirs, files in os.walk(self.mount):
                if "cgroup.procs" in files:
                    procs = [p for p in memcg.read_procs(top) if p != pid]
                    write(os.path.join(top, "cgroup.procs"), "".join("%d\n" % p for p in procs))
            write(path, "".join("%d\n" % p for p in sorted(memcg.read_procs(directory) + [pid])))
            relative = "/" + os.path.relpath(directory, self.mount)
            line = "0::%s\n" % relative if self.hierarchy == "v2" else "4:memory:%s\n1:name=systemd:/user.slice\n" % relative
            write(os.path.join(self.host.proc, str(pid), "cgroup"), line)
        elif name == "memory.oom_control":
            oom = memcg.parse_oom_control(read(path))
            oom["oom_kill_disable"] = int(text)
            write(path, "".join("%s %d\n" % item for item in oom.items()))
        elif name == "memory.oom.group":
            write(path, text + "\n")
        else:
            new = self.value(text)
            if self.hierarchy == "v1":
                limit = int(read(os.path.join(directory, "memory.limit_in_bytes")))
                memsw_file = os.path.join(directory, "memory.memsw.limit_in_bytes")
                memsw = int(read(memsw_file)) if os.path.exists(memsw_file) else None
                if name == "memory.limit_in_bytes" and memsw is not None and int(new) > memsw:
                    raise memcg.CgroupError("limit above memsw", OSError(errno.EINVAL, "Invalid argument"))
                if name == "memory.memsw.limit_in_bytes" and int(new) < limit:
                    raise memcg.CgroupError("memsw below limit", OSError(errno.EINVAL, "Invalid argument"))
            write(path, new + "\n")

    def remove(self, path):
        """rmdir as cgroupfs does it: the control files go along; child cgroups or processes: EBUSY."""
        if any(os.path.isdir(os.path.join(path, name)) for name in os.listdir(path)) or memcg.read_procs(path):
            raise OSError(errno.EBUSY, "Device or resource busy")
        shutil.rmtree(path)

    def refuse(self, monkeypatch, control, code):
        """From now on the kernel refuses every write to ``control`` with errno ``code``."""
        def write_control(directory, name, text):
            if name == control:
                raise memcg.CgroupError("writing %s failed: %s" % (name, os.strerror(code)), OSError(code, os.strerror(code)))
            self.write_control(directory, name, text)
        monkeypatch.setattr(memcg, "write_control", write_control)

    def install(self, monkeypatch):
        monkeypatch.setattr(memcg, "write_control", self.write_control)
        monkeypatch.setattr(raw_cgroup, "create_cgroup", self.create)
        monkeypatch.setattr(raw_cgroup, "remove_cgroup", self.remove)
        monkeypatch.setattr(sizes, "page_size", lambda: PAGE)


def add_process(host, pid, comm, cgroup, hierarchy, ppid=1):
    base = os.path.join(host.proc, str(pid))
    fields = ["S", str(ppid), str(pid), str(pid), "0", "-1", "4194560"] + ["0"] * 12 + [str(1000 + pid)] + ["0"] * 20
    write(os.path.join(base, "stat"), "%d (%s) %s\n" % (pid, comm, " ".join(fields)))
    write(os.path.join(base, "cmdline"), "/usr/bin/%s\0--serve\0" % comm)
    write(os.path.join(base, "oom_score_adj"), "0\n")
    if hierarchy == "v2":
        write(os.path.join(base, "cgroup"), "0::%s\n" % cgroup)
    else:
        write(os.path.join(base, "cgroup"), "4:memory:%s\n1:name=systemd:%s\n" % (cgroup, cgroup))


@pytest.fixture
def v2(host_fs, monkeypatch):
    kernel = FakeKernel(host_fs, "v2")
    kernel.install(monkeypatch)
    return kernel


@pytest.fixture
def v1(host_fs, monkeypatch):
    kernel = FakeKernel(host_fs, "v1")
    kernel.install(monkeypatch)
    return kernel


# --- raw cgroups, v2 ----------------------------------------------------------------------------

def test_v2_creates_the_cgroup_enables_memory_and_sets_limits(run_module, v2):
    result = run_module(cgroup_memory, {"path": "rock5b/myapp", "memory_max": "512M", "memory_high": "200000000",
                                        "swap_max": 0, "oom_group": True})
    assert result.get("failed") is None, result
    assert result["changed"]
    assert result["hierarchy"] == "v2"
    app = v2.path("rock5b/myapp")
    assert result["created"] == [v2.path("rock5b"), app]
    assert read(os.path.join(app, "memory.max")) == "536870912\n"
    assert read(os.path.join(app, "memory.high")) == "199999488\n"  # rounded down to a page
    assert read(os.path.join(app, "memory.swap.max")) == "0\n"
    assert read(os.path.join(app, "memory.oom.group")) == "1\n"
    assert "memory" in read(v2.path("rock5b") + "/cgroup.subtree_control").split()
    assert result["after"]["memory_max"] == 536870912 and result["after"]["memory_high"] == 199999488
    assert any("vanish at reboot" in warning for warning in result["warnings"])


def test_v2_second_run_changes_nothing(run_module, v2):
    args = {"path": "rock5b/myapp", "memory_max": "512M", "memory_high": "384M"}
    run_module(cgroup_memory, args)
    v2.writes.clear()
    result = run_module(cgroup_memory, args)
    assert not result["changed"]
    assert v2.writes == []
    assert result["before"] == result["after"]
    assert result["warnings"] == []


def test_max_means_no_limit(run_module, v2):
    run_module(cgroup_memory, {"path": "app", "memory_max": "512M"})
    result = run_module(cgroup_memory, {"path": "app", "memory_max": "max"})
    assert result["changed"] and result["after"]["memory_max"] == "max"
    assert read(v2.path("app") + "/memory.max") == "max\n"
    assert not run_module(cgroup_memory, {"path": "app", "memory_max": "infinity"})["changed"]


def test_check_mode_predicts_and_changes_nothing(run_module, v2, fake_host):
    add_process(fake_host, 4242, "myapp", "/user.slice/user-1000.slice/session-3.scope", "v2")
    args = {"path": "rock5b/myapp", "memory_max": "512M", "comm": "myapp"}
    before = fake_host.snapshot()
    predicted = run_module(cgroup_memory, args, check_mode=True, diff=True)
    assert fake_host.snapshot() == before
    assert v2.writes == []
    assert not os.path.exists(v2.path("rock5b"))
    assert predicted["changed"]
    assert predicted["moved"] == [4242]
    assert predicted["after"]["memory_max"] == 536870912
    assert "memory_max = 512M" in predicted["diff"]["after"]
    assert "cgroup.procs += 4242" in predicted["diff"]["after"]
    real = run_module(cgroup_memory, args)
    assert real["changed"] and real["moved"] == predicted["moved"]
    assert real["after"] == predicted["after"]
    assert real["written"] == predicted["written"]
    assert real["procs"] == [4242]


def test_diff_shows_before_and_after(run_module, v2):
    run_module(cgroup_memory, {"path": "app", "memory_max": "1G"})
    result = run_module(cgroup_memory, {"path": "app", "memory_max": "512M"}, diff=True)
    assert "memory_max = 1G" in result["diff"]["before"]
    assert "memory_max = 512M" in result["diff"]["after"]
    assert result["before"]["memory_max"] == 1 << 30


def test_moves_selected_processes_once(run_module, v2, fake_host):
    add_process(fake_host, 500, "myapp", "/user.slice/user-1000.slice/session-3.scope", "v2")
    add_process(fake_host, 501, "worker", "/user.slice/user-1000.slice/session-3.scope", "v2", ppid=500)
    add_process(fake_host, 502, "other", "/user.slice/user-1000.slice/session-3.scope", "v2")
    result = run_module(cgroup_memory, {"path": "app", "memory_max": "256M", "pids": [501], "pattern": "myapp --serve"})
    assert result["moved"] == [500, 501]
    assert memcg.read_procs(v2.path("app")) == [500, 501]
    assert read(os.path.join(fake_host.proc, "502", "cgroup")) == "0::/user.slice/user-1000.slice/session-3.scope\n"
    again = run_module(cgroup_memory, {"path": "app", "memory_max": "256M", "pids": [501], "pattern": "myapp --serve"})
    assert not again["changed"] and again["moved"] == []


def test_moving_a_service_process_warns(run_module, v2, fake_host):
    add_process(fake_host, 700, "myapp", "/system.slice/myapp.service", "v2")
    result = run_module(cgroup_memory, {"path": "app", "pids": [700]})
    assert result["moved"] == [700]
    assert any("belongs to myapp.service" in warning for warning in result["warnings"])


def test_unknown_pid_fails_before_any_change(run_module, v2, fake_host):
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"path": "app", "memory_max": "256M", "pids": [99999]})
    assert result["failed"] and "99999" in result["msg"]
    assert fake_host.snapshot() == before and v2.writes == []


@pytest.mark.parametrize("args, fragment", [
    ({"memory_max": "512MB"}, "ambiguous"),
    ({"memory_max": "12Q"}, "unknown unit"),
    ({"memory_max": "512K"}, "below 1M"),
    ({"memory_max": "512M", "memory_high": "1G"}, "memory_high (1G) must not be above memory_max (512M)"),
    ({"memory_min": "1G", "memory_low": "512M"}, "memory_min (1G) must not be above memory_low (512M)"),
    ({"memory_low": "1G", "memory_high": "max", "memory_max": "512M"}, "memory_low (1G) must not be above memory_max"),
    ({"memory_max": "512M", "pattern": "("}, "not a valid regular expression"),
    # 2**70: the kernel's memparse() wraps it to 0, a limit that OOM-kills the group at once
    ({"memory_max": "1180591620717411303424"}, "memory_max: '1180591620717411303424' is above the largest size"),
    ({"memory_max": 1 << 70}, "memory_max: 1180591620717411303424 is above the largest size"),
    ({"memory_max": "512M", "swap_max": "2000T"}, "swap_max: '2000T' is above the largest size"),
    ({"memory_low": "1025T"}, "memory_low: '1025T' is above the largest size"),
    ({"memory_max": True}, "memory_max: True is not a size"),
    ({"memory_max": "512M", "swap_max": float("nan")}, "swap_max: nan is not a whole number"),
    ({"memory_high": float("inf")}, "memory_high: inf is not a whole number"),
    ({"memory_max": "nan"}, "memory_max: 'nan' is not a size"),
    ({"memory_max": 0}, "memory_max: 0 is below 1M"),
    ({"memory_max": "512M", "pids": [True]}, "pids: True is not a process id"),
])
def test_bad_values_fail_before_any_change(run_module, v2, fake_host, args, fragment):
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, dict(args, path="app"))
    assert result["failed"], result
    assert fragment in result["msg"]
    assert "nothing was changed" in result["msg"]
    assert fake_host.snapshot() == before


@pytest.mark.parametrize("path", ["", "/", "..", "a/../../etc"])
def test_path_must_stay_inside_and_not_be_the_root(run_module, v2, path):
    result = run_module(cgroup_memory, {"path": path, "memory_max": "512M"})
    assert result["failed"]


@pytest.mark.parametrize("path, fragment", [
    ("rock5b/a\x00b", "control character"),  # os.mkdir raised ValueError: a traceback
    ("rock5b/a\nb", "control character"),  # the kernel refuses it (EINVAL) after rock5b is created
    ("rock5b/" + "x" * 256, "longer than 255 bytes"),  # ENAMETOOLONG after rock5b is created
])
def test_path_with_a_name_the_kernel_refuses_fails_before_any_change(run_module, v2, fake_host, path, fragment):
    # The module's own refusal, on every Python: with no_target_syslog (which reaches the module as
    # _ansible_no_log) ansible-core does not log the invocation, so it cannot refuse a NUL first
    # (see the next test).
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"path": path, "memory_max": "512M", "_ansible_no_log": True})
    assert result["failed"] and "path: " in result["msg"] and fragment in result["msg"], result
    assert "nothing was changed" in result["msg"]
    assert fake_host.snapshot() == before and v2.writes == []


def test_path_with_a_nul_fails_before_any_change_with_target_syslog_on(run_module, v2, fake_host):
    # With syslog logging on (the default), AnsibleModule logs the invocation before main() checks
    # anything. Python 3.12+ refuses a NUL in syslog.syslog() (ValueError), so ansible-core fails
    # the task itself; older Pythons cut the message at the NUL and the module refuses the path.
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"path": "rock5b/a\x00b", "memory_max": "512M"})
    assert result["failed"], result
    if sys.version_info >= (3, 12):
        assert "Failed to log to syslog (embedded null character)" in result["msg"], result
    else:
        assert "path: " in result["msg"] and "control character" in result["msg"], result
    assert fake_host.snapshot() == before and v2.writes == []


def test_parent_with_processes_cannot_pass_memory_down(run_module, v2, fake_host):
    os.mkdir(v2.path("busy"))
    write(v2.path("busy") + "/cgroup.procs", "77\n")
    write(v2.path("busy") + "/cgroup.subtree_control", "\n")
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"path": "busy/app", "memory_max": "512M"})
    assert result["failed"] and "holds processes" in result["msg"]
    assert fake_host.snapshot() == before


def test_missing_memory_controller_fails_with_the_reason(run_module, host_fs, fake_host, monkeypatch):
    FakeKernel(fake_host, "v2", memory=False).install(monkeypatch)
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"path": "app", "memory_max": "512M"})
    assert result["failed"]
    assert "cgroup_disable=memory" in result["msg"]
    assert fake_host.snapshot() == before
    query = run_module(cgroup_memory, {"state": "query"})
    assert not query.get("failed") and query["cgroup"]["memory"]["available"] is False
    assert query["hierarchy"] is None


def test_v2_without_swap_accounting_warns_or_fails(run_module, host_fs, fake_host, monkeypatch):
    kernel = FakeKernel(fake_host, "v2", swap=False)
    kernel.install(monkeypatch)
    result = run_module(cgroup_memory, {"path": "app", "memory_max": "512M", "swap_max": 0})
    assert not result.get("failed"), result
    assert "swap_max" in result["unsupported"]
    assert any("swap accounting" in warning for warning in result["warnings"])
    strict = run_module(cgroup_memory, {"path": "app2", "memory_max": "512M", "swap_max": 0, "unsupported": "fail"})
    assert strict["failed"] and "swap_max" in strict["msg"]
    assert not os.path.exists(kernel.path("app2"))


def test_v2_has_no_oom_kill_disable(run_module, v2):
    result = run_module(cgroup_memory, {"path": "app", "oom_kill_disable": True, "unsupported": "fail"})
    assert result["failed"] and "oom_kill_disable" in result["msg"]


def test_absent_removes_an_empty_cgroup_only(run_module, v2, fake_host):
    run_module(cgroup_memory, {"path": "app", "memory_max": "512M"})
    add_process(fake_host, 900, "myapp", "/", "v2")
    run_module(cgroup_memory, {"path": "app", "pids": [900]})
    busy = run_module(cgroup_memory, {"path": "app", "state": "absent"})
    assert busy["failed"] and "900" in busy["msg"]
    write(v2.path("app") + "/cgroup.procs", "")
    predicted = run_module(cgroup_memory, {"path": "app", "state": "absent"}, check_mode=True)
    assert predicted["changed"] and os.path.isdir(v2.path("app"))
    # a fake tree holds files; the kernel's rmdir does not mind them
    for name in os.listdir(v2.path("app")):
        os.unlink(os.path.join(v2.path("app"), name))
    assert run_module(cgroup_memory, {"path": "app", "state": "absent"})["changed"]
    assert not os.path.exists(v2.path("app"))
    assert not run_module(cgroup_memory, {"path": "app", "state": "absent"})["changed"]


def test_query_reports_without_changing(run_module, v2, fake_host):
    run_module(cgroup_memory, {"path": "app", "memory_max": "512M"})
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"path": "app", "state": "query"})
    assert not result["changed"] and result["before"]["memory_max"] == 536870912
    assert result["stats"]["oom_kill"] == 0
    assert fake_host.snapshot() == before


def test_lowering_below_usage_warns(run_module, v2):
    run_module(cgroup_memory, {"path": "app", "memory_max": "1G"})
    write(v2.path("app") + "/memory.current", "%d\n" % (700 * M))
    result = run_module(cgroup_memory, {"path": "app", "memory_max": "512M"})
    assert any("may OOM-kill" in warning for warning in result["warnings"])


# --- raw cgroups, v1 ----------------------------------------------------------------------------

def test_v1_translates_the_vocabulary(run_module, v1):
    result = run_module(cgroup_memory, {"path": "myapp", "memory_max": "512M", "swap_max": "256M",
                                        "memory_high": "384M", "memory_low": "64M"})
    assert result.get("failed") is None, result
    assert result["hierarchy"] == "v1"
    app = v1.path("myapp")
    assert read(app + "/memory.limit_in_bytes") == "536870912\n"
    assert read(app + "/memory.memsw.limit_in_bytes") == "805306368\n"  # memory + swap
    assert read(app + "/memory.soft_limit_in_bytes") == "402653184\n"
    assert result["unsupported"] == {"memory_low": memcg.UNSUPPORTED[("v1", "memory_low")]}
    assert any("no throttling limit" in warning for warning in result["warnings"])
    assert any("memory_low" in warning for warning in result["warnings"])
    assert result["after"]["swap_max"] == 256 * M
    # no cgroup.subtree_control on v1
    assert not any(name == "cgroup.subtree_control" for _dir, name, _text in v1.writes)
    again = run_module(cgroup_memory, {"path": "myapp", "memory_max": "512M", "swap_max": "256M", "memory_high": "384M"})
    assert not again["changed"]


def test_v1_raising_the_limit_writes_memsw_first(run_module, v1):
    run_module(cgroup_memory, {"path": "myapp", "memory_max": "256M", "swap_max": 0})
    v1.writes.clear()
    result = run_module(cgroup_memory, {"path": "myapp", "memory_max": "1G", "swap_max": 0})
    assert result.get("failed") is None, result
    assert [name for _dir, name, _text in v1.writes] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    assert result["after"]["memory_max"] == 1 << 30 and result["after"]["swap_max"] == 0


def memsw_and_limit(v1, path):
    return (int(read(v1.path(path) + "/memory.memsw.limit_in_bytes")),
            int(read(v1.path(path) + "/memory.limit_in_bytes")))


@pytest.mark.parametrize("new_max", ["1G", "128M"])
def test_v1_memory_max_alone_keeps_no_swap_after_swap_max_0(run_module, v1, new_max):
    # Raising the limit alone used to fail (EINVAL: limit above memsw); lowering it alone left memsw
    # where it was, so the group could suddenly swap (memsw - limit) although swap_max was 0.
    assert run_module(cgroup_memory, {"path": "myapp", "memory_max": "256M", "swap_max": 0})["changed"]
    result = run_module(cgroup_memory, {"path": "myapp", "memory_max": new_max})
    assert result.get("failed") is None, result
    wanted = sizes.parse_size(new_max)
    assert memsw_and_limit(v1, "myapp") == (wanted, wanted)
    assert result["after"]["swap_max"] == 0 and result["after"]["memory_max"] == wanted
    assert not run_module(cgroup_memory, {"path": "myapp", "memory_max": new_max})["changed"]


def test_v1_memory_max_alone_keeps_a_swap_allowance(run_module, v1):
    run_module(cgroup_memory, {"path": "myapp", "memory_max": "256M", "swap_max": "64M"})
    for new_max in ("1G", "128M"):
        result = run_module(cgroup_memory, {"path": "myapp", "memory_max": new_max})
        assert result.get("failed") is None, result
        assert memsw_and_limit(v1, "myapp") == (sizes.parse_size(new_max) + 64 * M, sizes.parse_size(new_max))


def test_v1_memory_max_alone_to_max_after_swap_max_0_fails_before_any_change(run_module, v1, fake_host):
    run_module(cgroup_memory, {"path": "myapp", "memory_max": "256M", "swap_max": 0})
    before, v1.writes[:] = fake_host.snapshot(), []
    result = run_module(cgroup_memory, {"path": "myapp", "memory_max": "max"})
    assert result["failed"] and "nothing was changed" in result["msg"]
    assert "memory_max" in result["msg"] and "swap_max: max" in result["msg"]
    assert fake_host.snapshot() == before and v1.writes == []
    lifted = run_module(cgroup_memory, {"path": "myapp", "memory_max": "max", "swap_max": "max"})
    assert lifted.get("failed") is None, lifted
    assert memsw_and_limit(v1, "myapp") == (V1_MAX, V1_MAX)


def test_v1_swap_without_memory_limit_fails(run_module, v1, fake_host):
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"path": "myapp", "swap_max": 0})
    assert result["failed"] and "needs a memory_max" in result["msg"]
    assert fake_host.snapshot() == before


def test_v1_min_and_oom_group_fail_when_asked_to(run_module, v1):
    result = run_module(cgroup_memory, {"path": "myapp", "memory_min": "64M", "oom_group": True, "unsupported": "fail"})
    assert result["failed"]
    assert "memory.min" in result["msg"] and "memory.oom.group" in result["msg"]


def test_v1_oom_kill_disable(run_module, v1):
    result = run_module(cgroup_memory, {"path": "myapp", "oom_kill_disable": True})
    assert result["changed"]
    assert "oom_kill_disable 1" in read(v1.path("myapp") + "/memory.oom_control")


def test_v1_moves_in_the_memory_hierarchy(run_module, v1, fake_host):
    add_process(fake_host, 600, "myapp", "/user.slice", "v1")
    result = run_module(cgroup_memory, {"path": "rock5b/app", "memory_max": "128M", "comm": "myapp"})
    assert result["moved"] == [600]
    assert memcg.read_procs(v1.path("rock5b/app")) == [600]
    assert not run_module(cgroup_memory, {"path": "rock5b/app", "memory_max": "128M", "comm": "myapp"})["changed"]


def test_kernel_refusal_restores_what_was_written(run_module, v1, monkeypatch):
    run_module(cgroup_memory, {"path": "myapp", "memory_max": "256M"})
    v1.refuse(monkeypatch, "memory.soft_limit_in_bytes", errno.EBUSY)
    result = run_module(cgroup_memory, {"path": "myapp", "memory_max": "512M", "memory_high": "128M"})
    assert result["failed"] and "restored" in result["msg"]
    assert read(v1.path("myapp") + "/memory.limit_in_bytes") == "268435456\n"


def test_kernel_refusal_removes_the_cgroups_created_in_the_run(run_module, v2, fake_host, monkeypatch):
    v2.refuse(monkeypatch, "memory.max", errno.EINVAL)
    result = run_module(cgroup_memory, {"path": "rock5b/app", "memory_max": "512M"})
    assert result["failed"] and "memory.max" in result["msg"]
    assert not os.path.exists(v2.path("rock5b"))


# --- systemd units ------------------------------------------------------------------------------

SHOW_DEFAULTS = {
    "MemoryMax": "infinity", "MemoryHigh": "infinity", "MemorySwapMax": "infinity", "MemoryMin": "0",
    "MemoryLow": "0", "OOMPolicy": "stop", "ManagedOOMSwap": "auto", "ManagedOOMMemoryPressure": "auto",
    "ManagedOOMMemoryPressureLimit": "0", "DropInPaths": "", "FragmentPath": "",
}


def to_show(key, value):
    if key.startswith("Memory"):
        if value == "infinity":
            return "infinity"
        return str(sizes.parse_size(value))
    if key == "ManagedOOMMemoryPressureLimit":
        return str((unit_limits.permyriad(value) * 0xFFFFFFFF + 5000) // 10000)
    return value


class FakeSystemd:
    def __init__(self, host, kernel=None, version=252):
        self.host, self.kernel, self.version = host, kernel, version
        self.units = {}
        self.runtime = {}
        self.config = {}
        self.calls = []
        self.oomd = "inactive"

    def add(self, unit, active=True, fragment=True, slice_name="system.slice"):
        cgroup = "/%s/%s" % (slice_name, unit) if active else ""
        self.units[unit] = {"LoadState": "loaded", "ActiveState": "active" if active else "inactive",
                            "ControlGroup": cgroup, "Slice": slice_name,
                            "FragmentPath": "/lib/systemd/system/%s" % unit if fragment else ""}
        if self.kernel and active and not os.path.isdir(self.kernel.path(cgroup)):
            os.makedirs(os.path.dirname(self.kernel.path(cgroup)), exist_ok=True)
            self.kernel.create(self.kernel.path(cgroup))
        self.reload()

    def reload(self):
        base = self.host.path("/etc/systemd/system")
        for unit in list(self.units) + [name[:-2] for name in (os.listdir(base) if os.path.isdir(base) else [])
                                        if name.endswith(".d")]:
            props = {}
            directory = os.path.join(base, unit + ".d")
            if os.path.isdir(directory):
                for name in sorted(os.listdir(directory)):
                    for line in read(os.path.join(directory, name)).splitlines():
                        if "=" in line and not line.startswith("#"):
                            key, value = line.split("=", 1)
                            props[key] = to_show(key, value)
            self.config[unit] = props
            if unit not in self.units and unit.endswith(".slice"):
                self.units[unit] = {"LoadState": "loaded", "ActiveState": "active", "ControlGroup": "",
                                    "Slice": "-.slice", "FragmentPath": ""}
            if os.path.exists(os.path.join(base, unit)):
                self.units.setdefault(unit, {"LoadState": "loaded", "ActiveState": "active", "ControlGroup": "",
                                             "Slice": "-.slice"})["FragmentPath"] = "/etc/systemd/system/%s" % unit
            self.apply(unit)

    def props(self, unit):
        values = dict(SHOW_DEFAULTS)
        values.update(self.units.get(unit, {"LoadState": "not-found", "ActiveState": "inactive", "ControlGroup": "",
                                            "Slice": ""}))
        values.update(self.config.get(unit, {}))
        values.update(self.runtime.get(unit, {}))
        if "Slice" in self.config.get(unit, {}):
            values["Slice"] = self.config[unit]["Slice"]
        return values

    @staticmethod
    def without_separator(args):
        """The command as systemctl reads it, after checking that every unit name follows ``--``
        (a unit name starting with ``-`` must never be read as an option)."""
        args = list(args)
        if args[1] in ("--version", "daemon-reload"):
            assert "--" not in args, args
            return args
        assert args.count("--") == 1, "no -- before the unit name: %s" % args
        separator = args.index("--")
        names = args[separator + 1:]
        if args[1] == "set-property":
            assert len(names) >= 2 and all("=" in name for name in names[1:]), args
        else:
            assert len(names) == 1, args
        assert all(not arg.startswith("-") or arg.startswith(("-p", "--")) for arg in args[:separator]), args
        return args[:separator] + names

    # What systemd writes into a v2 cgroup when it realizes it: property -> file.
    REALIZED = (("MemoryMax", "memory.max"), ("MemoryHigh", "memory.high"), ("MemorySwapMax", "memory.swap.max"))

    def apply(self, unit):
        """systemd writes the unit's limits (v2) when it realizes the cgroup."""
        props = self.props(unit)
        if not self.kernel or not props.get("ControlGroup") or props["ActiveState"] != "active":
            return
        directory = self.kernel.path(props["ControlGroup"])
        if os.path.isdir(directory) and self.kernel.hierarchy == "v2":
            for prop, name in self.REALIZED:
                value = props.get(prop)
                if value and os.path.exists(os.path.join(directory, name)):
                    write(os.path.join(directory, name), ("max" if value == "infinity" else value) + "\n")

    def run_command(self, args, **_kwargs):
        self.calls.append(self.without_separator(args))
        args = self.calls[-1]
        if args[1] == "--version":
            return 0, "systemd %d (%d.39-1~deb12u2)\n+PAM +AUDIT\n" % (self.version, self.version), ""
        if args[1] == "show":
            unit = args[-1]
            if unit == "systemd-oomd.service":
                return 0, "LoadState=loaded\nActiveState=%s\n" % self.oomd, ""
            names = [arg[2:] for arg in args if arg.startswith("-p")]
            props = self.props(unit)
            return 0, "".join("%s=%s\n" % (name, props.get(name, "")) for name in names), ""
        if args[1] == "daemon-reload":
            self.reload()
            return 0, "", ""
        if args[1] == "restart":
            unit = args[2]
            slice_name = self.props(unit)["Slice"]
            self.units[unit]["ControlGroup"] = "%s/%s" % (systemd_layer.slice_cgroup(slice_name), unit)
            return 0, "", ""
        if args[1] == "set-property":
            unit = args[3]
            for assignment in args[4:]:
                key, value = assignment.split("=", 1)
                self.runtime.setdefault(unit, {})[key] = to_show(key, value)
            self.apply(unit)
            return 0, "", ""
        return 1, "", "unexpected %s" % args


@pytest.fixture
def systemd(v2, fake_host, monkeypatch):
    fake = FakeSystemd(fake_host, v2)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", fake.run_command)
    fake.add("myapp.service")
    return fake


def dropin(host, unit):
    return host.path("/etc/systemd/system/%s.d/60-rock5b-memory.conf" % unit)


def test_unit_dropin_reload_and_kernel(run_module, systemd, fake_host, v2):
    result = run_module(cgroup_memory, {"unit": "myapp", "memory_max": "512M", "memory_high": "384M",
                                        "swap_max": 0, "oom_policy": "kill"})
    assert result.get("failed") is None, result
    assert result["changed"] and result["dropin_changed"] and result["daemon_reloaded"]
    assert read(dropin(fake_host, "myapp.service")) == (
        unit_limits.HEADER + "[Service]\nMemoryMax=512M\nMemoryHigh=384M\nMemorySwapMax=0\nOOMPolicy=kill\n")
    assert result["live_changed"] == ["MemoryMax", "MemoryHigh", "MemorySwapMax"]
    # daemon-reload was enough: no runtime override needed
    assert not any(call[1] == "set-property" for call in systemd.calls)
    assert result["after"]["live"]["MemoryMax"] == 536870912
    assert result["kernel"]["memory_max"] == 536870912
    assert not result["restart_required"]
    again = run_module(cgroup_memory, {"unit": "myapp", "memory_max": "512M", "memory_high": "384M",
                                       "swap_max": 0, "oom_policy": "kill"})
    assert not again["changed"] and again["live_changed"] == [] and not again["daemon_reloaded"]


def test_unit_live_drift_is_corrected_with_set_property_only_when_different(run_module, systemd):
    args = {"unit": "myapp.service", "memory_max": "512M"}
    run_module(cgroup_memory, args)
    systemd.runtime["myapp.service"] = {"MemoryMax": "1073741824"}  # someone ran set-property by hand
    predicted = run_module(cgroup_memory, args, check_mode=True)
    assert predicted["changed"] and predicted["live_changed"] == ["MemoryMax"] and not predicted["dropin_changed"]
    assert systemd.runtime["myapp.service"]["MemoryMax"] == "1073741824"
    systemd.calls.clear()
    result = run_module(cgroup_memory, args)
    assert result["live_changed"] == ["MemoryMax"]
    assert ["systemctl", "set-property", "--runtime", "myapp.service", "MemoryMax=512M"] in systemd.calls
    systemd.calls.clear()
    assert not run_module(cgroup_memory, args)["changed"]
    assert not any(call[1] == "set-property" for call in systemd.calls)


def test_unit_check_mode_changes_nothing(run_module, systemd, fake_host):
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"unit": "myapp", "memory_max": "512M"}, check_mode=True, diff=True)
    assert result["changed"] and result["dropin_changed"]
    assert fake_host.snapshot() == before
    assert [call[1] for call in systemd.calls] == ["--version", "show"]
    assert "MemoryMax=512M" in result["diff"][0]["after"]


def test_dedicated_slice_is_created_and_unit_placed_in_it(run_module, systemd, fake_host):
    result = run_module(cgroup_memory, {"unit": "rock5b-untrusted.slice", "memory_max": "1.5G",
                                        "managed_oom_memory_pressure": "kill",
                                        "managed_oom_memory_pressure_limit": "60%"})
    assert result.get("failed") is None, result
    assert read(fake_host.path("/etc/systemd/system/rock5b-untrusted.slice")).startswith(unit_limits.HEADER)
    assert "[Slice]\nMemoryMax=1536M\nManagedOOMMemoryPressure=kill\nManagedOOMMemoryPressureLimit=60%\n" in read(
        dropin(fake_host, "rock5b-untrusted.slice"))
    assert any("systemd-oomd is not running" in warning for warning in result["warnings"])
    assert not run_module(cgroup_memory, {"unit": "rock5b-untrusted.slice", "memory_max": "1.5G",
                                          "managed_oom_memory_pressure": "kill",
                                          "managed_oom_memory_pressure_limit": "60%"})["changed"]
    placed = run_module(cgroup_memory, {"unit": "myapp", "slice": "rock5b-untrusted.slice"})
    assert "Slice=rock5b-untrusted.slice" in read(dropin(fake_host, "myapp.service"))
    assert placed["restart_required"]
    assert any("next start" in warning for warning in placed["warnings"])
    # after a restart the unit runs in the slice
    systemd.units["myapp.service"]["ControlGroup"] = "/rock5b.slice/rock5b-untrusted.slice/myapp.service"
    again = run_module(cgroup_memory, {"unit": "myapp", "slice": "rock5b-untrusted.slice"})
    assert not again["changed"] and not again["restart_required"]


def test_absent_removes_dropin_and_own_slice_file(run_module, systemd, fake_host):
    run_module(cgroup_memory, {"unit": "rock5b-untrusted.slice", "memory_max": "1G"})
    result = run_module(cgroup_memory, {"unit": "rock5b-untrusted.slice", "state": "absent"})
    assert result["changed"]
    assert not os.path.exists(dropin(fake_host, "rock5b-untrusted.slice"))
    assert not os.path.exists(fake_host.path("/etc/systemd/system/rock5b-untrusted.slice"))
    assert not run_module(cgroup_memory, {"unit": "rock5b-untrusted.slice", "state": "absent"})["changed"]


def test_old_systemd_leaves_out_what_it_does_not_know(run_module, systemd, fake_host):
    systemd.version = 241
    result = run_module(cgroup_memory, {"unit": "myapp", "memory_max": "512M", "oom_policy": "kill",
                                        "managed_oom_swap": "kill"})
    assert "OOMPolicy" not in read(dropin(fake_host, "myapp.service"))
    assert set(result["unsupported"]) == {"oom_policy", "managed_oom_swap"}
    strict = run_module(cgroup_memory, {"unit": "myapp", "memory_max": "256M", "oom_policy": "kill",
                                        "unsupported": "fail"})
    assert strict["failed"] and "243" in strict["msg"]
    assert "MemoryMax=512M" in read(dropin(fake_host, "myapp.service"))


def test_unit_on_v1_keeps_the_dropin_and_warns(run_module, v1, fake_host, monkeypatch):
    fake = FakeSystemd(fake_host, v1)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", fake.run_command)
    fake.add("myapp.service")
    result = run_module(cgroup_memory, {"unit": "myapp", "memory_max": "512M", "memory_high": "384M"})
    assert result.get("failed") is None, result
    assert "MemoryHigh=384M" in read(dropin(fake_host, "myapp.service"))
    assert set(result["unsupported"]) == {"memory_high"}
    assert any("only on cgroup v2" in warning for warning in result["warnings"])


def test_unit_limit_not_enforced_is_reported(run_module, systemd, v2):
    systemd.kernel = None  # systemd cannot write the cgroup (read-only, as in a container)
    result = run_module(cgroup_memory, {"unit": "myapp", "memory_max": "512M"})
    assert result["kernel"]["memory_max"] == "max"
    assert any("not enforced here" in warning for warning in result["warnings"])


@pytest.mark.parametrize("args, fragment", [
    ({"unit": "myapp", "oom_group": True}, "oom_policy: kill"),
    ({"unit": "myapp", "pids": [1]}, "raw cgroup"),
    ({"unit": "myapp", "slice": "untrusted"}, "not a valid slice"),
    ({"unit": "a.slice", "slice": "b.slice"}, "given by its name"),
    ({"unit": "a.slice", "oom_policy": "kill"}, "service setting"),
    ({"unit": "myapp", "managed_oom_memory_pressure_limit": "160%"}, "percentage"),
    ({"unit": "my app", "memory_max": "1G"}, "not a valid systemd unit"),
    ({"unit": "x.timer", "memory_max": "1G"}, "only .service"),
    ({"unit": "myapp"}, "no setting to manage"),
    ({"unit": "myapp", "memory_max": "1G", "dropin_name": "../x"}, "dropin_name"),
    ({"unit": "myapp", "memory_max": "1180591620717411303424"}, "memory_max: '1180591620717411303424' is above"),
    ({"unit": "myapp", "memory_high": "4096T"}, "memory_high: '4096T' is above the largest size"),
    ({"unit": "myapp", "memory_max": 0}, "memory_max: 0 is below 1M"),
    ({"unit": "myapp", "memory_max": False}, "memory_max: False is not a size"),
    # A name beginning with "-" reads as an option to many tools (systemctl is always given --).
    ({"unit": "-myapp", "memory_max": "1G"}, "unit '-myapp' begins with '-'"),
    ({"unit": "--help.service", "memory_max": "1G"}, "unit '--help.service' begins with '-'"),
    ({"entries": [{"unit": "-x.slice", "memory_max": "1G"}]}, "unit '-x.slice' begins with '-'"),
    ({"unit": "-.slice", "memory_max": "1G"}, "root slice"),
    ({"unit": "a--b.slice", "memory_max": "1G"}, "not a valid slice name"),
    ({"unit": "a-.slice", "memory_max": "1G"}, "not a valid slice name"),
    ({"unit": "myapp", "slice": "-x.slice"}, "slice '-x.slice' is not a valid slice"),
    ({"unit": "myapp", "slice": "rock5b--x.slice"}, "slice 'rock5b--x.slice' is not a valid slice"),
])
def test_unit_bad_input_fails_before_any_change(run_module, systemd, fake_host, args, fragment):
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, args)
    assert result["failed"], result
    assert fragment in result["msg"]
    assert fake_host.snapshot() == before


def test_query_without_target_reports_the_hierarchy(run_module, v1):
    result = run_module(cgroup_memory, {"state": "query"})
    assert not result["changed"]
    assert result["cgroup"]["version"] == "v1" and result["hierarchy"] == "v1"


def test_path_and_unit_are_exclusive(run_module, v2):
    result = run_module(cgroup_memory, {"path": "app", "unit": "x.service", "memory_max": "1G"})
    assert result["failed"] and "mutually exclusive" in result["msg"]


# --- entries: every target of a board in one module execution ------------------------------------

LAB_ENTRIES = [
    {"unit": "rock5b-untrusted.slice", "memory_max": "1G", "memory_high": "768M"},
    {"unit": "myapp.service", "memory_max": "512M", "slice": "rock5b-untrusted.slice"},
    {"path": "rock5b/raw", "memory_max": "256M"},
]


def test_entries_apply_every_target_in_one_call(run_module, systemd, fake_host, v2):
    result = run_module(cgroup_memory, {"entries": LAB_ENTRIES}, diff=True)
    assert result.get("failed") is None, result
    assert result["changed"] and result["hierarchy"] == "v2" and result["cgroup"]["version"] == "v2"
    assert [item["item"] for item in result["results"]] == LAB_ENTRIES
    assert [item["changed"] for item in result["results"]] == [True, True, True]
    assert "MemoryMax=1G" in read(dropin(fake_host, "rock5b-untrusted.slice"))
    assert "Slice=rock5b-untrusted.slice" in read(dropin(fake_host, "myapp.service"))
    assert read(v2.path("rock5b/raw") + "/memory.max") == "268435456\n"
    assert result["results"][1]["restart_required"]
    assert any("next start" in warning for warning in result["warnings"])
    headers = [part.get("after_header") for part in result["diff"]]
    assert "/etc/systemd/system/myapp.service.d/60-rock5b-memory.conf" in headers
    # systemd's version is asked once per call, not once per entry and pass
    assert [call[1] for call in systemd.calls].count("--version") == 1
    systemd.calls.clear()
    again = run_module(cgroup_memory, {"entries": LAB_ENTRIES})
    assert not again["changed"] and "diff" not in again
    assert not any(call[1] in ("daemon-reload", "set-property") for call in systemd.calls)


def test_entries_check_mode_predicts_and_changes_nothing(run_module, systemd, fake_host):
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"entries": LAB_ENTRIES}, check_mode=True, diff=True)
    assert result["changed"] and all(item["changed"] for item in result["results"])
    assert fake_host.snapshot() == before
    assert result["diff"]


@pytest.mark.parametrize("bad, fragment", [
    ({"unit": "myapp.service", "memory_max": "lots"}, "myapp.service"),
    ({"unit": "myapp.service", "memory_max": "1G", "colour": "red"}, "colour"),
    ({"unit": "myapp.service", "path": "x", "memory_max": "1G"}, "mutually exclusive"),
    ({"memory_max": "1G"}, "unit, path"),
    ({"unit": "myapp.service", "slice": "nope"}, "not a valid slice"),
])
def test_entries_one_bad_entry_fails_before_any_change(run_module, systemd, fake_host, bad, fragment):
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"entries": [LAB_ENTRIES[0], bad, LAB_ENTRIES[2]]})
    assert result["failed"], result
    assert fragment in result["msg"] and "nothing was changed" in result["msg"]
    assert fake_host.snapshot() == before


def test_entries_take_the_task_state_and_shared_options(run_module, systemd, fake_host):
    run_module(cgroup_memory, {"entries": LAB_ENTRIES[:2], "dropin_name": "70-mine.conf"})
    assert os.path.exists(fake_host.path("/etc/systemd/system/myapp.service.d/70-mine.conf"))
    gone = run_module(cgroup_memory, {"entries": [{"unit": "myapp.service"}], "state": "absent",
                                      "dropin_name": "70-mine.conf"})
    assert gone["changed"] and not os.path.exists(fake_host.path("/etc/systemd/system/myapp.service.d/70-mine.conf"))
    queried = run_module(cgroup_memory, {"entries": [{"unit": "rock5b-untrusted.slice"}], "state": "query",
                                         "dropin_name": "70-mine.conf"})
    assert not queried["changed"] and queried["results"][0]["before"]["dropin"]["MemoryMax"] == "1G"


def test_empty_entries_report_the_hierarchy(run_module, v1):
    result = run_module(cgroup_memory, {"entries": []})
    assert not result["changed"] and result["results"] == [] and result["hierarchy"] == "v1"


def test_entries_exclude_unit_and_path(run_module, v2):
    result = run_module(cgroup_memory, {"entries": [], "unit": "x.service", "memory_max": "1G"})
    assert result["failed"] and "mutually exclusive" in result["msg"]


def test_entries_restart_moved_units_only_when_asked(run_module, systemd, fake_host):
    warned = run_module(cgroup_memory, {"entries": LAB_ENTRIES[:2]})
    assert warned["results"][1]["restart_required"] and not warned["results"][1]["restarted"]
    assert not any(call[1] == "restart" for call in systemd.calls)
    predicted = run_module(cgroup_memory, {"entries": LAB_ENTRIES[:2], "restart_moved": True}, check_mode=True)
    assert predicted["changed"] and predicted["results"][1]["restarted"]
    assert not any(call[1] == "restart" for call in systemd.calls)
    moved = run_module(cgroup_memory, {"entries": LAB_ENTRIES[:2], "restart_moved": True})
    assert moved["changed"] and moved["results"][1]["restarted"] and not moved["results"][1]["restart_required"]
    assert ["systemctl", "restart", "myapp.service"] in systemd.calls
    assert not any("next start" in warning for warning in moved["warnings"])
    again = run_module(cgroup_memory, {"entries": LAB_ENTRIES[:2], "restart_moved": True})
    assert not again["changed"] and not again["results"][1]["restarted"]


# --- guards and the plan -> apply steps ------------------------------------------------------------

@pytest.mark.parametrize("entries", [False, True])
def test_dropin_name_with_a_trailing_newline_is_refused_before_any_change(run_module, systemd, fake_host, entries):
    # "60-x.conf\n" passes a $-anchored pattern; the newline would end up in the file name
    before = fake_host.snapshot()
    target = {"unit": "myapp", "memory_max": "1G"}
    args = {"entries": [target]} if entries else dict(target)
    result = run_module(cgroup_memory, dict(args, dropin_name="60-x.conf\n"))
    assert result["failed"], result
    assert "dropin_name" in result["msg"] and "nothing was changed" in result["msg"]
    assert fake_host.snapshot() == before
    assert not any(call[1] in ("daemon-reload", "set-property") for call in systemd.calls)


def test_a_pattern_never_moves_pid_1_or_the_modules_own_chain(run_module, v2, fake_host, monkeypatch):
    session = "/user.slice/user-1000.slice/session-3.scope"
    add_process(fake_host, 1, "systemd", "/init.scope", "v2", ppid=0)
    add_process(fake_host, 300, "sshd", "/system.slice/ssh.service", "v2")  # the listener
    add_process(fake_host, 301, "sshd", session, "v2", ppid=300)  # the login Ansible came in through
    add_process(fake_host, 302, "sh", session, "v2", ppid=301)
    add_process(fake_host, 303, "python3", session, "v2", ppid=302)  # the module itself
    add_process(fake_host, 400, "myapp", session, "v2")
    monkeypatch.setattr(selection, "SELF_PID", 303)
    # Matches every process of the table (a universal pattern such as ^ is refused outright:
    # test_a_pattern_matching_every_process_is_refused_before_any_change).
    result = run_module(cgroup_memory, {"path": "app", "memory_max": "256M", "pattern": "(systemd|sshd|sh|python3|myapp)"})
    assert result.get("failed") is None, result
    assert 400 in result["moved"]
    assert not {1, 300, 301, 302, 303} & set(result["moved"])
    assert not {1, 300, 301, 302, 303} & set(memcg.read_procs(v2.path("app")))
    given = run_module(cgroup_memory, {"path": "app2", "pids": [1, 303]})
    assert given["moved"] == [] and memcg.read_procs(v2.path("app2")) == []
    assert any("are not moved" in warning and selection.GUARD_NOTE in warning for warning in given["warnings"])


@pytest.mark.parametrize("pattern", ["^", ".*", "", "."])
def test_a_pattern_matching_every_process_is_refused_before_any_change(run_module, v2, fake_host, pattern):
    add_process(fake_host, 1, "systemd", "/init.scope", "v2", ppid=0)
    add_process(fake_host, 400, "myapp", "/system.slice/myapp.service", "v2")
    result = run_module(cgroup_memory, {"path": "app", "memory_max": "256M", "pattern": pattern})
    assert result["failed"] and "matches every process" in result["msg"] and "nothing was changed" in result["msg"]
    assert not os.path.exists(v2.path("app"))


def test_entries_plan_each_target_once(run_module, systemd, v2, monkeypatch):
    planned = []
    for layer in (unit_limits, raw_cgroup):
        real = layer.plan

        def counting(*args, _real=real):
            params = args[-2]
            planned.append(params["unit"] or params["path"])
            return _real(*args)

        monkeypatch.setattr(layer, "plan", counting)
    result = run_module(cgroup_memory, {"entries": LAB_ENTRIES})
    assert result.get("failed") is None, result
    assert [item["changed"] for item in result["results"]] == [True, True, True]
    assert planned == ["rock5b-untrusted.slice", "myapp.service", "rock5b/raw"]
    # myapp.service: shown once to plan, once after daemon-reload (what still differs), once to read back
    shows = [call for call in systemd.calls if call[1] == "show" and call[-1] == "myapp.service"]
    assert len(shows) == 3, shows


def test_entries_a_second_entry_failing_to_plan_changes_nothing(run_module, systemd, fake_host, v2):
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"entries": [LAB_ENTRIES[1], {"path": "app", "memory_max": "256M",
                                                                     "pids": [99999]}]})
    assert result["failed"] and "99999" in result["msg"] and "nothing was changed" in result["msg"]
    assert [item["failed"] for item in result["results"]] == [False, True]
    assert fake_host.snapshot() == before and v2.writes == []
    assert not any(call[1] in ("daemon-reload", "set-property", "restart") for call in systemd.calls)


def test_entries_a_second_entry_failing_to_apply_undoes_the_first(run_module, systemd, fake_host, v2, monkeypatch):
    v2.refuse(monkeypatch, "memory.high", errno.EBUSY)
    unit_cgroup = v2.path("/system.slice/myapp.service")
    result = run_module(cgroup_memory, {"entries": [
        {"unit": "myapp.service", "memory_max": "512M"},
        {"path": "second", "memory_max": "512M", "memory_high": "128M"},
    ]})
    assert result["failed"], result
    assert "second" in result["msg"] and "restored" in result["msg"] and "undone" in result["msg"]
    # the first entry is as before: no drop-in, systemd and the kernel without the limit
    assert not os.path.exists(dropin(fake_host, "myapp.service"))
    assert systemd.props("myapp.service")["MemoryMax"] == "infinity"
    assert read(os.path.join(unit_cgroup, "memory.max")) == "max\n"
    # the second entry's limit written before the refusal is restored, and the cgroup the run
    # created for it is removed again (it used to stay behind, empty, with memory.max back at max)
    assert not os.path.exists(v2.path("second"))


@pytest.mark.parametrize("unit", ["demo-app.service\n", " demo-app.service", "demo-app.service\t"])
def test_a_unit_name_with_whitespace_is_refused_not_repaired(run_module, systemd, v2, unit):
    # Found by the bad-input corpus: the name was stripped and the limit applied to demo-app.
    result = run_module(cgroup_memory, {"unit": unit, "memory_max": "64M"})
    assert result["failed"] and "not a valid" in result["msg"] and "nothing was changed" in result["msg"]


def test_v2_only_board_says_cgroup_v2_cannot_and_writes_nothing(run_module, v2, fake_host):
    """Debian 13 (systemd 257) boots cgroup v2 only: a v1-only request fails with the reason, before any write."""
    before = fake_host.snapshot()
    result = run_module(cgroup_memory, {"path": "app", "memory_max": "512M", "oom_kill_disable": True, "unsupported": "fail"})
    assert result["failed"]
    assert "cgroup v2 cannot disable the OOM killer for a cgroup (memory.oom_control is v1 only)" in result["msg"]
    assert fake_host.snapshot() == before and not os.path.exists(v2.path("app"))
    warned = run_module(cgroup_memory, {"path": "app", "oom_kill_disable": True})
    assert not warned.get("failed"), warned
    assert warned["unsupported"] == {"oom_kill_disable": "cgroup v2 cannot disable the OOM killer for a cgroup (memory.oom_control is v1 only)"}
    assert not os.path.exists(os.path.join(v2.path("app"), "memory.oom_control"))


class ReloadKeepsCgroupSystemd(FakeSystemd):
    """Debian 13's systemd 257: daemon-reload reads the drop-in (show reports it) but leaves the
    running unit's cgroup as it was; only set-property writes memory.max."""

    def reload(self):
        kernel, self.kernel = self.kernel, None
        try:
            super().reload()
        finally:
            self.kernel = kernel


def test_a_running_unit_gets_its_limit_in_the_kernel_where_daemon_reload_does_not_write_it(
        run_module, fake_host, v2, monkeypatch):
    fake = ReloadKeepsCgroupSystemd(fake_host, v2, version=257)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", fake.run_command)
    fake.add("myapp.service")
    result = run_module(cgroup_memory, {"unit": "myapp", "memory_max": "64M"})
    assert result.get("failed") is None, result
    assert ["systemctl", "set-property", "--runtime", "myapp.service", "MemoryMax=64M"] in fake.calls
    assert result["kernel"]["memory_max"] == 64 << 20
    assert not any("not enforced here" in warning for warning in result.get("warnings", []))
    again = run_module(cgroup_memory, {"unit": "myapp", "memory_max": "64M"})
    assert not again["changed"], again
