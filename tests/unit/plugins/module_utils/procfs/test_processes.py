"""Process listing, selection and oom_score_adj IO (fake /proc trees, plus the real kernel for
processes these tests start themselves)."""

from __future__ import annotations

import errno
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import selection
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import files, processes as p


def fake_process(proc, pid, comm, ppid=1, cmdline=(), cgroup="0::/\n", score=0, flags=0x400100,
                 state="S", starttime=None):
    base = proc / str(pid)
    base.mkdir(parents=True)
    (base / "stat").write_text("%d (%s) %s %d %d %d 0 -1 %d 1 0 0 0 5 3 0 0 20 0 1 0 %d 1 2 3\n"
                               % (pid, comm, state, ppid, pid, pid, flags,
                                  pid * 10 if starttime is None else starttime))
    (base / "cmdline").write_bytes(b"".join(arg.encode() + b"\0" for arg in cmdline))
    (base / "cgroup").write_text(cgroup)
    (base / "oom_score_adj").write_text("%d\n" % score)


@pytest.fixture
def proc(tmp_path):
    root = tmp_path / "proc"
    root.mkdir()
    fake_process(root, 1, "systemd", ppid=0, cmdline=["/sbin/init"], cgroup="0::/init.scope\n")
    fake_process(root, 2, "kthreadd", ppid=0, flags=0x00208040)
    fake_process(root, 300, "sshd", cmdline=["sshd: /usr/sbin/sshd -D [listener]"],
                 cgroup="0::/system.slice/ssh.service\n", score=-1000)
    fake_process(root, 301, "sshd", ppid=300, cmdline=["sshd: pi [priv]"],
                 cgroup="0::/user.slice/user-1000.slice/session-1.scope\n")
    fake_process(root, 302, "bash", ppid=301, cmdline=["-bash"],
                 cgroup="0::/user.slice/user-1000.slice/session-1.scope\n")
    fake_process(root, 303, "sleep", ppid=302, cmdline=["sleep", "60"],
                 cgroup="0::/user.slice/user-1000.slice/session-1.scope\n")
    fake_process(root, 304, "gone", ppid=302, state="Z")
    (root / "self").mkdir()
    (root / "sys").mkdir()
    return str(root)


# --- parsing ------------------------------------------------------------------------------------

def test_parse_stat_with_spaces_and_parentheses_in_comm():
    stat = p.parse_stat("77 (my (odd) proc) R 12 77 77 0 -1 4194560 1 0 0 0 5 3 0 0 20 0 1 0 4242 1 2\n")
    assert stat == {"comm": "my (odd) proc", "state": "R", "ppid": 12, "flags": 4194560, "starttime": 4242}


@pytest.mark.parametrize("text, unit", [
    ("0::/system.slice/ssh.service\n", "ssh.service"),
    ("12:pids:/system.slice/ssh.service\n1:name=systemd:/system.slice/ssh.service\n0::/\n", "ssh.service"),
    ("1:name=systemd:/system.slice/ssh.service\n0::/system.slice/ssh.service\n", "ssh.service"),
    ("0::/system.slice/docker.service/payload\n", "docker.service"),
    ("0::/user.slice/user-1000.slice/session-3.scope\n", "session-3.scope"),
    ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service\n", "user@1000.service"),
    ("0::/system.slice/system-getty.slice/getty@tty1.service\n", "getty@tty1.service"),
    ("0::/init.scope\n", "init.scope"),
    ("0::/\n", None),
    ("0::/system.slice\n", None),
    ("", None),
    ("3:cpu,cpuacct:/foo\n", None),
])
def test_parse_cgroup(text, unit):
    assert p.parse_cgroup(text) == unit


LIBPOD = "/libpod_parent/libpod-c1ed522fae5d"
SCOPE = "/machine.slice/libpod-c1ed522fae5d.scope"


@pytest.mark.parametrize("pid1, root", [
    ("0::/init.scope\n", "/"),
    # measured: podman on a cgroup v1 host without cgroup namespaces
    ("9:name=systemd:%s/init.scope\n1:cpu:%s\n0::%s\n" % (LIBPOD, LIBPOD, LIBPOD), LIBPOD),
    ("0::%s/init.scope\n" % SCOPE, SCOPE),
    ("0::/\n", "/"),
    ("", "/"),
])
def test_cgroup_root_is_where_pid_1_sits(pid1, root):
    assert p.cgroup_root(pid1) == root


@pytest.mark.parametrize("text, root, unit", [
    ("9:name=systemd:%s/system.slice/ssh.service\n0::%s\n" % (LIBPOD, LIBPOD), LIBPOD, "ssh.service"),
    ("0::%s/system.slice/ssh.service\n" % SCOPE, SCOPE, "ssh.service"),
    ("0::%s/system.slice/ssh.service\n" % SCOPE, "/", "libpod-c1ed522fae5d.scope"),
    ("0::/elsewhere/system.slice/ssh.service\n", SCOPE, None),
])
def test_units_inside_a_container_without_cgroup_namespace(text, root, unit):
    assert p.parse_cgroup(text, root) == unit


