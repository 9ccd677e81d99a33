"""Behaviour of rock5b.oom.lru_gen against a fake board: /sys/kernel/mm/lru_gen answered by a
stand-in for the kernel (the mask it shows after ``y``/``n``, min_ttl_ms kept in ticks of HZ=250)."""

from __future__ import annotations

import errno
import math
import os

import pytest
import yaml

from ansible_collections.rock5b.oom.plugins.module_utils import lru_gen_settings
from ansible_collections.rock5b.oom.plugins.modules import lru_gen

PATH = "/etc/tmpfiles.d/rock5b-oom-lru-gen.conf"
LRU = "/sys/kernel/mm/lru_gen"
EXPECTED = """\
# Managed by Ansible (rock5b.oom.lru_gen). Local edits are overwritten on the next run;
# set values through the mglru_enabled and mglru_min_ttl_ms variables instead.
# The multi-gen LRU's settings: systemd-tmpfiles-setup.service writes them to /sys at every boot.
w /sys/kernel/mm/lru_gen/enabled - - - - y
w /sys/kernel/mm/lru_gen/min_ttl_ms - - - - 1000
"""


class Kernel:
    """mm/vmscan.c's enabled_store/min_ttl_ms_store on an arm64 board: ``y`` turns on the core and
    the page table walk (0x0003; 0x0004 is x86's), ``n`` all; min_ttl_ms is kept in jiffies."""

    HZ = 250

    def __init__(self, board):
        self.board, self.writes, self.refuse, self.ignore = board, [], set(), set()

    def write(self, _sys_root, name, text):
        self.writes.append((name, text))
        if name in self.refuse:
            raise OSError(errno.EINVAL, "Invalid argument")
        if name in self.ignore:
            return
        if name == "enabled":
            mask = {"y": 0x0003, "n": 0}.get(text.lower()) if text.lower() in ("y", "n") else int(text, 0) & 0x0003
            self.board.write(LRU + "/enabled", "0x%04x\n" % mask)
        else:
            ticks = math.ceil(int(text) * self.HZ / 1000)
            self.board.write(LRU + "/min_ttl_ms", "%d\n" % (ticks * 1000 // self.HZ))

    def state(self):
        return self.board.read(LRU + "/enabled").strip(), self.board.read(LRU + "/min_ttl_ms").strip()


@pytest.fixture
def board(host_fs):
    host_fs.write(LRU + "/enabled", "0x0000\n")
    host_fs.write(LRU + "/min_ttl_ms", "0\n")
    set_release(host_fs, "6.1.0-28-arm64")
    return host_fs


@pytest.fixture
def kernel(board, monkeypatch):
    stand_in = Kernel(board)
    monkeypatch.setattr(lru_gen_settings, "write_sysfs", stand_in.write)
    return stand_in


@pytest.fixture
def run(run_module, kernel):
    def call(check_mode=False, diff=False, **args):
        args.setdefault("enabled", True)
        args.setdefault("min_ttl_ms", 1000)
        return run_module(lru_gen, args, check_mode=check_mode, diff=diff)
    return call


def set_release(board, release):
    path = os.path.join(board.proc, "sys", "kernel", "osrelease")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(release + "\n")


def test_fresh_board_gets_live_values_and_the_file(board, kernel, run):
    result = run()
    assert result["changed"] and not result.get("failed"), result
    assert kernel.state() == ("0x0003", "1000")
    assert board.read(PATH) == EXPECTED
    assert os.stat(board.path(PATH)).st_mode & 0o777 == 0o644
    assert result["live_changed"] == ["enabled", "min_ttl_ms"] and result["file_changed"] and result["live_applied"]
    assert result["before"] == {"live": {"enabled": False, "enabled_mask": "0x0000", "min_ttl_ms": 0},
                                "file": {"enabled": None, "min_ttl_ms": None}}
    assert result["after"] == {"live": {"enabled": True, "enabled_mask": "0x0003", "min_ttl_ms": 1000},
                               "file": {"enabled": True, "min_ttl_ms": 1000}}
    assert kernel.writes == [("enabled", "y"), ("min_ttl_ms", "1000")]


def test_second_run_changes_nothing(kernel, run):
    run()
    kernel.writes.clear()
    result = run()
    assert result["changed"] is False and result["live_changed"] == [] and not result["file_changed"], result
    assert kernel.writes == []


def test_check_mode_predicts_the_run_and_changes_nothing(board, kernel, run):
    before = board.snapshot()
    predicted = run(check_mode=True)
    assert board.snapshot() == before and kernel.writes == []
    real = run()
    for key in ("changed", "live_changed", "file_changed"):
        assert predicted[key] == real[key], key
    assert predicted["after"]["file"] == real["after"]["file"]
    assert [predicted["after"]["live"][k] for k in ("enabled", "min_ttl_ms")] == [True, 1000]
    assert run(check_mode=True)["changed"] is False


def test_a_value_between_ticks_reads_back_rounded_up_and_is_kept(kernel, run):
    result = run(min_ttl_ms=1001)
    assert result["changed"] and kernel.state() == ("0x0003", "1004")
    assert result["after"]["live"]["min_ttl_ms"] == 1004 and result["after"]["file"]["min_ttl_ms"] == 1001
    assert run(min_ttl_ms=1001)["changed"] is False


def test_enabled_false_writes_n(kernel, run):
    kernel.write(None, "enabled", "y")
    result = run(enabled=False, min_ttl_ms=None)
    assert result["changed"] and kernel.state()[0] == "0x0000"
    assert "w /sys/kernel/mm/lru_gen/enabled - - - - n\n" in kernel.board.read(PATH)
    assert "lru_gen/min_ttl_ms" not in kernel.board.read(PATH)


def test_a_partial_mask_with_the_main_switch_on_is_left_alone(board, kernel, run):
    board.write(LRU + "/enabled", "0x0001\n")
    result = run(min_ttl_ms=None)
    assert result["live_changed"] == [] and board.read(LRU + "/enabled") == "0x0001\n"


def test_live_and_file_drift_are_corrected(board, kernel, run):
    run()
    board.write(LRU + "/min_ttl_ms", "0\n")
    board.write(PATH, EXPECTED.replace("- y", "- n"))
    result = run()
    assert result["live_changed"] == ["min_ttl_ms"] and result["file_changed"]
    assert result["before"]["file"] == {"enabled": False, "min_ttl_ms": 1000}
    assert kernel.state() == ("0x0003", "1000") and board.read(PATH) == EXPECTED


def test_wrong_mode_on_the_file_is_drift(board, run):
    run()
    os.chmod(board.path(PATH), 0o600)
    assert run()["changed"] is True
    assert os.stat(board.path(PATH)).st_mode & 0o777 == 0o644


def test_diff_shows_the_file_and_the_live_values(run):
    result = run(diff=True)
    file_diff, live_diff = result["diff"]
    assert file_diff["before"] == "" and file_diff["after"] == EXPECTED
    assert live_diff["before"] == "enabled = 0x0000\nmin_ttl_ms = 0\n"
    assert live_diff["after"] == "enabled = y\nmin_ttl_ms = 1000\n"


def test_both_null_removes_its_own_file_and_leaves_the_live_values(board, kernel, run):
    run()
    result = run(enabled=None, min_ttl_ms=None)
    assert result["changed"] and result["file_changed"] and result["live_changed"] == []
    assert not board.exists(PATH) and kernel.state() == ("0x0003", "1000")
    assert "live values stay until the next reboot" in result["msg"]
    assert run(enabled=None, min_ttl_ms=None)["changed"] is False


def test_both_null_never_removes_a_file_it_did_not_write(board, run):
    board.write(PATH, "w /sys/kernel/mm/lru_gen/enabled - - - - y\n")
    result = run(enabled=None, min_ttl_ms=None)
    assert result["changed"] is False and board.read(PATH) == "w /sys/kernel/mm/lru_gen/enabled - - - - y\n"
    assert any("not written by rock5b.oom.lru_gen" in warning for warning in result["warnings"])


@pytest.mark.parametrize("release, why", [
    ("5.10.160-rockchip", "kernel 5.10.160-rockchip is older than 6.1"),
    ("6.1.0-28-arm64", "kernel 6.1.0-28-arm64 is built without CONFIG_LRU_GEN"),
])
def test_no_mglru_changes_nothing_and_says_why(board, kernel, run, release, why):
    os.rename(board.path(LRU), board.path("/sys/kernel/mm/elsewhere"))
    set_release(board, release)
    before = board.snapshot()
    result = run()
    assert result["skipped"] is True and result["changed"] is False and result["present"] is False, result
    assert "/sys/kernel/mm/lru_gen is absent: " + why in result["msg"]
    assert any(why in warning for warning in result["warnings"])
    assert board.snapshot() == before and kernel.writes == []


def test_no_mglru_and_nothing_asked_is_quiet(board, run):
    os.rename(board.path(LRU), board.path("/sys/kernel/mm/elsewhere"))
    result = run(enabled=None, min_ttl_ms=None)
    assert result["skipped"] is True and result["warnings"] == []


@pytest.mark.parametrize("args, words", [
    ({"min_ttl_ms": -1}, "min_ttl_ms (role variable mglru_min_ttl_ms) must be between 0 and 60000"),
    ({"min_ttl_ms": 60001}, "must be between 0 and 60000"),
    ({"min_ttl_ms": 1180591620717411303424}, "must be between 0 and 60000"),
    ({"min_ttl_ms": True}, "min_ttl_ms (role variable mglru_min_ttl_ms) must be a number"),
    ({"min_ttl_ms": "١٠٠٠"}, "must be a number"),
    ({"min_ttl_ms": 1.5}, "must be a whole number"),
    ({"min_ttl_ms": "nan"}, "must be a finite number"),
    ({"path": "tmpfiles.d/x.conf"}, "path (role variable mglru_path) must be an absolute path"),
    ({"path": "/etc/tmpfiles.d/../../tmp/x.conf"}, "without '..'"),
    ({"path": "/etc/x.conf"}, "must be a .conf file directly in /etc/tmpfiles.d"),
    ({"path": "/etc/tmpfiles.d/x.txt"}, "must be a .conf file directly in"),
    ({"path": "/etc/tmpfiles.d/sub/x.conf"}, "must be a .conf file directly in"),
])
def test_bad_input_fails_before_anything_changes(board, kernel, run, args, words):
    before = board.snapshot()
    result = run(**args)
    assert result.get("failed") and words in result["msg"], result
    assert result["msg"].startswith("invalid arguments, nothing was changed: ")
    assert board.snapshot() == before and kernel.writes == []


def test_bad_input_fails_where_the_kernel_has_no_mglru_too(board, run):
    os.rename(board.path(LRU), board.path("/sys/kernel/mm/elsewhere"))
    result = run(min_ttl_ms=-5)
    assert result.get("failed") and "mglru_min_ttl_ms" in result["msg"]


def test_bad_enabled_is_refused_by_the_argument_spec(board, kernel, run):
    result = run(enabled="maybe")
    assert result.get("failed") and "enabled" in result["msg"] and kernel.writes == []


def test_a_directory_at_the_path_fails_before_any_live_write(board, kernel, run):
    os.makedirs(board.path(PATH))
    result = run()
    assert result.get("failed") and "is a directory" in result["msg"] and "mglru_path" in result["msg"]
    assert kernel.writes == [] and kernel.state() == ("0x0000", "0")


def test_a_value_the_kernel_does_not_hold_fails_and_puts_back_what_was_written(board, kernel, run):
    kernel.ignore.add("min_ttl_ms")
    result = run()
    assert result.get("failed"), result
    assert "the kernel holds /sys/kernel/mm/lru_gen/min_ttl_ms = 0 after writing 1000" in result["msg"]
    assert "undone" in result["msg"]
    assert kernel.state() == ("0x0000", "0") and not board.exists(PATH)


def test_a_refused_write_fails_and_puts_back_what_was_written(board, kernel, run):
    kernel.refuse.add("min_ttl_ms")
    result = run()
    assert result.get("failed") and "the kernel refused /sys/kernel/mm/lru_gen/min_ttl_ms = 1000" in result["msg"]
    assert kernel.state() == ("0x0000", "0") and not board.exists(PATH)
    assert kernel.writes[-1] == ("enabled", "0x0000")


def test_an_unreadable_value_fails_before_any_write(board, kernel, run):
    board.write(LRU + "/enabled", "garbage\n")
    result = run()
    assert result.get("failed") and "cannot read" in result["msg"] and kernel.writes == []


def test_read_only_sys_writes_the_file_and_warns(board, kernel, run, monkeypatch):
    monkeypatch.setattr(lru_gen_settings, "live_writable", lambda _root: False)
    result = run()
    assert result["changed"] and result["live_applied"] is False and result["live_changed"] == []
    assert board.read(PATH) == EXPECTED and kernel.writes == []
    assert any("read-only" in warning and "mglru_strict_live" in warning for warning in result["warnings"])


def test_read_only_sys_with_strict_live_fails_changing_nothing(board, kernel, run, monkeypatch):
    monkeypatch.setattr(lru_gen_settings, "live_writable", lambda _root: False)
    before = board.snapshot()
    result = run(strict_live=True)
    assert result.get("failed") and "strict_live (role variable mglru_strict_live) is set" in result["msg"]
    assert board.snapshot() == before


def test_apply_live_false_writes_only_the_file(board, kernel, run):
    result = run(apply_live=False)
    assert result["changed"] and result["live_changed"] == [] and kernel.writes == []
    assert board.read(PATH) == EXPECTED


def test_an_earlier_file_writing_the_same_setting_is_boot_drift(board, run):
    board.write("/etc/tmpfiles.d/10-vendor.conf", "w /sys/kernel/mm/lru_gen/min_ttl_ms - - - - 5000\n")
    board.write("/usr/lib/tmpfiles.d/rock5b-oom-lru-gen.conf", "# shadowed by ours\n")
    result = run()
    assert result["boot_drift"] == [
        "/etc/tmpfiles.d/10-vendor.conf writes /sys/kernel/mm/lru_gen/min_ttl_ms before %s at boot: its value wins" % PATH]
    assert result["boot_drift"][0] in result["warnings"]


def test_a_same_named_file_in_an_earlier_directory_masks_the_file(board, run):
    path = "/usr/lib/tmpfiles.d/rock5b-oom-lru-gen.conf"
    board.write("/etc/tmpfiles.d/rock5b-oom-lru-gen.conf", "")
    result = run(path=path)
    assert result["boot_drift"] == ["/etc/tmpfiles.d/rock5b-oom-lru-gen.conf masks %s at boot (same name, earlier directory)" % path]


def corpus_cases():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "integration", "bad_input_corpus.d", "mglru.yml")
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)["module_cases"]


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda case: case["id"])
def test_every_corpus_case_fails_naming_its_option_and_changes_nothing(board, kernel, run_module, case):
    before = board.snapshot()
    result = run_module(lru_gen, case["args"])
    assert result.get("failed") and any(name in result["msg"] for name in case["names"]), result
    assert board.snapshot() == before and kernel.writes == []
