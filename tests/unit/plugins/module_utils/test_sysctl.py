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
