"""Behaviour of rock5b.oom.kernel_cmdline on fake boot trees."""

from __future__ import annotations

import os

import pytest

from ansible_collections.rock5b.oom.plugins.modules import kernel_cmdline

ARMBIAN_ENV = "verbosity=1\noverlay_prefix=rockchip-rk3588\nextraargs=cma=256M\n"


@pytest.fixture
def board(host_fs):
    fake_host = host_fs
    with open(os.path.join(fake_host.proc, "cmdline"), "w") as handle:
        handle.write("root=UUID=1234 rootwait extraargs cma=256M\n")
    fake_host.write("/boot/armbianEnv.txt", ARMBIAN_ENV)
    return fake_host


def test_adds_psi_idempotently_with_a_backup(board, run_module):
    result = run_module(kernel_cmdline, {"add": ["psi=1"]})
    assert result["changed"] and result["reboot_required"] and result["pending"] == ["psi=1"]
    assert board.read("/boot/armbianEnv.txt") == ARMBIAN_ENV.replace("cma=256M", "cma=256M psi=1")
    backup = result["files"][0]["backup_file"]
    assert backup and open(backup).read() == ARMBIAN_ENV
    again = run_module(kernel_cmdline, {"add": ["psi=1"]})
    assert again["changed"] is False and again["reboot_required"] is True


def test_check_mode_predicts_and_writes_nothing(board, run_module):
    before = board.snapshot()
    predicted = run_module(kernel_cmdline, {"add": ["psi=1"]}, check_mode=True, diff=True)
    assert board.snapshot() == before
    assert predicted["changed"] and predicted["diff"][0]["after"].endswith("cma=256M psi=1\n")
    real = run_module(kernel_cmdline, {"add": ["psi=1"], "backup": False})
    assert real["files"] == predicted["files"]
    assert real["changed"] == predicted["changed"]


def test_every_known_file_is_edited(board, run_module):
    board.write("/boot/extlinux/extlinux.conf", "label l0\n  append root=/dev/mmcblk0p2 psi=0\n")
    board.write("/etc/kernel/cmdline", "root=/dev/mmcblk0p2\n")
    result = run_module(kernel_cmdline, {"add": ["psi=1"], "backup": False})
    assert [(f["kind"], f["changed"]) for f in result["files"]] == [
        ("extlinux", True), ("armbian_env", True), ("kernel_cmdline", True)]
    assert board.read("/boot/extlinux/extlinux.conf").endswith("append root=/dev/mmcblk0p2 psi=1\n")
    assert board.read("/etc/kernel/cmdline") == "root=/dev/mmcblk0p2 psi=1\n"


def test_no_reboot_needed_when_running_kernel_has_it(board, run_module):
    with open(os.path.join(board.proc, "cmdline"), "w") as handle:
        handle.write("root=UUID=1234 psi=1\n")
    result = run_module(kernel_cmdline, {"add": ["psi=1"]})
    assert result["reboot_required"] is False


@pytest.mark.parametrize("args, message", [
    ({"add": ["psi=1 quiet"]}, "single words"),
    ({"add": ["psi=1"], "remove": ["psi=1"]}, "both added and removed"),
    ({}, "nothing to do"),
])
def test_bad_arguments_change_nothing(board, run_module, args, message):
    before = board.snapshot()
    result = run_module(kernel_cmdline, args)
    assert result["failed"] and message in result["msg"]
    assert board.snapshot() == before


def test_no_boot_files_is_a_clear_failure(host_fs, run_module):
    result = run_module(kernel_cmdline, {"add": ["psi=1"]})
    assert result["failed"] and "/boot/armbianEnv.txt" in result["msg"]


def test_a_boot_file_keeps_its_mode_and_no_temporary_file_is_left(board, run_module):
    os.chmod(board.path("/boot/armbianEnv.txt"), 0o600)
    run_module(kernel_cmdline, {"add": ["psi=1"], "backup": False})
    assert os.stat(board.path("/boot/armbianEnv.txt")).st_mode & 0o777 == 0o600
    assert os.listdir(board.path("/boot")) == ["armbianEnv.txt"]


def test_unreadable_proc_cmdline_fails_before_any_write(board, run_module):
    os.unlink(os.path.join(board.proc, "cmdline"))
    before = board.snapshot()
    result = run_module(kernel_cmdline, {"add": ["psi=1"]})
    assert result["failed"] and "cmdline" in result["msg"] and board.snapshot() == before
