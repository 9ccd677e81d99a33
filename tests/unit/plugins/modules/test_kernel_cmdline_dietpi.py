"""DietPi's /boot/dietpiEnv.txt as a boot file kind of rock5b.oom.kernel_cmdline (dietpi_env): found
by auto, chosen alone by targets, its extraargs= line edited as armbianEnv.txt's, and written the
FAT-safe way on a FAT boot partition."""

from __future__ import annotations

import os

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import hostfs
from ansible_collections.rock5b.oom.plugins.modules import kernel_cmdline

# DietPi's Rock 5B image (a shortened copy of its dietpiEnv.txt)
DIETPI_ENV = (
    "rootdev=UUID=9f8e7d6c-1234-4abc-8def-0123456789ab\n"
    "rootfstype=ext4\n"
    "consoleargs=console=ttyS2,1500000 console=tty1\n"
    "docker_optimizations=off\n"
    "overlay_path=rockchip\n"
    "overlay_prefix=rockchip-rk3588\n"
    "overlays=\n"
    "user_overlays=\n"
    "usbstoragequirks=\n"
    "extraargs=net.ifnames=0\n"
)


@pytest.fixture
def board(host_fs):
    with open(os.path.join(host_fs.proc, "cmdline"), "w") as handle:
        handle.write("root=UUID=9f8e7d6c rootwait net.ifnames=0\n")
    host_fs.write("/boot/dietpiEnv.txt", DIETPI_ENV)
    return host_fs


def test_auto_finds_dietpi_env_and_adds_psi_once(board, run_module):
    result = run_module(kernel_cmdline, {"add": ["psi=1"], "backup": False})
    assert [(f["path"], f["kind"], f["changed"]) for f in result["files"]] == [("/boot/dietpiEnv.txt", "dietpi_env", True)]
    assert board.read("/boot/dietpiEnv.txt") == DIETPI_ENV.replace("extraargs=net.ifnames=0", "extraargs=net.ifnames=0 psi=1")
    assert result["reboot_required"] and result["pending"] == ["psi=1"]
    again = run_module(kernel_cmdline, {"add": ["psi=1"], "backup": False})
    assert again["changed"] is False


def test_check_mode_predicts_the_edit_and_writes_nothing(board, run_module):
    before = board.snapshot()
    predicted = run_module(kernel_cmdline, {"add": ["psi=1"]}, check_mode=True, diff=True)
    assert board.snapshot() == before
    assert predicted["changed"] and predicted["diff"] == [{
        "before_header": "/boot/dietpiEnv.txt", "after_header": "/boot/dietpiEnv.txt", "before": DIETPI_ENV,
        "after": DIETPI_ENV.replace("extraargs=net.ifnames=0", "extraargs=net.ifnames=0 psi=1")}]


def test_a_dietpi_env_without_extraargs_gains_the_line(board, run_module):
    board.write("/boot/dietpiEnv.txt", "rootfstype=ext4\nusbstoragequirks=")
    run_module(kernel_cmdline, {"add": ["psi=1"], "targets": ["dietpi_env"], "backup": False})
    assert board.read("/boot/dietpiEnv.txt") == "rootfstype=ext4\nusbstoragequirks=\nextraargs=psi=1\n"


def test_targets_dietpi_env_leaves_the_other_boot_files_alone(board, run_module):
    board.write("/boot/armbianEnv.txt", "extraargs=cma=256M\n")
    result = run_module(kernel_cmdline, {"add": ["psi=1"], "targets": ["dietpi_env"], "backup": False})
    assert [f["path"] for f in result["files"]] == ["/boot/dietpiEnv.txt"]
    assert board.read("/boot/armbianEnv.txt") == "extraargs=cma=256M\n"
    both = run_module(kernel_cmdline, {"add": ["psi=1"], "backup": False})
    assert [(f["kind"], f["changed"]) for f in both["files"]] == [("armbian_env", True), ("dietpi_env", False)]


def test_a_dietpi_env_linked_out_of_boot_is_refused_and_nothing_changes(board, run_module):
    board.write("/etc/dietpiEnv.txt", DIETPI_ENV)
    os.unlink(board.path("/boot/dietpiEnv.txt"))
    os.symlink("../etc/dietpiEnv.txt", board.path("/boot/dietpiEnv.txt"))
    board.write("/etc/kernel/cmdline", "root=/dev/mmcblk0p2\n")
    before = board.snapshot()
    result = run_module(kernel_cmdline, {"add": ["psi=1"]})
    assert result.get("failed") and "/boot/dietpiEnv.txt" in result["msg"] and "outside /boot" in result["msg"], result
    assert board.snapshot() == before


def test_an_unclosed_quote_in_extraargs_is_refused(board, run_module):
    board.write("/boot/dietpiEnv.txt", 'extraargs=dyndbg="file foo.c\n')
    before = board.snapshot()
    result = run_module(kernel_cmdline, {"add": ["psi=1"], "targets": ["dietpi_env"]})
    assert result.get("failed") and "/boot/dietpiEnv.txt" in result["msg"] and "quote" in result["msg"], result
    assert board.snapshot() == before


def test_on_fat_dietpi_env_is_replaced_the_fat_safe_way(board, run_module, monkeypatch):
    replaced, real = [], hostfs.replace_on_fat

    def recording(path, text):
        replaced.append(path)
        return real(path, text)

    monkeypatch.setattr(hostfs, "fs_type", lambda path: hostfs.MSDOS_SUPER_MAGIC)
    monkeypatch.setattr(hostfs, "replace_on_fat", recording)
    result = run_module(kernel_cmdline, {"add": ["psi=1"]})
    assert not result.get("failed"), result
    assert board.path("/boot/dietpiEnv.txt") in replaced
    after = DIETPI_ENV.replace("extraargs=net.ifnames=0", "extraargs=net.ifnames=0 psi=1")
    assert board.read("/boot/dietpiEnv.txt") == after
    # replace_on_fat keeps the old version as <file>.bak; the backup's name has no ':' (FAT refuses it)
    assert board.read("/boot/dietpiEnv.txt.bak") == DIETPI_ENV
    backup = result["files"][0]["backup_file"]
    assert ":" not in os.path.basename(backup) and open(backup).read() == DIETPI_ENV
    assert not os.path.exists(board.path("/boot/dietpiEnv.txt.new"))
