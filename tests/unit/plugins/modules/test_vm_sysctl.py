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
    board.write("/etc/init.d/procps", "#!/bin/sh\n")  # no systemd-sysctl: procps reads /etc/sysctl.conf last
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


def test_file_outside_sysctl_d_is_refused(board, run):
    # Issue #14: a file systemd-sysctl never reads does nothing at boot; it used to be written
    # with a warning, now it fails naming the option and changes nothing.
    before = board.snapshot()
    result = run(path="/etc/oom-profile.conf")
    assert result["failed"] and "sysctl_profile_path" in result["msg"]
    assert "not directly in a directory systemd-sysctl reads" in result["msg"]
    assert not board.exists("/etc/oom-profile.conf") and board.snapshot() == before


def test_preflight_is_skipped_when_nothing_is_applied_live(board, run, monkeypatch):
    monkeypatch.setattr(vm_sysctl, "live_writable", lambda root, keys: False)
    board.set_meminfo(dict(board_meminfo(), Committed_AS=3100000))
    result = converge(board, run)
    assert result["overcommit"]["applies"] is False and "not checked" in result["overcommit"]["message"]
    assert board.read(PATH) == EXPECTED_FILE


# --- issue #14: nothing an operator types can break a board ----------------------------------

def add_live_key(board, key, value):
    """A vm.* key the profile does not know, present in the fake kernel."""
    board.set_live(key, value)


@pytest.mark.parametrize("apply_live", [True, False])
@pytest.mark.parametrize("settings, message", [
    ({"vm.min_free_kbytes": 2 ** 70}, "vm.min_free_kbytes = 1180591620717411303424: out of range"),
    ({"vm.min_free_kbytes": 2 ** 31}, "vm.min_free_kbytes = 2147483648: out of range"),
    # More than a quarter of the 4 GiB board's RAM kept free: the board would reclaim forever.
    ({"vm.min_free_kbytes": 2000000}, "at most a quarter of MemTotal (998780 kB)"),
    ({"vm.overcommit_ratio": 2 ** 40}, "vm.overcommit_ratio = 1099511627776: out of range"),
    ({"vm.swappiness": 201}, "vm.swappiness = 201: out of range, must be an integer from 0 to 200"),
    ({"vm.oom_dump_tasks": 2}, "vm.oom_dump_tasks = 2: out of range, must be one of 0, 1"),
    ({"vm.min_free_kbytes": float("nan")}, "vm.min_free_kbytes = nan"),
    ({"vm.min_free_kbytes": float("inf")}, "vm.min_free_kbytes = inf"),
    ({"vm.min_free_kbytes": True}, "vm.min_free_kbytes = True"),
    ({"vm.min_free_kbytes": 32768.5}, "vm.min_free_kbytes = 32768.5"),
])
def test_every_value_is_range_checked_live_or_not(board, run, settings, message, apply_live):
    before = board.snapshot()
    result = run(settings=dict(PROFILE, **settings), apply_live=apply_live)
    assert result.get("failed"), result
    assert message in result["msg"] and "nothing was changed" in result["msg"]
    assert board.snapshot() == before


@pytest.mark.parametrize("value, shown", [
    (float("nan"), "nan"), (float("inf"), "inf"), (True, "True"), ("1.5", "'1.5'"), ("lots", "'lots'"),
    ("256 x 32", "'256 x 32'"), (2 ** 70, "1180591620717411303424"), ("", "''"),
])
def test_values_of_unknown_keys_must_be_integers(board, run, value, shown):
    add_live_key(board, "vm.lowmem_reserve_ratio", "256 256 32")
    before = board.snapshot()
    result = run(settings={"vm.lowmem_reserve_ratio": value}, apply_live=False)
    assert result.get("failed"), result
    assert "vm.lowmem_reserve_ratio = %s" % shown in result["msg"] and "nothing was changed" in result["msg"]
    assert board.snapshot() == before


def test_a_line_of_integers_is_the_documented_form_of_unknown_keys(board, run):
    add_live_key(board, "vm.lowmem_reserve_ratio", "256 256 32")
    result = converge(board, lambda: run(settings={"vm.lowmem_reserve_ratio": "256\t128  32"}))
    assert result["settings"] == {"vm.lowmem_reserve_ratio": "256 128 32"}


def test_slash_and_dot_spelling_of_one_key_is_refused_naming_both(board, run):
    before = board.snapshot()
    result = run(settings=dict(PROFILE, **{"vm.swappiness": 10, "vm/swappiness": 60}))
    assert result.get("failed"), result
    assert "vm.swappiness" in result["msg"] and "vm/swappiness" in result["msg"]
    assert "nothing was changed" in result["msg"]
    assert board.snapshot() == before


