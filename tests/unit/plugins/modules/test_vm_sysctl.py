"""Behaviour of rock5b.oom.vm_sysctl against a fake board."""

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.rock5b.oom.plugins.modules import vm_sysctl

PATH = "/etc/sysctl.d/99-oom-rock5b.conf"
PROFILE = {
    "vm.min_free_kbytes": 32768, "vm.overcommit_memory": 2, "vm.overcommit_ratio": 80,
    "vm.oom_dump_tasks": 1, "vm.oom_kill_allocating_task": 0, "vm.panic_on_oom": 0,
    "vm.watermark_scale_factor": 10,
}
EXPECTED_FILE = """\
# Managed by Ansible (rock5b.oom.vm_sysctl). Local edits are overwritten on the next run;
# set values through the sysctl_profile_settings variable instead.
# The vm.* OOM profile for Radxa Rock 5B+ boards.
vm.min_free_kbytes = 32768
vm.oom_dump_tasks = 1
vm.oom_kill_allocating_task = 0
vm.overcommit_memory = 2
vm.overcommit_ratio = 80
vm.panic_on_oom = 0
vm.watermark_scale_factor = 10
"""


@pytest.fixture
def board(host_fs):
    return host_fs


@pytest.fixture
def run(run_module):
    def call(settings=None, check_mode=False, diff=False, **args):
        args.setdefault("settings", PROFILE if settings is None else settings)
        return run_module(vm_sysctl, args, check_mode=check_mode, diff=diff)
    return call


def converge(board, run):
    result = run()
    assert result["changed"] and not result.get("failed")
    return result


def test_fresh_board_gets_file_and_live_values(board, run):
    result = converge(board, run)
    assert board.read(PATH) == EXPECTED_FILE
    assert os.stat(board.path(PATH)).st_mode & 0o777 == 0o644
    for key, value in PROFILE.items():
        assert board.live(key) == str(value)
    assert result["file_changed"] is True
    assert result["live_changed"] == [
        "vm.overcommit_ratio", "vm.min_free_kbytes", "vm.overcommit_memory"]
    assert result["after"]["live"]["vm.overcommit_memory"] == "2"


def test_second_run_changes_nothing(board, run):
    converge(board, run)
    result = run()
    assert result["changed"] is False
    assert result["drift"] == {}
    assert result["live_changed"] == []


def test_ratio_is_written_before_strict_overcommit_is_switched_on(board, run, monkeypatch):
    order = []
    real_write = vm_sysctl.write_live
    monkeypatch.setattr(vm_sysctl, "write_live", lambda root, key, value: (order.append(key), real_write(root, key, value)))
    converge(board, run)
    assert order.index("vm.overcommit_ratio") < order.index("vm.overcommit_memory")


def test_check_mode_predicts_the_real_run_and_changes_nothing(board, run):
    before = board.snapshot()
    predicted = run(check_mode=True)
    assert board.snapshot() == before
    real = run()
    assert predicted["changed"] is True and real["changed"] is True
    assert predicted["live_changed"] == real["live_changed"]
    assert predicted["file_changed"] == real["file_changed"]
    assert predicted["after"] == real["after"]
    assert run(check_mode=True)["changed"] is False


def test_file_drift_is_reported_and_corrected(board, run):
    converge(board, run)
    board.write(PATH, EXPECTED_FILE.replace("vm.panic_on_oom = 0", "vm.panic_on_oom = 1"))
    result = run()
    assert result["changed"] and result["file_changed"] and result["live_changed"] == []
    assert result["drift"] == {"vm.panic_on_oom": {"desired": "0", "file": "1", "live": "0"}}
    assert board.read(PATH) == EXPECTED_FILE


def test_deleted_file_is_rewritten(board, run):
    converge(board, run)
    os.unlink(board.path(PATH))
    result = run()
    assert result["changed"] and result["file_changed"]
    assert result["before"]["file"]["vm.panic_on_oom"] is None
    assert board.read(PATH) == EXPECTED_FILE


def test_live_drift_is_reported_and_corrected(board, run):
    converge(board, run)
    board.set_live("vm.min_free_kbytes", "8192")
    result = run()
    assert result["changed"] and not result["file_changed"]
    assert result["live_changed"] == ["vm.min_free_kbytes"]
    assert result["drift"] == {"vm.min_free_kbytes": {"desired": "32768", "file": "32768", "live": "8192"}}
    assert board.live("vm.min_free_kbytes") == "32768"


def test_wrong_mode_on_the_file_is_drift(board, run):
    converge(board, run)
    os.chmod(board.path(PATH), 0o600)
    result = run()
    assert result["changed"] is True
    assert os.stat(board.path(PATH)).st_mode & 0o777 == 0o644


