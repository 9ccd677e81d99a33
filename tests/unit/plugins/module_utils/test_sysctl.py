"""Parsing and ordering of sysctl configuration, and /proc/sys access."""

from __future__ import annotations

import os

from ansible_collections.rock5b.oom.plugins.module_utils import sysctl
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS


def test_parse_conf_follows_sysctl_d_syntax():
    text = "# comment\n; also a comment\n\nvm.a = 1\n-vm/b=2  3\t4\nno equals sign\nvm.a = 5\n"
    assert sysctl.parse_conf(text) == [
        {"line": 4, "key": "vm.a", "value": "1", "ignore_errors": False},
        {"line": 5, "key": "vm.b", "value": "2 3 4", "ignore_errors": True},
        {"line": 7, "key": "vm.a", "value": "5", "ignore_errors": False},
    ]
    assert sysctl.conf_values(sysctl.parse_conf(text)) == {"vm.a": "5", "vm.b": "2 3 4"}


def test_slash_keys_keep_dots_after_the_first_slash():
    assert sysctl.normalize_key("net/ipv4/conf/eth0.10/rp_filter") == "net.ipv4.conf.eth0.10.rp_filter"
    assert sysctl.normalize_key(" vm.swappiness ") == "vm.swappiness"


def test_render_conf_is_sorted_with_a_commented_header():
    text = sysctl.render_conf({"vm.b": "2", "vm.a": "1"}, "Managed.\n\nSecond line.")
    assert text == "# Managed.\n#\n# Second line.\nvm.a = 1\nvm.b = 2\n"


# What Debian's /etc/init.d/procps runs at boot (procps 2:4.0.2, bookworm).
PROCPS_SCRIPT = "#!/bin/sh\nDAEMON=/sbin/sysctl\ndo_start_cmd() { $DAEMON -q --system; }\n"


def make(root, path, text=""):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


def test_config_files_are_ordered_by_name_with_etc_masking_usr(tmp_path):
    root = str(tmp_path)
    make(root, "/usr/lib/sysctl.d/50-default.conf")
    make(root, "/etc/sysctl.d/50-default.conf")
    make(root, "/run/sysctl.d/10-run.conf")
    make(root, "/lib/sysctl.d/99-late.conf")
    make(root, "/etc/sysctl.d/README")
    make(root, "/etc/sysctl.conf")
    # No systemd-sysctl.service: procps' init script applies the files and /etc/sysctl.conf last.
    make(root, "/etc/init.d/procps", PROCPS_SCRIPT)
    ordered, masked = sysctl.config_files(HostFS(root))
    assert [entry["path"] for entry in ordered] == [
        "/run/sysctl.d/10-run.conf", "/etc/sysctl.d/50-default.conf", "/lib/sysctl.d/99-late.conf",
        "/etc/sysctl.conf"]
    assert masked == [{"path": "/usr/lib/sysctl.d/50-default.conf", "masked_by": "/etc/sysctl.d/50-default.conf"}]


def test_managed_file_in_run_is_masked_by_etc(tmp_path):
    root = str(tmp_path)
    make(root, "/etc/sysctl.d/60-oom.conf", "")
    overrides = sysctl.find_overrides(HostFS(root), "/run/sysctl.d/60-oom.conf", {"vm.panic_on_oom": "0"})
    assert overrides[0]["path"] == "/etc/sysctl.d/60-oom.conf" and "masks" in overrides[0]["reason"]


def test_same_value_in_a_later_file_is_no_override(tmp_path):
    root = str(tmp_path)
    make(root, "/etc/sysctl.d/99-zz.conf", "vm.panic_on_oom = 0\n")
    assert sysctl.find_overrides(HostFS(root), "/etc/sysctl.d/99-oom-rock5b.conf", {"vm.panic_on_oom": "0"}) == []


def test_live_reads_and_writes(tmp_path):
    proc = str(tmp_path)
    os.makedirs(os.path.join(proc, "sys", "vm"))
    sysctl.write_live(proc, "vm.swappiness", "10")
    assert sysctl.read_live(proc, "vm.swappiness") == "10"
    assert sysctl.read_live(proc, "vm.missing") is None
    assert sysctl.key_exists(proc, "vm/swappiness")


def test_read_only_proc_sys_is_detected(tmp_path, monkeypatch):
    proc = str(tmp_path)
    os.makedirs(os.path.join(proc, "sys", "vm"))
    sysctl.write_live(proc, "vm.swappiness", "60")
    assert sysctl.live_writable(proc, ["vm.swappiness"]) is True

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(sysctl.os, "statvfs", lambda path: ReadOnly())
    assert sysctl.live_writable(proc, ["vm.swappiness"]) is False
    assert sysctl.live_writable(os.path.join(proc, "absent")) is False