@pytest.mark.parametrize("path", [
    "/etc/sysctl.d/../../tmp/x.conf", "/etc/oom-profile.conf", "/etc/sysctl.d/sub/99-oom.conf",
    "/etc/sysctl.d/99-oom.cnf", "/etc/sysctl.d/.conf", "/etc/sysctl.d", "/etc/sysctl.d/",
    "/lib/sysctl.d/../../etc/x.conf", "/etc/sysctl.d/99 oom.conf", "/etc/sysctl.d/99-oom\n.conf",
])
def test_a_path_systemd_sysctl_does_not_read_is_refused(board, run, path):
    before = board.snapshot()
    result = run(path=path)
    assert result.get("failed"), result
    assert "sysctl_profile_path" in result["msg"] and "path" in result["msg"]
    assert "nothing was changed" in result["msg"]
    assert board.snapshot() == before


@pytest.mark.parametrize("path, written", [
    ("/etc/sysctl.d/./99-oom-rock5b.conf", PATH), ("/etc/sysctl.d/../sysctl.d/99-oom-rock5b.conf", PATH),
    ("/usr/local/lib/sysctl.d/60-oom.conf", "/usr/local/lib/sysctl.d/60-oom.conf"),
])
def test_a_path_in_a_sysctl_d_directory_is_normalized(board, run, path, written):
    result = converge(board, lambda: run(path=path))
    assert result["path"] == written and board.read(written) == EXPECTED_FILE


def test_a_directory_at_the_path_fails_clearly_and_changes_nothing(board, run):
    os.makedirs(board.path(PATH))
    before = board.snapshot()
    for check_mode in (True, False):
        result = run(check_mode=check_mode)
        assert result.get("failed"), result
        assert "is a directory" in result["msg"] and "sysctl_profile_path" in result["msg"]
        assert "nothing was changed" in result["msg"]
    assert board.snapshot() == before
    assert os.path.isdir(board.path(PATH))


def test_a_file_where_the_sysctl_d_directory_should_be_fails_clearly(board, run):
    board.write("/etc/sysctl.d", "not a directory\n")
    before = board.snapshot()
    result = run()
    assert result.get("failed") and "/etc/sysctl.d is not a directory" in result["msg"]
    assert board.snapshot() == before


def fail_writes(monkeypatch, code, message):
    # The tests run as root, which writes through a read-only mode: fail the write as a
    # read-only or full /etc would.
    from ansible_collections.rock5b.oom.plugins.module_utils import hostfs

    def refuse(path, text, mode=0o644, owner=None):
        raise hostfs.WriteError(path, OSError(code, message), len(text))

    monkeypatch.setattr(hostfs, "write_durably", refuse)


def test_a_read_only_etc_keeps_the_live_values_and_says_nothing_persisted(board, run, monkeypatch):
    # A read-only root (overlayroot, ro mount) can never hold the file: the live profile is
    # what the operator asked for, so it stays applied until the next boot, and the task fails.
    fail_writes(monkeypatch, errno.EROFS, "Read-only file system")
    board.write(PATH, "vm.panic_on_oom = 1\n")
    result = run()
    assert result.get("failed"), result
    assert "read-only" in result["msg"] and "cannot persist" in result["msg"] and PATH in result["msg"]
    assert "Kept live until the next boot (nothing of it persisted): live vm." in result["msg"]
    assert result["persisted"] is False and "live vm.overcommit_memory" in result["kept_live"]
    assert open(board.path(PATH)).read() == "vm.panic_on_oom = 1\n"
    assert board.live("vm.overcommit_memory") == "2"


def test_a_full_disk_restores_the_live_values_and_names_the_file_and_the_space(board, run, monkeypatch):
    fail_writes(monkeypatch, errno.ENOSPC, "No space left on device")
    board.write(PATH, "vm.panic_on_oom = 1\n")
    before = board.snapshot()
    result = run()
    assert result.get("failed"), result
    assert "no space left on device writing %s: " % board.path(PATH) in result["msg"] and "bytes needed" in result["msg"]
    assert "undone" in result["msg"] and "persisted" not in result
    assert board.snapshot() == before
    assert board.live("vm.overcommit_memory") == "0"


def test_an_override_at_boot_is_boot_drift_naming_file_and_key(board, run):
    board.write("/usr/lib/sysctl.d/99-zz-vendor.conf", "vm.panic_on_oom = 1\n")
    converge(board, run)
    result = run(check_mode=True)
    assert result["changed"] is False
    assert result["boot_drift"] == [
        "vm.panic_on_oom is overridden at boot: /usr/lib/sysctl.d/99-zz-vendor.conf line 1 sets "
        "vm.panic_on_oom = 1 after /etc/sysctl.d/99-oom-rock5b.conf"]


def test_no_override_no_boot_drift(board, run):
    result = converge(board, run)
    assert result["boot_drift"] == []