def test_diff_shows_file_and_live_changes(board, run):
    board.write(PATH, "vm.panic_on_oom = 1\n")
    result = run(diff=True)
    file_diff, live_diff = result["diff"]
    assert file_diff["before"] == "vm.panic_on_oom = 1\n" and file_diff["after"] == EXPECTED_FILE
    assert "vm.overcommit_memory = 0" in live_diff["before"]
    assert "vm.overcommit_memory = 2" in live_diff["after"]
    assert "vm.panic_on_oom" not in live_diff["after"]


def test_later_file_overriding_a_key_is_named(board, run):
    board.write("/etc/sysctl.d/10-early.conf", "vm.panic_on_oom = 1\n")
    board.write("/usr/lib/sysctl.d/99-zz-vendor.conf", "# vendor\n-vm/panic_on_oom = 1\nvm.swappiness=10\n")
    result = converge(board, run)
    assert [(item["path"], item["key"], item["value"]) for item in result["overrides"]] == [
        ("/usr/lib/sysctl.d/99-zz-vendor.conf", "vm.panic_on_oom", "1")]
    assert any("99-zz-vendor.conf" in warning for warning in result["warnings"])


def test_debian_sysctl_conf_link_sorts_after_the_profile(board, run):
    board.write("/etc/sysctl.conf", "vm.overcommit_memory=1\n")
    os.makedirs(board.path("/etc/sysctl.d"))
    os.symlink("../sysctl.conf", board.path("/etc/sysctl.d/99-sysctl.conf"))
    result = converge(board, run)
    assert [item["path"] for item in result["overrides"]] == ["/etc/sysctl.d/99-sysctl.conf"]


def test_glob_in_a_later_file_counts_as_override(board, run):
    board.write("/run/sysctl.d/99-zzz.conf", "vm.oom_*_tasks = 0\n")
    result = converge(board, run)
    assert [(item["key"], item["value"]) for item in result["overrides"]] == [("vm.oom_dump_tasks", "0")]


def test_fail_on_override_changes_nothing(board, run):
    board.write("/etc/sysctl.conf", "vm.panic_on_oom = 2\n")
    before = board.snapshot()
    result = run(fail_on_override=True)
    assert result["failed"] and "/etc/sysctl.conf" in result["msg"]
    assert board.snapshot() == before


def test_overcommit_preflight_refuses_and_changes_nothing(board, run):
    board.set_meminfo(dict(board_meminfo(), Committed_AS=3100000))
    before = board.snapshot()
    result = run()
    assert result["failed"]
    for text in ("3196096 kB", "3100000 kB", "131072 kB", "sysctl_profile_overcommit_check"):
        assert text in result["msg"]
    assert board.snapshot() == before


def test_overcommit_preflight_passes_with_room(board, run):
    result = converge(board, run)
    assert result["overcommit"]["applies"] and result["overcommit"]["ok"]
    assert result["overcommit"]["new_limit_kb"] == 3995120 * 80 // 100


def test_overcommit_preflight_counts_zram_swap(board, run):
    board.set_meminfo(dict(board_meminfo(), Committed_AS=3100000, SwapTotal=1997560))
    result = converge(board, run)
    assert result["overcommit"]["new_limit_kb"] == 3995120 * 80 // 100 + 1997560


def test_overcommit_preflight_can_be_overridden(board, run):
    board.set_meminfo(dict(board_meminfo(), Committed_AS=3100000))
    result = converge(board, lambda: run(overcommit_check=False))
    assert result["overcommit"]["ok"] is False
    assert board.live("vm.overcommit_memory") == "2"


def test_preflight_does_not_apply_when_strict_mode_is_live_already(board, run):
    converge(board, run)
    board.set_meminfo(dict(board_meminfo(), Committed_AS=3150000, CommitLimit=3196096))
    result = run()
    assert result["changed"] is False and result["overcommit"]["applies"] is False


def test_read_only_proc_sys_writes_file_and_warns(board, run, monkeypatch):
    monkeypatch.setattr(vm_sysctl, "live_writable", lambda root, keys: False)
    result = converge(board, run)
    assert board.read(PATH) == EXPECTED_FILE
    assert board.live("vm.overcommit_memory") == "0"
    assert result["live_applied"] is False and result["live_changed"] == []
    assert any("read-only" in warning for warning in result["warnings"])
    assert run()["changed"] is False


def test_read_only_proc_sys_with_strict_live_fails_and_changes_nothing(board, run, monkeypatch):
    monkeypatch.setattr(vm_sysctl, "live_writable", lambda root, keys: False)
    before = board.snapshot()
    result = run(strict_live=True)
    assert result["failed"] and "read-only" in result["msg"]
    assert board.snapshot() == before