def test_writable_keys_decide_not_the_directory(tmp_path, monkeypatch):
    # procfs answers EACCES for writes to /proc/sys and /proc/sys/vm themselves, even for root;
    # only the files say whether a key can be set.
    proc = str(tmp_path)
    os.makedirs(os.path.join(proc, "sys", "vm"))
    sysctl.write_live(proc, "vm.swappiness", "60")
    real_access = os.access
    monkeypatch.setattr(sysctl.os, "access", lambda path, mode: not os.path.isdir(path) and real_access(path, mode))
    assert sysctl.live_writable(proc, ["vm.swappiness"]) is True


# --- issue #14: the profile's path rule, what is at the path, overrides as boot drift -------

import pytest  # noqa: E402


@pytest.mark.parametrize("path", [
    "/etc/sysctl.d/99-oom-rock5b.conf", "/run/sysctl.d/60-oom.conf", "/usr/local/lib/sysctl.d/60-oom.conf",
    "/usr/lib/sysctl.d/60-oom.conf", "/etc/sysctl.d/../sysctl.d/x.conf", "/etc/sysctl.d//x.conf",
])
def test_conf_path_inside_a_sysctl_d_directory_is_accepted(path):
    assert sysctl.conf_path_problem(path) is None


@pytest.mark.parametrize("path, reason", [
    ("sysctl.d/x.conf", "absolute"),
    ("/etc/sysctl.d/../../tmp/x.conf", "/tmp/x.conf"),
    ("/etc/oom.conf", "directly in a directory systemd-sysctl reads"),
    ("/etc/sysctl.d/sub/x.conf", "directly in a directory systemd-sysctl reads"),
    ("/etc/sysctl.conf", "directly in a directory systemd-sysctl reads"),
    ("/etc/sysctl.d/x.cnf", "end in .conf"),
    ("/etc/sysctl.d/.conf", "end in .conf"),
    ("/etc/sysctl.d/.hidden.conf", "end in .conf"),
    ("/etc/sysctl.d/a b.conf", "end in .conf"),
    ("/etc/sysctl.d/a\x00.conf", "end in .conf"),
    ("/etc/sysctl.d", "end in .conf"),
    ("", "absolute"),
    (None, "absolute"),
])
def test_conf_path_outside_the_directories_or_badly_named_is_refused(path, reason):
    problem = sysctl.conf_path_problem(path)
    assert problem and reason in problem


def test_conf_target_problem_names_what_is_in_the_way(tmp_path):
    fs = HostFS(str(tmp_path))
    assert sysctl.conf_target_problem(fs, "/etc/sysctl.d/99-x.conf") is None
    make(str(tmp_path), "/etc/sysctl.d/99-x.conf", "vm.a = 1\n")
    assert sysctl.conf_target_problem(fs, "/etc/sysctl.d/99-x.conf") is None
    os.makedirs(fs.path("/etc/sysctl.d/98-dir.conf"))
    assert "/etc/sysctl.d/98-dir.conf is a directory" in sysctl.conf_target_problem(fs, "/etc/sysctl.d/98-dir.conf")
    make(str(tmp_path), "/run/sysctl.d", "")
    assert "/run/sysctl.d is not a directory" in sysctl.conf_target_problem(fs, "/run/sysctl.d/99-x.conf")
    os.mkfifo(fs.path("/etc/sysctl.d/97-fifo.conf"))
    assert "not a regular file" in sysctl.conf_target_problem(fs, "/etc/sysctl.d/97-fifo.conf")


def test_override_findings_name_the_file_the_line_and_the_key(tmp_path):
    root = str(tmp_path)
    make(root, "/etc/sysctl.d/99-zz.conf", "# late\nvm.panic_on_oom = 1\n")
    make(root, "/etc/sysctl.conf", "vm.oom_*_tasks=0\n")
    make(root, "/etc/init.d/procps", PROCPS_SCRIPT)  # a board whose procps reads /etc/sysctl.conf at boot
    managed = "/etc/sysctl.d/99-oom-rock5b.conf"
    overrides = sysctl.find_overrides(HostFS(root), managed, {"vm.panic_on_oom": "0", "vm.oom_dump_tasks": "1"})
    assert sysctl.override_findings(overrides, managed) == [
        "vm.panic_on_oom is overridden at boot: /etc/sysctl.d/99-zz.conf line 2 sets vm.panic_on_oom = 1 "
        "after /etc/sysctl.d/99-oom-rock5b.conf",
        "vm.oom_dump_tasks is overridden at boot: /etc/sysctl.conf line 1 sets vm.oom_dump_tasks = 0 "
        "after /etc/sysctl.d/99-oom-rock5b.conf"]
    assert sysctl.override_findings([], managed) == []


def test_a_masking_file_is_a_finding_for_the_whole_profile(tmp_path):
    root = str(tmp_path)
    make(root, "/etc/sysctl.d/60-oom.conf", "")
    overrides = sysctl.find_overrides(HostFS(root), "/run/sysctl.d/60-oom.conf", {"vm.panic_on_oom": "0"})
    assert sysctl.override_findings(overrides, "/run/sysctl.d/60-oom.conf") == [
        "/run/sysctl.d/60-oom.conf is not applied at boot: /etc/sysctl.d/60-oom.conf masks it "
        "(a file of the same name in a directory of higher precedence)"]