def test_list_processes_reads_units_relative_to_pid_1(tmp_path):
    proc = tmp_path / "proc"
    fake_process(proc, 1, "systemd", ppid=0, cgroup="0::%s/init.scope\n" % SCOPE)
    fake_process(proc, 80, "sshd", cgroup="0::%s/system.slice/ssh.service\n" % SCOPE)
    assert p.list_processes(str(proc))[80]["unit"] == "ssh.service"


@pytest.mark.parametrize("name, normal, valid", [
    ("ssh", "ssh.service", True),
    ("ssh.service", "ssh.service", True),
    ("getty@tty1.service", "getty@tty1.service", True),
    ("session-3.scope", "session-3.scope", True),
    ("dev-disk-by\\x2duuid.device", "dev-disk-by\\x2duuid.device", True),
    ("ssh service", "ssh service.service", False),
    ("../etc/passwd", "../etc/passwd.service", False),
    ("a/b.service", "a/b.service", False),
    ("x" * 250 + ".service", "x" * 250 + ".service", False),
])
def test_unit_names(name, normal, valid):
    assert p.normalize_unit(name) == normal
    assert p.valid_unit(normal) is valid


def test_read_pidfile(tmp_path):
    assert p.read_pidfile(str(tmp_path / "missing.pid")) is None
    (tmp_path / "a.pid").write_text(" 412\n")
    assert p.read_pidfile(str(tmp_path / "a.pid")) == 412
    for junk in ("", "abc\n", "-5\n", "0\n"):
        (tmp_path / "b.pid").write_text(junk)
        with pytest.raises(ValueError):
            p.read_pidfile(str(tmp_path / "b.pid"))


@pytest.mark.parametrize("digits", ["\u0661\n", "\u0664\u0661\u0662\n", "\uff14\uff11\uff12\n", "\u00b2\n"])
def test_read_pidfile_takes_ascii_digits_only(tmp_path, digits):
    # str.isdigit() and int() accept other scripts' digits: "\u0661" (Arabic-Indic one) would be pid 1.
    (tmp_path / "u.pid").write_text(digits, encoding="utf-8")
    with pytest.raises(ValueError, match="does not hold a pid"):
        p.read_pidfile(str(tmp_path / "u.pid"))


@pytest.mark.parametrize("make, message", [
    (lambda path: path.mkdir(), "pidfile {} cannot be read: is a directory"),
    (lambda path: os.mkfifo(str(path)), "pidfile {} cannot be read: not a regular file"),
    (lambda path: path.symlink_to("/dev/zero"), "pidfile {} cannot be read: not a regular file"),
    (lambda path: path.write_bytes(b"\xff\xfe412\n"), "pidfile {} does not hold a pid from 1 to 4194304"),
    (lambda path: path.write_text("99999999999999999999999\n"), "pidfile {} does not hold a pid from 1 to 4194304"),
    (lambda path: path.write_text("4194305\n"), "pidfile {} does not hold a pid from 1 to 4194304"),
    (lambda path: path.write_text("1" * 5000), "pidfile {} does not hold a pid: it is larger than 4096 bytes"),
])
def test_read_pidfile_refuses_what_is_not_a_pidfile_naming_it(tmp_path, make, message):
    # A directory, a FIFO (would block), a device (/dev/zero would fill memory), bytes that are
    # not text, a number no pid can be, a huge file: a ValueError naming the file, no hang.
    path = tmp_path / "x.pid"
    make(path)
    with pytest.raises(ValueError) as caught:
        p.read_pidfile(str(path), shown="/run/x.pid")
    assert str(caught.value).startswith(message.format("/run/x.pid"))


def test_read_pidfile_takes_the_largest_pid(tmp_path):
    (tmp_path / "a.pid").write_text("4194304\n")
    assert p.read_pidfile(str(tmp_path / "a.pid")) == p.PID_MAX_LIMIT