@pytest.mark.parametrize("settings, message", [
    ({"vm.overcommit_memory": 5}, "vm.overcommit_memory = 5: out of range, must be one of 0, 1, 2"),
    ({"vm.panic_on_oom": -1}, "vm.panic_on_oom = -1: out of range, must be one of 0, 1, 2"),
    ({"vm.watermark_scale_factor": 0}, "must be an integer from 1 to 3000"),
    ({"vm.watermark_scale_factor": 3001}, "must be an integer from 1 to 3000"),
    ({"vm.overcommit_ratio": "eighty"}, "vm.overcommit_ratio = 'eighty': must be an integer >= 0"),
    ({"vm.oom_dump_tasks": True}, "vm.oom_dump_tasks = True"),
    ({"vm.swappiness": "auto"}, "vm.swappiness = 'auto'"),
    ({"kernel.panic": 10}, "kernel.panic: only vm.* keys belong in this profile"),
    ({"vm.not_a_knob": 1}, "vm.not_a_knob: this kernel has no such sysctl"),
    ({"vm.min_free_kbytes": "lots"}, "or 'auto'"),
])
def test_invalid_settings_fail_naming_the_key_and_change_nothing(board, run, settings, message):
    before = board.snapshot()
    result = run(settings=dict(PROFILE, **settings))
    assert result["failed"] and message in result["msg"]
    assert "nothing was changed" in result["msg"]
    assert board.snapshot() == before


def test_empty_profile_is_refused(board, run):
    result = run(settings={"vm.panic_on_oom": None})
    assert result["failed"] and "empty" in result["msg"]


def test_null_removes_a_key_from_the_profile(board, run):
    result = converge(board, lambda: run(settings=dict(PROFILE, **{"vm.panic_on_oom": None})))
    assert "vm.panic_on_oom" not in result["settings"]
    assert "panic_on_oom" not in board.read(PATH)


def test_slash_keys_and_other_vm_keys_are_accepted(board, run):
    result = converge(board, lambda: run(settings={"vm/swappiness": 10}))
    assert result["settings"] == {"vm.swappiness": "10"}
    assert board.live("vm.swappiness") == "10"


@pytest.mark.parametrize("memtotal, expected", [(3995120, 32768), (16309000, 127414), (65000000, 262144)])
def test_auto_min_free_kbytes_scales_with_memtotal(board, run, memtotal, expected):
    board.set_meminfo(dict(board_meminfo(), MemTotal=memtotal))
    result = converge(board, lambda: run(settings={"vm.min_free_kbytes": "auto"}))
    assert result["settings"]["vm.min_free_kbytes"] == str(expected)
    assert board.live("vm.min_free_kbytes") == str(expected)


def test_kernel_refusal_restores_live_values_and_leaves_the_file(board, run, monkeypatch):
    real_write = vm_sysctl.write_live

    def refuse_strict_mode(root, key, value):
        if key == "vm.overcommit_memory" and value == "2":
            raise OSError(errno.EINVAL, "Invalid argument")
        real_write(root, key, value)

    monkeypatch.setattr(vm_sysctl, "write_live", refuse_strict_mode)
    before = board.snapshot()
    result = run()
    assert result["failed"] and "refused vm.overcommit_memory = 2: Invalid argument" in result["msg"]
    assert board.snapshot() == before


def test_kernel_clamping_a_value_is_caught_by_the_read_back(board, run, monkeypatch):
    real_write = vm_sysctl.write_live

    def clamp(root, key, value):
        real_write(root, key, "65536" if (key, value) == ("vm.min_free_kbytes", "32768") else value)

    monkeypatch.setattr(vm_sysctl, "write_live", clamp)
    before = board.snapshot()
    result = run()
    assert result["failed"] and "holds vm.min_free_kbytes = 65536 after writing 32768" in result["msg"]
    assert board.snapshot() == before


def test_relative_path_is_refused(board, run):
    result = run(path="sysctl.d/x.conf")
    assert result["failed"] and "absolute" in result["msg"]


def board_meminfo():
    # The same 4 GiB board as the fake_host fixture (tests/unit/conftest.py), repeated here
    # because another conftest module may own the name `conftest` in a full run.
    return {
        "MemTotal": 3995120, "MemFree": 2500000, "MemAvailable": 3100000, "SwapTotal": 0,
        "SwapFree": 0, "CommitLimit": 1997560, "Committed_AS": 900000, "Hugetlb": 0,
    }


def test_file_outside_sysctl_d_is_written_with_a_warning(board, run):
    result = converge(board, lambda: run(path="/etc/oom-profile.conf"))
    assert board.read("/etc/oom-profile.conf") == EXPECTED_FILE
    assert any("not survive a reboot" in warning for warning in result["warnings"])


def test_preflight_is_skipped_when_nothing_is_applied_live(board, run, monkeypatch):
    monkeypatch.setattr(vm_sysctl, "live_writable", lambda root, keys: False)
    board.set_meminfo(dict(board_meminfo(), Committed_AS=3100000))
    result = converge(board, run)
    assert result["overcommit"]["applies"] is False and "not checked" in result["overcommit"]["message"]
    assert board.read(PATH) == EXPECTED_FILE
