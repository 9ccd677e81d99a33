"""rock5b.oom.vm_sysctl on fake boards of both generations: /etc/sysctl.conf is boot drift only
where the board reads it at boot (Debian 12's /etc/sysctl.d/99-sysctl.conf link), and a note
(boot_ignored, a warning) where it does not (Debian 13: no link)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.rock5b.oom.plugins.modules import vm_sysctl

PATH = "/etc/sysctl.d/99-oom-rock5b.conf"
PROFILE = {"vm.oom_dump_tasks": 1, "vm.panic_on_oom": 0}
UNITS = "/usr/lib/systemd/system"


@pytest.fixture
def run(run_module):
    def call(check_mode=False, **args):
        args.setdefault("settings", PROFILE)
        return run_module(vm_sysctl, args, check_mode=check_mode)
    return call


def systemd_board(board):
    """Merged /usr, systemd-sysctl.service, Debian systemd's procps.service alias, procps' script."""
    os.symlink("usr/lib", board.path("/lib"))
    board.write(UNITS + "/systemd-sysctl.service", "[Service]\n")
    os.symlink("systemd-sysctl.service", board.path(UNITS + "/procps.service"))
    board.write("/etc/init.d/procps", "#!/bin/sh\n")
    board.write("/etc/sysctl.conf", "vm.panic_on_oom = 1\n")


@pytest.fixture
def trixie(host_fs):
    systemd_board(host_fs)
    return host_fs


@pytest.fixture
def bookworm(host_fs):
    systemd_board(host_fs)
    os.makedirs(host_fs.path("/etc/sysctl.d"))
    os.symlink("../sysctl.conf", host_fs.path("/etc/sysctl.d/99-sysctl.conf"))
    return host_fs


IGNORED = ("ignored at boot: /etc/sysctl.conf line 1 sets vm.panic_on_oom = 1, but /etc/sysctl.conf is not in "
           "systemd-sysctl's search path on this board: no file in the sysctl.d directories links to it, and "
           "systemd-sysctl.service applies the sysctl.d files; it does not read /etc/sysctl.conf itself")


def test_trixie_sysctl_conf_is_a_note_not_boot_drift(trixie, run):
    first = run()
    assert first["changed"] and not first.get("failed")
    result = run(check_mode=True)  # what audit.yml sees
    assert result["changed"] is False
    assert result["overrides"] == [] and result["boot_drift"] == []
    assert result["boot_ignored"] == [IGNORED]
    assert IGNORED in result["warnings"]
    assert not any("override" in warning for warning in result["warnings"])
    assert result["boot_reader"] == {
        "reader": "systemd-sysctl", "reads_sysctl_conf": False,
        "why": "systemd-sysctl.service applies the sysctl.d files; it does not read /etc/sysctl.conf itself"}


def test_trixie_fail_on_override_converges_despite_the_ignored_file(trixie, run):
    result = run(fail_on_override=True)
    assert not result.get("failed") and result["changed"]
    assert trixie.live("vm.oom_dump_tasks") == "1"


def test_bookworm_sysctl_conf_is_boot_drift_through_its_link(bookworm, run):
    run()
    result = run(check_mode=True)
    assert result["changed"] is False
    assert result["overrides"] == [{
        "path": "/etc/sysctl.d/99-sysctl.conf", "line": 1, "key": "vm.panic_on_oom", "value": "1",
        "reason": "applied after /etc/sysctl.d/99-oom-rock5b.conf, sets vm.panic_on_oom = 1"}]
    assert result["boot_drift"] == [
        "vm.panic_on_oom is overridden at boot: /etc/sysctl.d/99-sysctl.conf line 1 sets vm.panic_on_oom = 1 "
        "after /etc/sysctl.d/99-oom-rock5b.conf"]
    assert result["boot_ignored"] == []
    before = bookworm.snapshot()
    failed = run(fail_on_override=True, settings=dict(PROFILE, **{"vm.oom_dump_tasks": 0}))
    assert failed["failed"] and "/etc/sysctl.d/99-sysctl.conf" in failed["msg"]
    assert bookworm.snapshot() == before


def test_run_and_usr_local_lib_files_are_boot_drift(trixie, run):
    trixie.write("/run/sysctl.d/zz-run.conf", "vm.panic_on_oom = 2\n")
    trixie.write("/usr/local/lib/sysctl.d/zz-local.conf", "vm.oom_dump_tasks = 0\n")
    result = run()
    assert [item["path"] for item in result["overrides"]] == [
        "/usr/local/lib/sysctl.d/zz-local.conf", "/run/sysctl.d/zz-run.conf"]
    assert len(result["boot_drift"]) == 2


def test_masked_vendor_files_are_no_boot_drift(trixie, run):
    trixie.write("/usr/lib/sysctl.d/zz-a.conf", "vm.panic_on_oom = 1\n")
    trixie.write("/usr/lib/sysctl.d/zz-b.conf", "vm.panic_on_oom = 1\n")
    trixie.write("/etc/sysctl.d/zz-a.conf", "# masks the vendor file\n")
    os.symlink("/dev/null", trixie.path("/etc/sysctl.d/zz-b.conf"))
    result = run()
    assert result["overrides"] == [] and result["boot_drift"] == []