def test_read_pidfile_refused_by_the_kernel_names_it(tmp_path, monkeypatch):
    (tmp_path / "a.pid").write_text("412\n")
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if path == str(tmp_path / "a.pid"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", refuse)
    with pytest.raises(ValueError, match="^pidfile /run/a.pid cannot be read: Permission denied$"):
        p.read_pidfile(str(tmp_path / "a.pid"), shown="/run/a.pid")


def test_read_regular(tmp_path):
    assert files.read_regular(str(tmp_path / "missing"), 10) is None
    (tmp_path / "f").write_bytes(b"0123456789abc")
    assert files.read_regular(str(tmp_path / "f"), 10) == b"0123456789"
    with pytest.raises(IsADirectoryError):
        files.read_regular(str(tmp_path), 10)
    with pytest.raises(OSError, match="not a regular file"):
        files.read_regular("/dev/null", 10)


# --- listing and selection ---------------------------------------------------------------------------

def test_list_processes_leaves_out_kernel_threads_and_zombies(proc):
    table = p.list_processes(proc)
    assert sorted(table) == [1, 300, 301, 302, 303]
    assert table[300] == {"pid": 300, "ppid": 1, "comm": "sshd", "state": "S", "starttime": 3000,
                          "kernel_thread": False, "cmdline": "sshd: /usr/sbin/sshd -D [listener]",
                          "unit": "ssh.service", "oom_score_adj": -1000}
    assert table[303]["cmdline"] == "sleep 60"


def test_process_vanishing_while_listed_is_left_out(proc, monkeypatch):
    real_read = p.read_bytes

    def vanish(path, dir_fd=None):
        if path.endswith("/301/oom_score_adj"):
            raise OSError(errno.ENOENT, "No such file or directory")
        return real_read(path, dir_fd)

    monkeypatch.setattr(p, "read_bytes", vanish)
    assert 301 not in p.list_processes(proc)


def test_missing_proc_lists_nothing(tmp_path):
    assert p.list_pids(str(tmp_path / "nothing")) == []


def test_select_intersects_selectors(proc):
    table = p.list_processes(proc)
    assert selection.match(table, comm="sshd") == [300, 301]
    assert selection.match(table, comm="sshd", unit="ssh.service") == [300]
    assert selection.match(table, pattern=re.compile(r"\bsleep\b")) == [303]
    assert selection.match(table, pid=302, comm="sshd") == []
    assert selection.match(table, pidfile_pid=0) == []
    assert selection.match(table, unit="sshd.service", units=["ssh.service"]) == [300]


def test_descendants_and_main_processes(proc):
    table = p.list_processes(proc)
    assert selection.descendants(table, [300]) == [301, 302, 303]
    assert selection.descendants(table, [303]) == []
    assert selection.main_processes(table, [300, 301, 303]) == [300, 303]


def test_has_capability(tmp_path):
    (tmp_path / "self").mkdir()
    status = tmp_path / "self" / "status"
    assert p.has_capability(str(tmp_path)) is None
    status.write_text("Name:\tx\nCapEff:\t000001ffffffffff\n")
    assert p.has_capability(str(tmp_path)) is True
    status.write_text("Name:\tx\nCapEff:\t000001fffeffffff\n")  # root on this test host
    assert p.has_capability(str(tmp_path)) is False


def test_write_through_the_process_directory(proc):
    assert p.write_oom_score_adj(proc, 303, 700, starttime=3030) == 700
    assert p.read_oom_score_adj(proc, 303) == 700


def test_write_refuses_a_reused_pid(proc):
    with pytest.raises(p.ProcessGone):
        p.write_oom_score_adj(proc, 303, 700, starttime=1)
    assert p.read_oom_score_adj(proc, 303) == 0


def test_write_to_a_missing_process(proc):
    with pytest.raises(p.ProcessGone):
        p.write_oom_score_adj(proc, 999, 700)
    with pytest.raises(p.ProcessGone):
        p.read_oom_score_adj(proc, 999)


# --- the real kernel, on processes these tests start ----------------------------------------------------

@pytest.fixture
def child():
    """A sleeping child of the test, its pid and start time."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def real_table_entry(pid):
    for _attempt in range(50):
        entry = p.read_process("/proc", pid)
        if entry is not None and entry["comm"].startswith("python"):
            return entry
        time.sleep(0.02)
    raise AssertionError("child %d never showed up as python" % pid)


def test_real_kernel_raise_and_read_back(child):
    entry = real_table_entry(child.pid)
    assert p.write_oom_score_adj("/proc", child.pid, 500, entry["starttime"]) == 500
    assert p.read_process("/proc", child.pid)["oom_score_adj"] == 500
    assert p.write_oom_score_adj("/proc", child.pid, entry["oom_score_adj"]) == entry["oom_score_adj"]


def test_real_kernel_exited_process_is_gone_not_an_error(child):
    entry = real_table_entry(child.pid)
    child.kill()
    child.wait()
    with pytest.raises(p.ProcessGone):
        p.write_oom_score_adj("/proc", child.pid, 500, entry["starttime"])


def test_real_kernel_wrong_start_time_is_not_written(child):
    entry = real_table_entry(child.pid)
    with pytest.raises(p.ProcessGone):
        p.write_oom_score_adj("/proc", child.pid, 500, entry["starttime"] + 1)
    assert p.read_oom_score_adj("/proc", child.pid) == entry["oom_score_adj"]


def test_real_kernel_score_is_inherited_across_fork():
    # A shell raises its own score, then forks a sleep: the child starts with the parent's value.
    shell = subprocess.Popen(["sh", "-c", "echo 600 > /proc/self/oom_score_adj; sleep 30 & echo $!; wait"],
                             stdout=subprocess.PIPE, text=True)
    try:
        grandchild = int(shell.stdout.readline())
        assert p.read_oom_score_adj("/proc", grandchild) == 600
        table = dict((pid, p.read_process("/proc", pid)) for pid in (shell.pid, grandchild))
        assert selection.descendants(table, [shell.pid]) == [grandchild]
    finally:
        shell.kill()
        subprocess.run(["pkill", "-P", str(shell.pid)], check=False)
        shell.wait()


@pytest.mark.skipif(p.has_capability("/proc") is not False, reason="needs a host without CAP_SYS_RESOURCE")
def test_real_kernel_without_cap_sys_resource_refuses_only_below_the_floor(child):
    entry = real_table_entry(child.pid)
    assert entry["oom_score_adj"] == 0
    assert p.write_oom_score_adj("/proc", child.pid, 500) == 500
    assert p.write_oom_score_adj("/proc", child.pid, 0) == 0  # back down to the floor: allowed
    with pytest.raises(OSError) as caught:
        p.write_oom_score_adj("/proc", child.pid, -1)
    assert caught.value.errno == errno.EACCES
    assert p.read_oom_score_adj("/proc", child.pid) == 0


def test_has_capability_of_another_process(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "status").write_text("Name:\tsystemd\nCapEff:\t00000000001fffff\n")  # bits 0-20
    assert p.has_capability(str(tmp_path), p.CAP_SYS_ADMIN, pid=1) is False
    assert p.has_capability(str(tmp_path), 20, pid=1) is True
    assert p.has_capability(str(tmp_path), p.CAP_SYS_ADMIN) is None  # no /self


def add_memory(proc, pid, rss_pages, oom_score=None, comm=None):
    base = pathlib.Path(proc) / str(pid)
    (base / "statm").write_text("%d %d 100 10 0 500 0\n" % (rss_pages * 2, rss_pages))
    if oom_score is not None:
        (base / "oom_score").write_text("%d\n" % oom_score)
    if comm is not None:
        (base / "comm").write_text(comm + "\n")


def test_rss_and_oom_score(proc):
    add_memory(proc, 302, 1000, oom_score=667)
    assert p.read_rss_kb(proc, 302) == 1000 * p.page_kb()
    assert p.read_rss_kb(proc, 302, page=4) == 4000
    assert p.read_oom_score(proc, 302) == 667
    assert p.read_rss_kb(proc, 9999) == 0 and p.read_oom_score(proc, 9999) == 0
    assert p.read_rss_kb(proc, 2) == 0  # no statm: gone or unreadable


def test_list_resident_processes_skips_what_holds_no_memory(proc):
    add_memory(proc, 1, 3000, oom_score=0)
    add_memory(proc, 2, 0)  # a kernel thread: no resident memory, its other files are not read
    add_memory(proc, 300, 500, oom_score=0)
    add_memory(proc, 302, 1000, oom_score=667)
    fake_process(pathlib.Path(proc), 400, "defunct", state="Z")
    add_memory(proc, 400, 10)
    table = p.list_resident_processes(proc)
    assert [process["pid"] for process in table] == [1, 300, 302]
    bash = table[-1]
    assert bash["rss_kb"] == 1000 * p.page_kb() and bash["oom_score"] == 667
    assert bash["comm"] == "bash" and bash["unit"] == "session-1.scope" and bash["starttime"] == 3020


def test_largest_resident_reads_the_largest_only(proc):
    add_memory(proc, 1, 3000, comm="systemd")
    add_memory(proc, 300, 500, comm="sshd")
    add_memory(proc, 302, 9000, comm="bash")
    assert p.largest_resident(proc, 2) == [
        {"pid": 302, "comm": "bash", "rss_kb": 9000 * p.page_kb(), "oom_score_adj": 0},
        {"pid": 1, "comm": "systemd", "rss_kb": 3000 * p.page_kb(), "oom_score_adj": 0}]
    (pathlib.Path(proc) / "302" / "comm").unlink()  # exited between the statm and comm reads: left out
    assert [entry["pid"] for entry in p.largest_resident(proc, 2)] == [1]


def test_a_unit_name_with_a_trailing_newline_is_not_valid():
    # `$` would match before a final newline; a drop-in path or a systemctl argument built from
    # such a name carries the newline.
    assert p.valid_unit("ssh.service")
    assert not p.valid_unit("ssh.service\n")
    assert not p.valid_unit("ssh.service\nx")
